"""The checked-in AsyncAPI document matches what the services' FastStream apps declare."""

from __future__ import annotations

import json
from pathlib import Path

from services.asyncapi import DOCUMENT_PATH, render

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_asyncapi_is_current() -> None:
    current = render()
    checked_in = (ROOT / DOCUMENT_PATH).read_text()
    assert checked_in == current, "docs/asyncapi.json is stale: run `make asyncapi` and commit it"


def test_asyncapi_documents_every_published_event_with_its_schema() -> None:
    document = json.loads(render())
    addresses = {channel["address"] for channel in document["channels"].values()}
    for event_type in ("lead_imported", "import_completed", "campaign_created"):
        assert f"leadflow.{{workspace_id}}.{event_type}" in addresses
    assert "leadflow-progress.{import_id}" in addresses
    assert "leadflow.cmd.importer.start_import" in addresses
    assert "leadflow.*.*" in addresses  # the lead_view projection consumes everything
    schemas = document["components"]["schemas"]
    assert any("LeadImported" in name for name in schemas)
