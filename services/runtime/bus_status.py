"""`leadflow bus status`: the event streams and their consumers, read as the read-only `cli` NATS user.

The command finds the bus as the other commands find the database: LEADFLOW_NATS_URL (with
LEADFLOW_NATS_USER / LEADFLOW_NATS_PASSWORD) when set, else the stack `leadflow up` runs (see
`running_stack.choose_stack`), whose embedded NATS keeps the `cli` user's password in its data folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nats

from contracts import subjects

from . import running_stack
from .bus_users import CLI_USER, BusCredentials, inbox_prefix
from .running_stack import NoStack, UseStack
from .settings import Settings

# Where `leadflow up` runs its embedded NATS, under the data folder (services/runtime/stack.py).
EMBEDDED_NATS_DIR = "nats"
CREDENTIALS_FILE = "credentials.json"


class BusNotFound(Exception):
    """No bus this command may read; the message says where it looked."""


@dataclass(frozen=True)
class BusAccess:
    url: str
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class StreamState:
    name: str
    messages: int
    size: int


@dataclass(frozen=True)
class ConsumerState:
    name: str
    waiting: int  # not yet delivered
    in_progress: int  # delivered, not yet acknowledged
    redelivered: int


@dataclass(frozen=True)
class BusStatus:
    streams: list[StreamState]
    consumers: list[ConsumerState]

    def render(self) -> str:
        lines = [f"Stream {s.name}: {s.messages:,} messages, {s.size / 1e6:.1f} MB" for s in self.streams]
        width = max([len("consumer"), *(len(c.name) for c in self.consumers)])
        lines.append("")
        lines.append(f"{'consumer':<{width}}  {'waiting':>9}  {'in progress':>11}  {'redelivered':>11}")
        lines += [
            f"{c.name:<{width}}  {c.waiting:>9,}  {c.in_progress:>11,}  {c.redelivered:>11,}"
            for c in sorted(self.consumers, key=lambda c: c.name)
        ]
        return "\n".join(lines) + "\n"


def bus_for_cli(settings: Settings) -> BusAccess:
    """The bus this command reads, as the `cli` user of a `leadflow up` stack or as configured."""
    if settings.nats_url:
        password = settings.nats_password.get_secret_value() if settings.nats_password else None
        return BusAccess(settings.nats_url, settings.nats_user, password)
    choice = running_stack.stack_for(settings, embedded=False)
    if isinstance(choice, NoStack):
        raise BusNotFound(choice.message)
    assert isinstance(choice, UseStack)
    found = choice.record
    credentials = found.data_dir / EMBEDDED_NATS_DIR / CREDENTIALS_FILE
    if found.nats_url is None or not credentials.exists():
        raise BusNotFound(
            f"The Leadflow stack on {found.data_dir} uses a NATS server of its own: set LEADFLOW_NATS_URL, "
            f"LEADFLOW_NATS_USER={CLI_USER} and LEADFLOW_NATS_PASSWORD for this command."
        )
    return BusAccess(found.nats_url, CLI_USER, BusCredentials.load(Path(credentials)).password(CLI_USER))


async def read_status(access: BusAccess) -> BusStatus:
    options = {} if access.user is None else {"inbox_prefix": inbox_prefix(access.user)}
    nc = await nats.connect(
        access.url,
        user=access.user,
        password=access.password,
        connect_timeout=5,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        **options,
    )
    try:
        js = nc.jetstream(timeout=5)
        streams = []
        for name in (subjects.STREAM, subjects.DEAD_LETTER_STREAM):
            info = await js.stream_info(name)
            streams.append(StreamState(name, info.state.messages, info.state.bytes))
        consumers = [
            ConsumerState(
                name=info.name,
                waiting=info.num_pending or 0,
                in_progress=info.num_ack_pending or 0,
                redelivered=info.num_redelivered or 0,
            )
            for info in await js.consumers_info(subjects.STREAM)
        ]
    finally:
        await nc.close()
    return BusStatus(streams, consumers)
