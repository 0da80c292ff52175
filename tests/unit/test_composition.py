"""The composition root is the only place that knows the services: the runtime and the contracts name none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.composition import MIGRATED_SERVICES, SERVICES
from services.runtime.bus_users import BusUser
from services.runtime.service_spec import ServiceSpec, Start

ROOT = Path(__file__).resolve().parents[2]
SHARED = sorted([*(ROOT / "contracts").rglob("*.py"), *(ROOT / "services" / "runtime").glob("*.py")])
SERVICE_NAMES = {service.name for service in SERVICES}


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", SHARED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_code_imports_no_service(path: Path) -> None:
    imported = _imports(ast.parse(path.read_text(encoding="utf-8")))
    services = {m for m in imported if m.startswith("services.") and not m.startswith("services.runtime")}
    assert not services, f"{path.relative_to(ROOT)} imports {sorted(services)}"


@pytest.mark.parametrize("path", sorted((ROOT / "services" / "runtime").glob("*.py")), ids=lambda p: p.name)
def test_the_runtime_holds_no_service_name_as_data(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    named = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in SERVICE_NAMES
    }
    assert not named, f"{path.name} names {sorted(named)}: pass the composition root's list instead"


def test_every_package_with_a_process_is_composed_and_each_is_started_one_way() -> None:
    packages = {path.parent.name for path in (ROOT / "services").glob("*/__main__.py")}
    assert packages == SERVICE_NAMES
    assert len(SERVICES) == len(SERVICE_NAMES)
    assert [s.name for s in SERVICES if s.start is Start.HTTP] == ["gateway"]


def test_the_migrated_services_are_those_with_a_history() -> None:
    with_history = {path.parent.parent.name for path in (ROOT / "services").glob("*/migrations/env.py")}
    assert set(MIGRATED_SERVICES) == with_history


def test_a_service_cannot_carry_another_ones_bus_user() -> None:
    with pytest.raises(ValueError, match="bus user"):
        ServiceSpec("mailer", Start.WORKER, BusUser("inbox"))
