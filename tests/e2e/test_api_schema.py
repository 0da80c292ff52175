"""Every operation of the API, fuzzed by schemathesis against the running stack: no answer is a server
error (5xx), and every answer has a status, a content type and a body the OpenAPI document declares.

The cases are generated from the document the gateway serves, valid and invalid ones, a bounded number
per operation. Path ids are random, which mostly gives 404s; so that the answers of real resources are
checked too (including every server-sent event stream), each path id also has a real one of its own
workspace as its example. An event stream is read up to its first event (`max-stream-events`): the
leads' and the Unibox's live streams never end by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import create_workspace_key
from tests.harness import ServiceStack

# Generated cases per operation (the fuzzing phase; the examples and coverage phases add their own): 31
# operations take well under a minute and a half on a two-core machine.
MAX_EXAMPLES = 15
# No server error, and the answer as documented: its status, its content type and its body's schema.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The e2e stack runs no validator (the tests publish its verdicts themselves), so asking it to re-verify
# a real campaign has no one to answer: its documented 503 is the right answer here.
# Likewise a preview of one of the fuzzer's leads while the stack's sequencer does not answer
# `preview_sequence` (built with the sequencer's sending; its answer is then checked like any other).
WITHOUT_RESPONDER = {
    ("POST", "/api/v1/campaigns/{campaign_id}/validation/rerun"): {503},
    ("POST", "/api/v1/campaigns/{campaign_id}/preview"): {503},
}
# The server-sent event streams: each must have been opened (on the fuzzer's own import or campaign) and read.
EVENT_STREAMS = (
    "/api/v1/imports/{import_id}/events",
    "/api/v1/campaigns/{campaign_id}/leads/events",
    "/api/v1/inbox/stream",
)


def _own_resources(stack: ServiceStack, key: str) -> dict[str, str]:
    """A campaign with two imported leads, its import, one lead and a bulk job, and a suppressed address,
    all in a workspace of the fuzzer's own (so nothing it does reaches another test's data)."""
    with httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        campaign_id = http.post("/api/v1/campaigns", json={"name": "Fuzzed"}).json()["id"]
        started = http.post(
            f"/api/v1/campaigns/{campaign_id}/imports",
            files={"file": ("fuzz.csv", b"email,note\nana@firma.cz,a\nbob@firma.cz,b\n", "text/csv")},
            data={"mapping": '{"email": "email"}'},
        )
        assert started.status_code == 202, started.text
        import_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            leads = http.get(f"/api/v1/campaigns/{campaign_id}/leads").json()["items"]
            if len(leads) == 2 and http.get(f"/api/v1/imports/{import_id}").json()["state"] != "running":
                break
            assert time.monotonic() < deadline, f"the fuzzer's leads were not listed: {leads}"
            time.sleep(0.2)
        job = http.post(
            f"/api/v1/campaigns/{campaign_id}/leads/bulk",
            json={"action": "set_status", "status": "completed", "ids": [leads[0]["id"]]},
        )
        assert job.status_code == 202, job.text
        suppressed = http.post("/api/v1/suppressions", json={"email": "gone@firma.cz"})
        assert suppressed.status_code == 201, suppressed.text
    return {
        "campaign_id": campaign_id,
        "import_id": import_id,
        "lead_id": leads[1]["id"],
        "job_id": job.json()["id"],
        "email": "gone@firma.cz",
    }


def _with_examples(document: dict[str, Any], examples: dict[str, str]) -> dict[str, Any]:
    for methods in document["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
    return document


@pytest.fixture(scope="module")
def fuzzer_key(stack: ServiceStack) -> str:
    return create_workspace_key(stack, "Schemathesis")


@pytest.fixture
def api_schema(stack: ServiceStack, fuzzer_key: str) -> Iterator[BaseSchema]:
    document = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).json()
    config = schemathesis.Config.from_dict(
        {
            "base-url": stack.gateway_url,
            "headers": {"Authorization": f"Bearer {fuzzer_key}"},
            "request-timeout": 20,
            "max-stream-events": 1,
            "generation": {"max-examples": MAX_EXAMPLES},
        }
    )
    yield schemathesis.openapi.from_dict(
        _with_examples(document, _own_resources(stack, fuzzer_key)), config=config
    )


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's `from_fixture` reads and renames `request.node._nodeid` (to label each
    operation's subtest), an attribute pytest 9.2 no longer has: give it one to work with."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture
def streams_read() -> Iterator[set[str]]:
    """The event streams of the fuzzer's own resources that answered and were read; by the end, each."""
    read: set[str] = set()
    yield read
    assert read == set(EVENT_STREAMS), "an event stream of a real resource was never fuzzed"


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_without_a_server_error_and_as_its_schema_says(
    case: Case[Any], streams_read: set[str]
) -> None:
    response = case.call()
    if response.status_code in WITHOUT_RESPONDER.get((case.method.upper(), case.path), set()):
        case.validate_response(response, checks=[response_schema_conformance])
        return
    case.validate_response(response, checks=CHECKS)
    if case.path in EVENT_STREAMS and response.status_code == 200:
        # A stream of the fuzzer's own campaign or import, open: its first event was read.
        assert response.headers["content-type"][0].startswith("text/event-stream")
        assert b"\ndata: " in b"\n" + response.content, response.content[:200]
        streams_read.add(case.path)
