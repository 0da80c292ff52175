"""The gateway signs and verifies unsubscribe links with LEADFLOW_SECRET_KEY: without it, it refuses to
start, saying how to set it; building its app (for the OpenAPI document) needs none."""

from __future__ import annotations

import pytest

from services.gateway.app import create_app
from services.runtime.secrets import SECRET_KEY_ENV, SecretKeyMissing
from services.runtime.settings import Settings

NOWHERE = Settings(
    nats_url="nats://127.0.0.1:1", database_url="postgresql+psycopg://x@127.0.0.1:1/x", secret_key=None
)


async def test_the_gateway_refuses_to_start_without_the_secret_key_and_says_how_to_set_it() -> None:
    app = create_app(NOWHERE)
    assert "/api/v1/campaigns/{campaign_id}/analytics" in app.openapi()["paths"]
    with pytest.raises(SecretKeyMissing, match=SECRET_KEY_ENV):
        async with app.router.lifespan_context(app):
            pass
