"""Every text that comes in is `contracts.text.Text`: each parameter and body of every gateway route, each
field of every command. A new `str` field or parameter that skips the check fails here, by name."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import pytest
from fastapi import FastAPI, UploadFile
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from contracts.commands import Command, PipelineLeadIn
from contracts.text import SAFE_MAYBE_TEXT, SAFE_TEXT, MaybeText, Text
from services.gateway.app import create_app
from services.runtime.settings import Settings

# Inputs whose text the type cannot show, each with where it is checked instead.
EXEMPT: dict[tuple[str, str], str] = {
    # A list of anything, so one bad lead does not refuse the others: each item is validated as
    # PipelineLeadIn in the route (checked below with the commands).
    ("POST /api/v1/pipeline/leads", "items"): "Any",
    # The file's name is checked by imports.uploads.upload_filename; the preview never uses it.
    ("POST /api/v1/campaigns/{campaign_id}/imports", "file"): "UploadFile",
    ("POST /api/v1/imports/preview", "file"): "UploadFile",
    ("POST /api/v1/suppressions/upload", "file"): "UploadFile",
}

_PLAIN = (int, float, bool, bytes, UUID, datetime, date, type(None))


def unchecked(annotation: Any, metadata: Sequence[Any] = (), where: str = "") -> list[str]:
    """Where in `annotation` a `str` is not `Text` (or something opaque hides text): `where`-paths."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return unchecked(base, [*metadata, *extra], where)
    if annotation is str:
        return [] if any(m is SAFE_TEXT for m in metadata) else [f"{where}: str"]
    if annotation is Any or annotation is object:
        return [f"{where}: Any"]
    if origin is Literal or annotation in _PLAIN:
        return []
    if origin in (Union, types.UnionType):
        # MaybeText checks the union's text as a whole.
        inherited = [SAFE_TEXT] if any(m is SAFE_MAYBE_TEXT for m in metadata) else []
        return [found for arg in get_args(annotation) for found in unchecked(arg, inherited, where)]
    if origin in (list, set, frozenset, tuple) or (isinstance(origin, type) and issubclass(origin, Sequence)):
        return [
            found
            for arg in get_args(annotation)
            if arg is not Ellipsis
            for found in unchecked(arg, (), f"{where}[]")
        ]
    if origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
        key, value = get_args(annotation)
        return unchecked(key, (), f"{where}{{key}}") + unchecked(value, (), f"{where}{{}}")
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_unchecked(annotation, where)
    if annotation is UploadFile:
        return [f"{where}: UploadFile"]
    return [f"{where}: {annotation!r} (unknown to this test)"]


def model_unchecked(model: type[BaseModel], where: str = "") -> list[str]:
    return [
        found
        for name, field in model.model_fields.items()
        for found in unchecked(field.annotation, field.metadata, f"{where}.{name}" if where else name)
    ]


def _parameters(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def route_inputs(app: FastAPI) -> Iterator[tuple[str, str, list[str]]]:
    # FastAPI keeps included routers as such; iter_route_contexts walks into them, with full paths.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods or ()):
            for param in _parameters(route.dependant):
                info = param.field_info
                yield (
                    f"{method} {context.path}",
                    param.alias,
                    unchecked(info.annotation, info.metadata, param.alias),
                )


def _app() -> FastAPI:
    # Nothing connects: the app is only built, to read its routes.
    return create_app(
        Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql+psycopg://x@127.0.0.1:1/x")
    )


def _subclasses(cls: type[Command]) -> list[type[Command]]:
    found: list[type[Command]] = []
    for direct in cls.__subclasses__():
        found += [direct, *_subclasses(direct)]
    return found


def test_every_text_parameter_and_body_field_of_the_api_is_checked() -> None:
    problems = []
    exempted = set()
    for route, name, found in route_inputs(_app()):
        if (route, name) in EXEMPT and all(f.endswith(": " + EXEMPT[route, name]) for f in found):
            exempted.add((route, name))
            continue
        problems += [f"{route}: {f}" for f in found]
    assert problems == [], "annotate text inputs with contracts.text.Text:\n" + "\n".join(problems)
    assert exempted == set(EXEMPT), "an exemption no longer needed"


def test_the_walk_sees_every_kind_of_input() -> None:
    seen = {(route, name) for route, name, _ in route_inputs(_app())}
    for expected in [
        ("GET /api/v1/campaigns/{campaign_id}/leads", "q"),  # a dependency's query parameter
        ("GET /api/v1/campaigns/{campaign_id}/leads", "cursor"),
        ("DELETE /api/v1/suppressions/{email}", "email"),  # a path parameter
        ("POST /api/v1/suppressions/upload", "reason"),  # a form field
        ("GET /api/v1/imports/{import_id}/events", "Last-Event-ID"),  # a header
        ("POST /api/v1/campaigns/{campaign_id}/leads/bulk", "body"),  # a JSON body
    ]:
        assert expected in seen, expected


@pytest.mark.parametrize("command", [*_subclasses(Command), PipelineLeadIn], ids=lambda c: c.__name__)
def test_every_text_field_of_every_command_is_checked(command: type[BaseModel]) -> None:
    assert model_unchecked(command) == []


def test_the_walk_sees_every_command() -> None:
    names = {c.__name__ for c in _subclasses(Command)}
    assert {"CreateCampaign", "AddSuppression", "CreatePipelineLeads", "StartPipelineImport"} <= names


class _Careless(BaseModel):
    ok: Text
    maybe: MaybeText = None
    name: str
    tags: list[str] | None = None
    mapping: dict[str, Text] = {}
    anything: Any = None


def test_the_walk_finds_plain_text_wherever_it_hides() -> None:
    assert model_unchecked(_Careless) == [
        "name: str",
        "tags[]: str",
        "mapping{key}: str",
        "anything: Any",
    ]
