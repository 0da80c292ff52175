"""With LEADFLOW_PUBLIC_URL, the session cookie is Secure and only that origin may use it to change data."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.auth import FOREIGN_ORIGIN, create_workspace
from services.runtime.db import session_factory
from services.runtime.settings import Settings

PUBLIC = "https://leads.example.com"


async def test_behind_a_tls_proxy_the_cookie_is_secure_and_bound_to_the_public_origin(
    migrated_database_url: str, nats_url: str
) -> None:
    engine = create_async_engine(migrated_database_url)
    async with session_factory(engine)() as session, session.begin():
        key = (await create_workspace(session, "Behind a proxy")).key
    await engine.dispose()
    app = create_app(Settings(nats_url=nats_url, database_url=migrated_database_url, public_url=PUBLIC))
    # The proxy speaks plain http to the gateway, under another host name.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.internal:8000"
    ) as client:
        own = await client.post(
            "/ui/session", json={"api_key": key}, headers={"Origin": "http://gateway.internal:8000"}
        )
        assert own.status_code == 403 and own.json()["detail"].startswith(FOREIGN_ORIGIN.split("{")[0])
        assert PUBLIC in own.json()["detail"]

        signed_in = await client.post("/ui/session", json={"api_key": key}, headers={"Origin": PUBLIC})
        assert signed_in.status_code == 204, signed_in.text
        cookie = signed_in.headers["set-cookie"]
        assert "leadflow_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie

        signed_out = await client.delete(
            "/ui/session", headers={"Origin": PUBLIC, "Cookie": cookie.split(";", 1)[0]}
        )
        assert signed_out.status_code == 204
        assert "Secure" in signed_out.headers["set-cookie"]
    await app.state.service.engine.dispose()


def test_a_public_url_that_is_not_an_origin_is_refused_at_start() -> None:
    for bad in ("leads.example.com", "ftp://leads.example.com", "https://leads.example.com:99999"):
        try:
            Settings(public_url=bad)
        except ValueError as exc:
            assert "LEADFLOW_PUBLIC_URL" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
