"""A command that fails still gets an answer: an error reply, at once, instead of the caller's timeout.

FastStream sends a handler's return value to the request's reply subject, and nothing when the handler
raises or its command does not validate: the gateway then waited its full request timeout (15 s) and
answered 503, for a request that had already failed. This middleware answers every failed command (a
message on `leadflow.cmd.…` with a reply subject) with a `Refusal`:

- the command did not validate (a payload no gateway would send, or one sent around the gateway):
  `invalid`, saying which fields and why, never their values;
- a dependency failed (PostgreSQL or NATS unreachable, a timeout): `unavailable`, retry later;
- anything else: `internal`, with a sentence that tells nothing of the failure; the failure is logged.

Events (JetStream) are not commands: their exceptions still propagate, so JetStream redelivers them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeGuard

import structlog
from fast_depends.exceptions import ValidationError as ArgumentsInvalid
from fast_depends.pydantic.serializer import _PydanticSerializer
from faststream import BaseMiddleware
from faststream._internal.context.repository import ContextRepo
from nats import errors as nats_errors
from nats.aio.msg import Msg
from nats.js.errors import ServiceUnavailableError
from pydantic import ValidationError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from contracts.replies import Refusal, RefusalKind

log = structlog.get_logger(__name__)

# Every `subjects.command_subject(service, verb)` starts so.
COMMAND_PREFIX = "leadflow.cmd."

# Failures of what the service depends on rather than of the command: the same command may work later.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    nats_errors.ConnectionClosedError,
    nats_errors.ConnectionDrainingError,
    nats_errors.ConnectionReconnectingError,
    nats_errors.NoServersError,
    nats_errors.StaleConnectionError,
    nats_errors.NoRespondersError,
    ServiceUnavailableError,
    ConnectionError,
    TimeoutError,  # nats-py's TimeoutError is one too
)


def is_command(msg: object) -> TypeGuard[Msg]:
    """A request on a command subject (core NATS, with a reply subject): not a JetStream delivery."""
    return (
        isinstance(msg, Msg)
        and msg.subject.startswith(COMMAND_PREFIX)
        and bool(msg.reply)
        and not msg.reply.startswith("$JS.")
    )


def describe_invalid(error: ValidationError) -> str:
    """The fields of a refused command and what is wrong with each, without the values sent."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        # The first location is the handler's parameter (`cmd`): not part of the command's own fields.
        where = ".".join(str(p) for p in item["loc"][1:])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the command is not valid"


def error_reply(service: str, exc: Exception) -> Refusal:
    """The answer to a command that failed with `exc`."""
    refused = refused_command(exc)
    if refused is not None:
        return Refusal.invalid(f"The command was refused: {describe_invalid(refused)}.")
    if isinstance(exc, UNAVAILABLE):
        return Refusal(
            message=f"The {service} service cannot reach what it depends on; try again shortly.",
            kind=RefusalKind.UNAVAILABLE,
        )
    return Refusal(message=f"The {service} service failed on this request.", kind=RefusalKind.INTERNAL)


def refused_command(exc: Exception) -> ValidationError | None:
    """The validation error of the command itself, when that is what `exc` is.

    fast-depends validates a handler's arguments before calling it, by building a model of them in
    `_PydanticSerializer.__call__` (or wraps that error, for some handlers); a ValidationError raised from
    anywhere else (a reply or a row the handler builds) is our failure, not the sender's.
    """
    if isinstance(exc, ArgumentsInvalid):
        original = exc.original_error
        if isinstance(original, ValidationError) and not any(
            item["loc"][:1] == ("return",) for item in original.errors(include_input=False)
        ):
            return original
        return None
    if not isinstance(exc, ValidationError):
        return None
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code is _VALIDATES_ARGUMENTS:
            return exc
        frame = frame.tb_next
    return None


_VALIDATES_ARGUMENTS = _PydanticSerializer.__call__.__code__


class CommandErrorReplies:
    """FastStream broker middleware (a factory of one `_Answering` per message)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _Answering:
        return _Answering(msg, context=context, service=self.service)


class _Answering(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, service: str) -> None:
        super().__init__(msg, context=context)
        self.service = service

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        msg = self.msg
        if not isinstance(exc_val, Exception) or not is_command(msg):
            return False
        reply = error_reply(self.service, exc_val)
        try:  # the answer first: rendering a traceback into the log may take a while
            await msg.respond(reply.model_dump_json(exclude_none=True).encode())
        except Exception as exc:  # the caller times out, as it would have without this middleware
            log.warning("could not answer a failed command", subject=msg.subject, error=repr(exc))
        if reply.kind is RefusalKind.INVALID:
            # Only the field names and the reasons: the values are a client's data.
            log.warning("command refused", subject=msg.subject, problem=reply.message)
        else:
            error_type = f"{type(exc_val).__module__}.{type(exc_val).__qualname__}"
            log.error("command failed", subject=msg.subject, error_type=error_type, exc_info=exc_val)
        return True  # handled: FastStream's own log of it would print the command's values
