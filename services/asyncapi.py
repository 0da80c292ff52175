"""The AsyncAPI document of every subject, generated from the services' FastStream brokers.

`leadflow asyncapi --output docs/asyncapi.json` regenerates the checked-in copy; a test fails when that
copy is stale, so external consumers can trust it. It builds every service's broker, so it lives beside
the command line, where the services are composed, not in the runtime they all share.
"""

from __future__ import annotations

import json

from faststream.specification import AsyncAPI

from services.gateway.app import create_service as gateway
from services.importer.app import create_service as importer
from services.runtime.settings import Settings
from services.sequencer.app import create_service as sequencer
from services.validator.app import create_service as validator

DOCUMENT_PATH = "docs/asyncapi.json"


def render() -> str:
    settings = Settings(nats_url=None, database_url=None)
    brokers = [
        factory(settings, for_docs=True).broker for factory in (gateway, importer, sequencer, validator)
    ]
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
