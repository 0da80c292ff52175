"""The validator's health above the leads table, and "Re-verify", against a real validator and resolver.

This module runs its own stack (NATS, database, the services and a validator): a validator on the session's
stream would verify every other test's leads. Its resolver is a dnslib server the test breaks and fixes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from dnslib.server import DNSServer
from playwright.sync_api import Page, expect

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from tests.browser.conftest import screenshot
from tests.browser.seed import create_campaign, import_csv
from tests.harness import ServiceStack, temporary_nats
from tests.peers.fakedns import start as start_dns
from tests.peers.fakedns import stop as stop_dns
from tests.peers.fakedns import zone_of
from tests.stack_fixtures import create_workspace_key

CANARY = "posta-overena.cz"
ZONE = f"""
{CANARY}.      0 IN MX 10 mx.{CANARY}.
mx.{CANARY}.   0 IN A 127.0.0.2
bez-posty.cz.  0 IN MX 0 .
"""
ADDRESSES = ["jana@bez-posty.cz", "petr@bez-posty.cz", "eva@bez-posty.cz"]


@pytest.fixture(scope="module")
def dns() -> Iterator[DNSServer]:
    server, _ = start_dns(ZONE)
    try:
        yield server
    finally:
        stop_dns(server)


@pytest.fixture(scope="module")
def stack(fresh_database_url_session: Callable[[], str], dns: DNSServer) -> Iterator[ServiceStack]:
    with temporary_nats() as nats_server:
        own = ServiceStack(nats=nats_server, database_url=fresh_database_url_session())
        try:
            migrations.upgrade(own.database_url, MIGRATED_SERVICES)
            own.start("sequencer", "importer", "gateway")
            own.add(
                "validator",
                LEADFLOW_DNS_NAMESERVERS=f"127.0.0.1:{dns.server.server_address[1]}",
                LEADFLOW_DNS_TIMEOUT_SECONDS="0.5",
                LEADFLOW_VALIDATOR_DNS_CANARIES=CANARY,
                LEADFLOW_VALIDATOR_DNS_CANARY_INTERVAL_SECONDS="0.5",
                LEADFLOW_VALIDATOR_CACHE_TTL_SECONDS="0",
            ).start()
            yield own
        finally:
            own.stop()


@pytest.fixture(scope="module")
def api_key(stack: ServiceStack) -> str:
    return create_workspace_key(stack, "Validator UI")


def timeline_types(api: httpx.Client, lead_id: str) -> list[tuple[str, int]]:
    timeline = api.get(f"/api/v1/leads/{lead_id}").json()["timeline"]
    return [
        (entry["summary"]["reason"], entry["summary"]["run"])
        for entry in timeline
        if entry["type"] == "lead_validated"
    ]


def test_a_broken_resolver_shows_its_reason_above_the_table_and_re_verify_runs_again(
    page: Page, api: httpx.Client, dns: DNSServer
) -> None:
    zone_of(dns).behaviour = "nxdomain"
    campaign_id = create_campaign(api, "Held by DNS")
    import_csv(api, campaign_id, "email\n" + "\n".join(ADDRESSES) + "\n", {"email": "email"})
    page.goto(f"/#/campaigns/{campaign_id}")

    banner = page.get_by_role("alert")
    expect(banner).to_have_text(
        "Verification is paused. Resolver answers NXDOMAIN for known domains. "
        "Leads wait instead of getting a verdict, and are verified once it recovers.",
        timeout=30_000,
    )
    expect(page.locator("#validation-summary")).to_contain_text("3held", timeout=30_000)
    screenshot(page, "leads-table-validator-paused")

    # Held leads wait for a verdict; there is nothing to check again yet.
    expect(page.get_by_role("button", name="Re-verify…")).to_be_disabled()

    zone_of(dns).behaviour = "zone"
    expect(page.locator("#validator-banner")).to_have_count(0, timeout=30_000)
    expect(page.locator("#validation-summary")).to_contain_text("3invalid", timeout=30_000)

    page.get_by_role("button", name="Re-verify…").click()
    dialog = page.get_by_role("dialog", name="Re-verify addresses")
    dialog.get_by_label("Domain takes no mail (3)").check()
    expect(dialog.get_by_label("Only leads whose last check ended with:")).to_be_checked()
    dialog.get_by_role("button", name="Re-verify").click()
    expect(dialog.locator("#reverify-result")).to_have_text("3 leads queued for re-verification.")

    leads = api.get(f"/api/v1/campaigns/{campaign_id}/leads").json()["items"]
    deadline = time.monotonic() + 30
    while any(timeline_types(api, lead["id"]) != [("null_mx", 0), ("null_mx", 1)] for lead in leads):
        assert time.monotonic() < deadline, [timeline_types(api, lead["id"]) for lead in leads]
        time.sleep(0.2)
    dialog.get_by_role("button", name="Done").click()
    page.get_by_role("button", name=ADDRESSES[0]).click()
    timeline = page.locator("#lead-drawer").get_by_role("list", name="Timeline").locator(":scope > li .what")
    expect(timeline).to_have_text(
        [
            "Imported: from row 1 of its import",
            "Invalid address: the domain declares that it accepts no mail — marked Invalid",
            "Re-verified: the domain declares that it accepts no mail — marked Invalid",
        ]
    )
