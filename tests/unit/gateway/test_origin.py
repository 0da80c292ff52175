"""The origin check that keeps the session cookie from authorising another site's requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.auth import (
    FOREIGN_ORIGIN,
    MISSING_ORIGIN,
    Origin,
    cookie_is_secure,
    origin_refusal,
    request_origin,
)

HERE = Origin("http", "127.0.0.1", 8000)
PUBLIC = Origin("https", "leads.example.com", 443)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8000", HERE),
        ("HTTP://127.0.0.1:8000/", HERE),
        ("https://Leads.Example.com", PUBLIC),
        ("https://leads.example.com:443", PUBLIC),
        ("https://leads.example.com./app?x=1", PUBLIC),
        ("http://leads.example.com", Origin("http", "leads.example.com", 80)),
        ("http://[::1]:8000", Origin("http", "::1", 8000)),
        ("null", None),
        ("", None),
        ("leads.example.com", None),
        ("ftp://leads.example.com", None),
        ("http://", None),
        ("http://127.0.0.1:99999", None),
        ("http://127.0.0.1:port", None),
    ],
)
def test_an_origin_is_scheme_host_and_port(url: str, origin: Origin | None) -> None:
    assert Origin.parse(url) == origin


@pytest.mark.parametrize(
    ("header", "expected", "refused"),
    [
        ("http://127.0.0.1:8000", HERE, None),
        ("http://127.0.0.1:8000/", HERE, None),
        (None, HERE, MISSING_ORIGIN),
        ("https://127.0.0.1:8000", HERE, "foreign"),  # another scheme
        ("http://127.0.0.1:8001", HERE, "foreign"),  # another port
        ("http://127.0.0.1", HERE, "foreign"),  # the default port is another port
        ("http://localhost:8000", HERE, "foreign"),  # another host name for the same machine
        ("http://127.0.0.1.evil.example:8000", HERE, "foreign"),
        ("null", HERE, "foreign"),  # a sandboxed frame or a redirect chain
        ("", HERE, "foreign"),
        ("https://leads.example.com", PUBLIC, None),
        ("http://leads.example.com", PUBLIC, "foreign"),
        ("http://127.0.0.1:8000", PUBLIC, "foreign"),  # the public URL is the only origin then
        ("http://127.0.0.1:8000", None, "foreign"),  # no Host header: nothing to compare with
    ],
)
def test_only_the_expected_origin_may_change_data_with_the_cookie(
    header: str | None, expected: Origin | None, refused: str | None
) -> None:
    refusal = origin_refusal(header, expected)
    if refused == "foreign":
        assert refusal is not None and refusal.startswith(FOREIGN_ORIGIN.split("{")[0])
    else:
        assert refusal == refused


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){0,2}", fullmatch=True),
    port=st.integers(min_value=1, max_value=65535),
)
def test_an_origin_matches_itself_as_a_browser_writes_it(scheme: str, host: str, port: int) -> None:
    origin = Origin(scheme, host, port)
    assert Origin.parse(str(origin)) == origin
    assert origin_refusal(str(origin), origin) is None
    assert request_origin(scheme, host if str(origin).count(":") == 1 else f"{host}:{port}") == origin


@pytest.mark.parametrize(
    ("public_url", "scheme", "secure"),
    [
        (None, "http", False),
        (None, "https", True),
        ("https://leads.example.com", "http", True),  # TLS ends at a proxy
        ("http://leads.example.com", "http", False),
        ("http://127.0.0.1:8000", "https", True),
    ],
)
def test_the_cookie_is_secure_when_users_reach_the_gateway_over_https(
    public_url: str | None, scheme: str, secure: bool
) -> None:
    assert cookie_is_secure(public_url, scheme) is secure
