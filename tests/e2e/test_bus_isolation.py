"""Tenant isolation does not stop at the HTTP layer: with the stack running, a process that reaches NATS
gets a workspace's data only through the gateway, with that workspace's API key (issue 11)."""

from __future__ import annotations

import json

import httpx
import nats
import nats.errors
import pytest

from contracts import subjects
from tests.e2e.conftest import create_workspace_key
from tests.harness import INTRUDER, ServiceStack

LIST_SUPPRESSIONS = subjects.command_subject("importer", "list_suppressions")


async def _workspace_with_a_suppression(client: httpx.AsyncClient) -> str:
    added = await client.post("/api/v1/suppressions", json={"email": "secret@firma.cz", "reason": "asked us"})
    assert added.status_code == 201, added.text
    workspace = await client.get("/api/v1/workspace")
    assert workspace.status_code == 200, workspace.text
    workspace_id: str = workspace.json()["id"]
    return workspace_id


async def test_a_workspace_list_is_served_to_its_api_key_and_to_no_bare_nats_client(
    stack: ServiceStack,
) -> None:
    key = create_workspace_key(stack, "Bus isolation")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        workspace_id = await _workspace_with_a_suppression(client)
        await _only_the_gateway_serves(client, stack, workspace_id)


async def _only_the_gateway_serves(client: httpx.AsyncClient, stack: ServiceStack, workspace_id: str) -> None:
    command = json.dumps({"workspace_id": workspace_id, "limit": 50}).encode()

    # The command is right: a client the bus lets through (the test suite's own) gets the list ...
    trusted = await nats.connect(stack.nats_url)
    try:
        reply = await trusted.request(LIST_SUPPRESSIONS, command, timeout=10)
        assert "secret@firma.cz" in reply.data.decode()
    finally:
        await trusted.close()

    # ... a process on the host without credentials is not even connected ...
    for credentials in ({}, {"user": "importer", "password": "guessed"}, {"user": "nobody", "password": "x"}):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(
                stack.nats.url, name=INTRUDER, allow_reconnect=False, connect_timeout=3, **credentials
            )

    # ... and a service whose credentials leaked gets nothing of another service's commands.
    for user in ("validator", "sequencer", "importer"):
        refused: list[Exception] = []

        async def note(error: Exception, refused: list[Exception] = refused) -> None:
            refused.append(error)

        intruder = await nats.connect(
            stack.nats.url,
            name=INTRUDER,
            user=user,
            password=stack.nats.credentials.password(user),
            inbox_prefix=f"_INBOX.{user}",
            error_cb=note,
        )
        try:
            with pytest.raises(nats.errors.TimeoutError):
                await intruder.request(LIST_SUPPRESSIONS, command, timeout=2)
            # The importer may serve its commands, never send them (nor read the gateway's replies).
            await intruder.subscribe("_INBOX.gateway.>")
            await intruder.flush()
        finally:
            await intruder.close()
        assert any("permissions violation" in str(e) for e in refused), (user, refused)

    # The gateway still serves the list, through HTTP, to the workspace's key.
    listed = await client.get("/api/v1/suppressions")
    assert listed.status_code == 200, listed.text
    assert [item["email"] for item in listed.json()["items"]] == ["secret@firma.cz"]
