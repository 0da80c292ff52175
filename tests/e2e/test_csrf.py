"""The session cookie changes data only for pages of the gateway's own origin; API keys are unaffected."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.gateway.auth import FOREIGN_ORIGIN, MISSING_ORIGIN
from tests.harness import ServiceStack


@pytest.fixture
def browser(stack: ServiceStack, api_key: str) -> Iterator[httpx.Client]:
    """A client signed in as the web UI is: the session cookie, no Authorization header."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        signed_in = client.post(
            "/ui/session", json={"api_key": api_key}, headers={"Origin": stack.gateway_url}
        )
        assert signed_in.status_code == 204, signed_in.text
        assert client.cookies.get("leadflow_session")
        yield client


def campaign_names(stack: ServiceStack, api_key: str) -> list[str]:
    listed = httpx.get(
        f"{stack.gateway_url}/api/v1/campaigns", headers={"Authorization": f"Bearer {api_key}"}
    )
    return [c["name"] for c in listed.json()]


def other_scheme(url: str) -> str:
    return url.replace("http://", "https://", 1)


def other_port(url: str) -> str:
    host, port = url.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        (None, MISSING_ORIGIN),
        (other_scheme, FOREIGN_ORIGIN.split("{")[0]),
        (other_port, FOREIGN_ORIGIN.split("{")[0]),
        (lambda url: url.replace("127.0.0.1", "localhost"), FOREIGN_ORIGIN.split("{")[0]),
        (lambda url: "https://evil.example", FOREIGN_ORIGIN.split("{")[0]),
        (lambda url: "null", FOREIGN_ORIGIN.split("{")[0]),
    ],
    ids=["missing", "other-scheme", "other-port", "other-host", "other-site", "null"],
)
def test_a_cookie_state_change_from_elsewhere_is_refused(
    browser: httpx.Client, stack: ServiceStack, api_key: str, origin: object, message: str
) -> None:
    headers = {} if origin is None else {"Origin": origin(stack.gateway_url)}  # type: ignore[operator]
    name = f"forged {origin and headers['Origin']}"
    refused = browser.post("/api/v1/campaigns", json={"name": name}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith(message)
    assert name not in campaign_names(stack, api_key)
    # Signing out is a state change too: refused, and the session still works.
    assert browser.delete("/ui/session", headers=headers).status_code == 403
    assert browser.get("/api/v1/campaigns").status_code == 200
    # And so is signing in (another workspace's key planted in the victim's browser).
    planted = httpx.post(f"{stack.gateway_url}/ui/session", json={"api_key": api_key}, headers=headers)
    assert planted.status_code == 403 and "leadflow_session" not in planted.cookies


def test_the_pages_own_origin_may_change_data_and_sign_out(
    browser: httpx.Client, stack: ServiceStack
) -> None:
    own = {"Origin": stack.gateway_url}
    created = browser.post("/api/v1/campaigns", json={"name": "From the page"}, headers=own)
    assert created.status_code == 201, created.text
    # Reading needs no Origin (browsers omit it on same-origin GETs).
    assert "From the page" in [c["name"] for c in browser.get("/api/v1/campaigns").json()]
    assert browser.delete("/ui/session", headers=own).status_code == 204
    assert browser.get("/api/v1/campaigns").status_code == 401


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_api_key_requests_need_no_origin(stack: ServiceStack, api_key: str, origin: str | None) -> None:
    headers = {"Authorization": f"Bearer {api_key}", **({"Origin": origin} if origin else {})}
    created = httpx.post(
        f"{stack.gateway_url}/api/v1/campaigns", json={"name": f"By key {origin}"}, headers=headers
    )
    assert created.status_code == 201, created.text
