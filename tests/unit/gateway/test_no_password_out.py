"""No answer of the API can carry a password: no response schema of any route, nor any reply of a command,
has a field named like one (mailbox passwords go in, and are only ever stored encrypted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

import contracts.commands as commands
from contracts.replies import Reply
from services.gateway.app import create_app
from services.runtime.settings import Settings

SECRET_WORDS = ("password", "secret")


def _schema_names(document: dict[str, Any], schema: Any, seen: set[str]) -> Iterator[str]:
    """Every property name reachable from `schema` (references followed once)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from _schema_names(document, document["components"]["schemas"][name], seen)
        for key, value in schema.get("properties", {}).items():
            yield key
            yield from _schema_names(document, value, seen)
        for key, value in schema.items():
            if key != "properties":
                yield from _schema_names(document, value, seen)
    elif isinstance(schema, list):
        for item in schema:
            yield from _schema_names(document, item, seen)


def _responses() -> Iterator[tuple[str, dict[str, Any], Any]]:
    # Building the app connects to nothing; the URLs only have to be there.
    settings = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql+psycopg://nobody@/nothing")
    document: dict[str, Any] = create_app(settings).openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status_code, response in operation.get("responses", {}).items():
                yield f"{method.upper()} {path} {status_code}", document, response


RESPONSES = list(_responses())


def test_the_walk_finds_a_password_in_a_request_body() -> None:
    settings = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql+psycopg://nobody@/nothing")
    document: dict[str, Any] = create_app(settings).openapi()
    body = document["paths"]["/api/v1/mailboxes"]["post"]["requestBody"]
    assert "password" in set(_schema_names(document, body, set()))


def test_the_mailbox_routes_are_walked() -> None:
    assert any("/api/v1/mailboxes/{mailbox_id}/test" in where for where, _, _ in RESPONSES)


@pytest.mark.parametrize(("where", "document", "response"), RESPONSES, ids=[r[0] for r in RESPONSES])
def test_no_response_has_a_password_field(where: str, document: dict[str, Any], response: Any) -> None:
    names = set(_schema_names(document, response, set()))
    assert not [n for n in names if any(word in n.lower() for word in SECRET_WORDS)]


def _model_fields(model: type[BaseModel]) -> Iterator[str]:
    schema = model.model_json_schema(mode="serialization")
    document = {"components": {"schemas": schema.get("$defs", {})}}
    yield from _schema_names(document, {k: v for k, v in schema.items() if k != "$defs"}, set())
    yield from _schema_names(
        document, {"properties": {}, "defs": list(schema.get("$defs", {}).values())}, set()
    )


REPLIES = [
    value
    for value in vars(commands).values()
    if isinstance(value, type) and issubclass(value, Reply) and value is not Reply
]


# The one exception, by design: the mailer's answer to the inbox (`list_imap_logins`) carries each IMAP
# password encrypted as stored, for the inbox to decrypt with the shared key. No route answers it (the
# responses are walked above), and no other field of it may look like a secret.
ENCRYPTED_FOR_THE_INBOX: dict[type[Reply], set[str]] = {commands.ImapLoginPage: {"password_encrypted"}}


@pytest.mark.parametrize("reply", REPLIES, ids=[r.__name__ for r in REPLIES])
def test_no_command_reply_has_a_password_field(reply: type[Reply]) -> None:
    names = set(_model_fields(reply)) - ENCRYPTED_FOR_THE_INBOX.get(reply, set())
    assert not [n for n in names if any(word in n.lower() for word in SECRET_WORDS)]
