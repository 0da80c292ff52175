"""What a command answers: its success reply, or a `Refusal`, never one type carrying both.

A handler returns `SomeReply | Refusal`; a caller reads the answer with `read_reply`, which gives the same
union, so mypy makes it deal with the refusal before it can touch the reply's fields. On the wire a refusal
is `{"error": "<sentence>", "error_code": "<kind>"}`, as it always was; a success reply never has an
`error_code`, which is what tells the two apart.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Reply(BaseModel):
    """The base of every success reply."""

    model_config = ConfigDict(frozen=True)


class RefusalKind(StrEnum):
    """Why a command was not carried out; programs decide on this, people read `Refusal.message`."""

    NOT_FOUND = "not_found"
    INVALID = "invalid"  # the command itself is refused
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"  # a dependency of the service failed: the same command may work later
    INTERNAL = "internal"  # an unexpected failure, logged by the service; the message tells nothing of it


class Refusal(BaseModel):
    """A command's answer when it was not carried out (services/runtime/command_errors.py sends one for a
    command whose handler failed)."""

    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )
    message: str = Field(alias="error", description="what went wrong, written for a person")
    kind: RefusalKind = Field(alias="error_code")

    @classmethod
    def not_found(cls, message: str) -> Refusal:
        return cls(message=message, kind=RefusalKind.NOT_FOUND)

    @classmethod
    def invalid(cls, message: str) -> Refusal:
        return cls(message=message, kind=RefusalKind.INVALID)

    @classmethod
    def conflict(cls, message: str) -> Refusal:
        return cls(message=message, kind=RefusalKind.CONFLICT)


R = TypeVar("R", bound=Reply)


@cache
def _answer_of(reply_type: type[Reply]) -> TypeAdapter[Any]:
    # Left to right: a refusal first, as only a refusal has an `error_code` (an import's status may carry
    # an `error`, the reason the import failed, with a null `error_code`).
    answer: Any = Annotated[Refusal | reply_type, Field(union_mode="left_to_right")]
    return TypeAdapter(answer)


def read_reply(body: bytes | str, reply_type: type[R]) -> R | Refusal:
    """A command's answer as sent: `reply_type`, or the Refusal the service answered instead."""
    return cast("R | Refusal", _answer_of(reply_type).validate_json(body))
