"""The AsyncAPI document of every subject, generated from the services' FastStream brokers.

`leadflow asyncapi --output docs/asyncapi.json` regenerates the checked-in copy; a test fails when that
copy is stale, so external consumers can trust it. It builds the broker of every service of the
composition root (`services.composition.SERVICES`), so it lives beside it, not in the runtime they all share.
"""

from __future__ import annotations

import importlib
import json

from faststream.specification import AsyncAPI

from services.composition import SERVICES
from services.runtime.settings import Settings

DOCUMENT_PATH = "docs/asyncapi.json"


def render() -> str:
    settings = Settings(nats_url=None, database_url=None)
    # Every service's `app` module has `create_service(settings, for_docs=...)`.
    factories = [importlib.import_module(f"{service.module}.app").create_service for service in SERVICES]
    brokers = [factory(settings, for_docs=True).broker for factory in factories]
    spec = AsyncAPI(
        *brokers,
        title="Leadflow events",
        version="1",
        description=(
            "Events travel on `leadflow.<workspace_id>.<event_type>` in the JetStream stream LEADFLOW; "
            "commands use request/reply on `leadflow.cmd.<service>.<verb>`."
        ),
        schema_version="3.0.0",
    )
    document = json.loads(spec.to_specification().to_json())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
