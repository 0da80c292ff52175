"""The NATS users of the composition root: what each may do follows from what its code does, no more."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from faststream.nats.subscriber.usecases.basic import LogicSubscriber

from contracts import subjects
from services.composition import BUS_USERS, bus_grants
from services.gateway.app import create_service as gateway
from services.importer.app import create_service as importer
from services.inbox.app import create_service as inbox
from services.mailer.app import create_service as mailer
from services.runtime.bus_users import (
    CLI_USER,
    BusCredentials,
    BusUser,
    authorization_config,
    grant,
    inbox_prefix,
)
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.sequencer.app import create_service as sequencer
from services.validator.app import create_service as validator

ROOT = Path(__file__).resolve().parents[2]
FACTORIES: dict[str, Callable[..., Service]] = {
    "gateway": gateway,
    "importer": importer,
    "inbox": inbox,
    "mailer": mailer,
    "sequencer": sequencer,
    "validator": validator,
}
USERS = {user.name: user for user in BUS_USERS}


def _built(name: str) -> Service:
    return FACTORIES[name](Settings(nats_url=None, database_url=None), for_docs=True)


def test_every_service_that_runs_has_a_user_and_every_user_a_service() -> None:
    services = {path.parent.name for path in (ROOT / "services").glob("*/__main__.py")}
    assert set(USERS) == services == set(FACTORIES)
    assert set(bus_grants()) == {*services, CLI_USER}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_user_consumes_through_exactly_its_services_durables(name: str) -> None:
    service = _built(name)
    expected = {
        durable: tuple(subjects.workspace_filter(t) for t in types) or tuple(subjects.STREAM_SUBJECTS)
        for durable, types in USERS[name].durables.items()
    }
    assert {consumer.durable: consumer.filters for consumer in service.consumers} == expected


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_user_publishes_exactly_the_events_its_service_emits(name: str) -> None:
    service = _built(name)
    stored = {e.model_fields["event_type"].default for e in service.emitted if not e.ephemeral}
    assert stored == set(USERS[name].emits)
    # Each ephemeral event's subject, its variable part a wildcard, is what the user may announce.
    announced = {re.sub(r"\{\w+\}", "*", e.announced_on) for e in service.emitted if e.ephemeral}
    assert announced == set(USERS[name].announces)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_user_serves_exactly_its_services_commands(name: str) -> None:
    service = _built(name)
    served = [
        sub.subject.broker_address for sub in service.broker.subscribers if isinstance(sub, LogicSubscriber)
    ]
    commands = {subject for subject in served if subject.startswith("leadflow.cmd.")}
    assert all(c.startswith(f"leadflow.cmd.{name}.") for c in commands), commands
    assert bool(commands) == USERS[name].serves_commands


def test_the_gateway_may_command_exactly_the_services_it_asks() -> None:
    asked = set()
    for path in (ROOT / "services" / "gateway").rglob("*.py"):
        # ask(service, "<verb>", "<target>", …)
        asked |= set(re.findall(r'\bask\(\s*[^,]+,\s*"\w+",\s*"(\w+)"', path.read_text()))
    assert asked == set(USERS["gateway"].commands)


@pytest.mark.parametrize("user", [u for u in BUS_USERS if u.name != "gateway"], ids=lambda u: u.name)
def test_a_service_may_command_exactly_the_services_it_asks(user: BusUser) -> None:
    asked = set()
    for path in (ROOT / "services" / user.name).rglob("*.py"):
        # service.ask("<target>", "<verb>", …) or subjects.command_subject("<target>", "<verb>")
        asked |= set(re.findall(r'(?:\bcommand_subject|\.ask)\(\s*"(\w+)"', path.read_text()))
    assert asked == set(user.commands)


@pytest.mark.parametrize("user", BUS_USERS, ids=lambda u: u.name)
def test_a_grant_is_confined_to_its_own_subjects(user: BusUser) -> None:
    granted = grant(user)
    own_inbox = f"{inbox_prefix(user.name)}.>"
    assert own_inbox in granted.subscribe
    for wide in (">", "_INBOX.>", "leadflow.>", "leadflow.*.*", "leadflow.cmd.>", "$JS.API.>", "$JS.>"):
        assert wide not in granted.publish and wide not in granted.subscribe, wide
    # Commands: its own only, to serve; another's only to request.
    for pattern in granted.subscribe:
        if pattern.startswith("leadflow.cmd."):
            assert pattern == subjects.command_filter(user.name)
    assert granted.allow_responses == user.serves_commands
    # Never delete or purge the event streams.
    for pattern in granted.publish:
        assert not re.match(r"\$JS\.API\.STREAM\.(DELETE|PURGE)\.LEADFLOW", pattern), pattern
    # It drives its own durables and dead-letters their poison messages, and only theirs.
    for durable in user.durables:
        assert subjects.dead_letter_subject(durable) in granted.publish
        assert f"$JS.API.CONSUMER.MSG.NEXT.LEADFLOW.{durable}" in granted.publish
    consumer_call = re.compile(r"\$JS\.API\.CONSUMER\.(?:CREATE|INFO|MSG\.NEXT)\.LEADFLOW\.([^.]+)")
    consumers = {m.group(1) for p in granted.publish if (m := consumer_call.match(p))}
    assert consumers == set(user.durables)
    # Every event it publishes is one it emits.
    events = {p.rsplit(".", 1)[1] for p in granted.publish if p.startswith("leadflow.*.")}
    assert events == set(user.emits)


def test_the_cli_reads_and_publishes_nothing() -> None:
    cli = bus_grants()[CLI_USER]
    assert cli.subscribe == (f"{inbox_prefix(CLI_USER)}.>",)
    assert all(re.match(r"\$JS\.API\.(STREAM|CONSUMER)\.(INFO|LIST)\.", p) for p in cli.publish), cli.publish
    assert not cli.allow_responses


def test_credentials_are_made_once_kept_private_and_extended_for_a_new_user(tmp_path: Path) -> None:
    path = tmp_path / "nats" / "credentials.json"
    first = BusCredentials.load_or_create(path, ["importer", "gateway"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert BusCredentials.load_or_create(path, ["importer", "gateway"]) == first
    grown = BusCredentials.load_or_create(path, ["importer", "gateway", "mailer"])
    assert {k: grown.passwords[k] for k in first.passwords} == dict(first.passwords)
    assert grown.password("mailer") not in first.passwords.values()
    path.chmod(0o644)
    BusCredentials.load_or_create(path, ["importer"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_credentials_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"importer": ""}))
    with pytest.raises(ValueError, match="user → password"):
        BusCredentials.load_or_create(path, ["importer"])
    assert json.loads(path.read_text()) == {"importer": ""}


def test_the_authorization_block_names_every_user_with_its_grant() -> None:
    credentials = BusCredentials({name: f"pw-{name}" for name in bus_grants()})
    text = authorization_config(credentials, bus_grants())
    assert text.startswith("authorization: ")
    users = json.loads(text.removeprefix("authorization: "))["users"]
    assert [u["user"] for u in users] == list(bus_grants())
    for entry in users:
        assert entry["password"] == f"pw-{entry['user']}"
        assert entry["permissions"]["publish"]["allow"] == list(bus_grants()[entry["user"]].publish)


def test_a_service_connects_as_its_user_with_replies_under_its_own_prefix() -> None:
    settings = Settings(nats_url="nats://nats:4222", nats_user="importer", nats_password="pw")
    assert settings.nats_options() == {
        "user": "importer",
        "password": "pw",
        "inbox_prefix": "_INBOX.importer",
    }
    assert Settings(nats_url="nats://nats:4222").nats_options() == {}
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    "fields",
    [
        {"nats_user": "importer"},
        {"nats_password": "pw"},
        {"nats_url": "nats://importer:pw@nats:4222", "nats_user": "importer", "nats_password": "pw"},
    ],
    ids=["user-without-password", "password-without-user", "two-ways"],
)
def test_nats_credentials_are_given_one_clear_way(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="LEADFLOW_NATS"):
        Settings.model_validate(fields)
