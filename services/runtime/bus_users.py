"""Who may do what on the bus: one NATS user per service, allowed only the subjects its code uses.

A workspace id in a payload is data, not authority: whoever may publish `leadflow.cmd.importer.*` can ask
for any workspace's data. So only our services hold NATS credentials, and each service's user may only
publish the events it emits, serve its own commands, request the commands it sends, and drive its own
durable consumers. A `BusUser` says what a service does on the bus (the composition root,
`services/composition.py`, holds one per service); `grant` turns that into the subjects of nats-server's
`authorization` block, so adding a service is one entry.

Every user gets its own reply prefix `_INBOX.<user>` (nats-py's `inbox_prefix`): one service cannot
subscribe to the replies and JetStream acknowledgements meant for another. A service answers commands
through `allow_responses` (only to the reply subject of a request it received), never by a general
publish permission on `_INBOX.>`.

Credentials are generated once (`BusCredentials.load_or_create`), kept in a 0600 file and reused across
restarts, so a restarted nats-server accepts the services that reconnect with the same passwords.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts import subjects
from contracts.subjects import inbox_prefix

from .streams import UPLOADS_BUCKET

__all__ = [
    "CLI_USER",
    "SERVER_SECRET",
    "SERVER_SECRET_KEY",
    "USERS_SECRET",
    "BusCredentials",
    "BusUser",
    "Grant",
    "authorization_config",
    "cli_grant",
    "grant",
    "grants",
    "inbox_prefix",
    "kubernetes_secrets",
    "write_private",
]

JS_API = "$JS.API"
UPLOADS_STREAM = f"OBJ_{UPLOADS_BUCKET}"
# The read-only identity of the `leadflow` commands that look at a running stack (`leadflow bus status`).
CLI_USER = "cli"


@dataclass(frozen=True)
class Grant:
    """What one NATS user may publish and subscribe to (nats-server `permissions`)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    # May answer the requests it received (one reply each), whatever their reply subject.
    allow_responses: bool = False

    def as_config(self) -> dict[str, object]:
        permissions: dict[str, object] = {
            "publish": {"allow": list(self.publish)},
            "subscribe": {"allow": list(self.subscribe)},
        }
        if self.allow_responses:
            permissions["allow_responses"] = True
        return permissions


@dataclass(frozen=True)
class BusUser:
    """What a service does on the bus, as its code does it (a unit test holds the two equal)."""

    name: str
    # Serves request/reply commands on `leadflow.cmd.<name>.*`.
    serves_commands: bool = True
    # Services whose commands it sends (`leadflow.cmd.<service>.*`).
    commands: tuple[str, ...] = ()
    # Event types it publishes to the stream (through its outbox).
    emits: tuple[str, ...] = ()
    # Its durable consumers: durable name → the event types it filters on (empty: every event).
    durables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Core NATS subjects it listens to besides its commands (e.g. import progress).
    listens: tuple[str, ...] = ()
    # Core NATS subjects it publishes besides its events (e.g. import progress).
    announces: tuple[str, ...] = ()
    # Reads and writes the CSV uploads object store.
    uploads: bool = False


def _stream_declaration() -> list[str]:
    # Every service declares the streams and the uploads bucket at start (idempotent): create, or
    # update an older configuration; never delete or purge.
    declared = [
        f"{JS_API}.STREAM.{verb}.{stream}"
        for stream in (subjects.STREAM, subjects.DEAD_LETTER_STREAM)
        for verb in ("CREATE", "UPDATE")
    ]
    return [*declared, f"{JS_API}.STREAM.INFO.{UPLOADS_STREAM}", f"{JS_API}.STREAM.CREATE.{UPLOADS_STREAM}"]


def _consumer(durable: str, event_types: tuple[str, ...]) -> list[str]:
    stream = subjects.STREAM
    filters = [subjects.workspace_filter(t) for t in event_types] or list(subjects.STREAM_SUBJECTS)
    # nats-py names the filter in the create subject when there is one, which pins it; a consumer of
    # several subjects is created on the bare name (its filters travel in the request body).
    create = (
        [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.{filters[0]}"]
        if len(filters) == 1
        else [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}"]
    )
    return [
        *create,
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
        subjects.dead_letter_subject(durable),
    ]


def _uploads() -> list[str]:
    # nats-py's object store: put (chunks and meta), get (an ordered push consumer, its stream found by
    # subject; it answers flow control on `$JS.FC…` when the server asks, as it may for a reader that falls
    # behind), delete (a meta tombstone and a purge of the chunks).
    return [
        f"$O.{UPLOADS_BUCKET}.>",
        f"{JS_API}.STREAM.NAMES",
        f"{JS_API}.STREAM.MSG.GET.{UPLOADS_STREAM}",
        f"{JS_API}.DIRECT.GET.{UPLOADS_STREAM}.>",
        f"{JS_API}.STREAM.PURGE.{UPLOADS_STREAM}",
        f"{JS_API}.CONSUMER.CREATE.{UPLOADS_STREAM}",
        f"{JS_API}.CONSUMER.CREATE.{UPLOADS_STREAM}.>",
        f"{JS_API}.CONSUMER.DELETE.{UPLOADS_STREAM}.>",
        f"$JS.FC.{UPLOADS_STREAM}.>",
    ]


def grant(user: BusUser) -> Grant:
    """The subjects `user` may publish and subscribe to, and nothing else."""
    publish = [subjects.workspace_filter(t) for t in user.emits]
    publish += [subjects.command_filter(service) for service in user.commands]
    publish += user.announces
    publish += _stream_declaration()
    for durable, event_types in user.durables.items():
        publish += _consumer(durable, event_types)
    if user.uploads:
        publish += _uploads()
    subscribe = [f"{inbox_prefix(user.name)}.>", *user.listens]
    if user.serves_commands:
        subscribe.append(subjects.command_filter(user.name))
    return Grant(
        publish=tuple(dict.fromkeys(publish)),
        subscribe=tuple(dict.fromkeys(subscribe)),
        allow_responses=user.serves_commands,
    )


def cli_grant() -> Grant:
    """Read-only: the state of the streams and their consumers, nothing published, nothing consumed."""
    streams = (subjects.STREAM, subjects.DEAD_LETTER_STREAM)
    return Grant(
        publish=(
            *(f"{JS_API}.STREAM.INFO.{stream}" for stream in streams),
            *(f"{JS_API}.CONSUMER.LIST.{stream}" for stream in streams),
            *(f"{JS_API}.CONSUMER.INFO.{stream}.*" for stream in streams),
        ),
        subscribe=(f"{inbox_prefix(CLI_USER)}.>",),
    )


def grants(users: Iterable[BusUser]) -> dict[str, Grant]:
    """Every identity of a Leadflow bus made of `users`, and what it may do (the CLI's read-only user too)."""
    return {**{user.name: grant(user) for user in users}, CLI_USER: cli_grant()}


@dataclass(frozen=True)
class BusCredentials:
    """The password of every identity, generated once and kept (mode 0600) where the server's data is."""

    passwords: Mapping[str, str]

    def password(self, user: str) -> str:
        try:
            return self.passwords[user]
        except KeyError:
            raise KeyError(f"no NATS credentials for {user!r}") from None

    @staticmethod
    def new_password() -> str:
        # URL-safe: it can stand in a `nats://user:password@…` URL and an environment variable as it is.
        return secrets.token_urlsafe(32)

    @classmethod
    def load(cls, path: Path) -> BusCredentials:
        """The credentials kept in `path` (FileNotFoundError when there are none); nothing is created."""
        _tighten(path)
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in loaded.items()
        ):
            raise ValueError(f"{path} is not a JSON object of user → password")
        return cls(dict(loaded))

    @classmethod
    def load_or_create(cls, path: Path, users: Iterable[str]) -> BusCredentials:
        """The credentials kept in `path`; a user missing there (a new service) gets a password, saved.

        Existing passwords are never regenerated: services reconnecting after a NATS restart, and
        Kubernetes Secrets made from them, keep working.
        """
        kept = dict(cls.load(path).passwords) if path.exists() else {}
        missing = [user for user in users if user not in kept]
        if missing:
            kept.update({user: cls.new_password() for user in missing})
            write_private(path, json.dumps(kept, indent=2, sort_keys=True) + "\n")
        return cls(kept)


def _tighten(path: Path) -> None:
    """Credentials readable by others (copied in by hand, say) are made private again."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        with contextlib.suppress(OSError):
            path.chmod(0o600)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable and writable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    partial.replace(path)


def authorization_config(credentials: BusCredentials, grants_by_user: Mapping[str, Grant]) -> str:
    """nats-server's `authorization` block for `credentials`, each user with its grant: a file to run the
    server with (`-c`) or to include in its configuration (Kubernetes, `include auth.conf`).

    Its value is JSON, which nats-server's configuration format accepts: every subject is a quoted
    string, so `$JS…` is never read as a variable reference.
    """
    users = [
        {"user": name, "password": credentials.password(name), "permissions": permissions.as_config()}
        for name, permissions in grants_by_user.items()
    ]
    return "authorization: " + json.dumps({"users": users}, indent=2) + "\n"


# The Kubernetes Secrets `leadflow bus secrets` writes (deploy/k8s/nats-values.yaml and the Deployments use
# these names).
SERVER_SECRET = "leadflow-nats-auth"
SERVER_SECRET_KEY = "auth.conf"
USERS_SECRET = "leadflow-nats-users"


def kubernetes_secrets(
    credentials: BusCredentials, namespace: str, grants_by_user: Mapping[str, Grant]
) -> str:
    """Two Secrets, as YAML: the server's `auth.conf` (mounted by the NATS Helm release) and each user's
    password (a service's Deployment reads its own key)."""

    def secret(name: str, purpose: str, entries: Mapping[str, str], block: bool) -> str:
        lines = [
            f"# {purpose}",
            "apiVersion: v1",
            "kind: Secret",
            "metadata:",
            f"  name: {name}",
            f"  namespace: {namespace}",
            "  labels:",
            "    app.kubernetes.io/part-of: leadflow",
            "type: Opaque",
            "stringData:",
        ]
        for key, value in entries.items():
            if block:
                lines.append(f"  {key}: |")
                lines += [f"    {line}" for line in value.splitlines()]
            else:
                # A JSON string is a YAML double-quoted scalar: nothing in it is read as YAML.
                lines.append(f"  {key}: {json.dumps(value)}")
        return "\n".join(lines) + "\n"

    return "---\n".join(
        [
            secret(
                SERVER_SECRET,
                "nats-server's users and their permissions (included by deploy/k8s/nats-values.yaml).",
                {SERVER_SECRET_KEY: authorization_config(credentials, grants_by_user)},
                block=True,
            ),
            secret(
                USERS_SECRET,
                "Each Leadflow service's NATS password (its Deployment's LEADFLOW_NATS_PASSWORD).",
                {user: credentials.password(user) for user in grants_by_user},
                block=False,
            ),
        ]
    )
