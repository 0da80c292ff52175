"""What the runtime needs to know of a service to run it, migrate it and let it on the bus.

The runtime names no service: the composition root (`services/composition.py`) holds the list of
`ServiceSpec`s and hands it to `leadflow up`'s supervisor, the migrations and the embedded NATS server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .bus_users import BusUser


class Start(StrEnum):
    """How `leadflow up` runs a service (each as `python -m services.<name>`)."""

    # Consumers and command handlers, with a health port of their own.
    WORKER = "worker"
    # The HTTP front: started after the workers, on the stack's HTTP port; its `/readyz` says the stack is up.
    HTTP = "http"


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its package `services/<name>/`, how it starts, whether it has a schema to migrate
    (`services/<name>/migrations/`), and what it does on the bus."""

    name: str
    start: Start
    bus: BusUser
    migrated: bool = True

    def __post_init__(self) -> None:
        if self.bus.name != self.name:
            raise ValueError(f"service {self.name!r} has the bus user of {self.bus.name!r}")

    @property
    def module(self) -> str:
        return f"services.{self.name}"


def migrated(services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """The services with a schema, in the given order (it matters only for a fresh database's first start)."""
    return tuple(service.name for service in services if service.migrated)


def bus_users(services: Iterable[ServiceSpec]) -> tuple[BusUser, ...]:
    return tuple(service.bus for service in services)
