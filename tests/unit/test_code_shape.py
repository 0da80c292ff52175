"""The shape the codebase keeps (issue 12's "done when"), checked so that it stays kept.

- `grep -rn "from services\\." contracts services/runtime` prints nothing: the shared code imports no
  service, and the runtime imports its own modules relatively.
- No service imports another: `services/<a>/` imports only itself, the runtime and the contracts.
- No module is over ~400 lines (migrations excepted), and no `# --- section ---` banner stands in for a
  module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
SHARED = sorted([*(ROOT / "contracts").rglob("*.py"), *(SERVICES / "runtime").rglob("*.py")])
SERVICE_PACKAGES = sorted(
    path for path in SERVICES.iterdir() if (path / "__init__.py").exists() and path.name != "runtime"
)
CODE = sorted(
    path
    for path in [*(ROOT / "contracts").rglob("*.py"), *SERVICES.rglob("*.py")]
    if "migrations" not in path.relative_to(ROOT).parts
)
MAX_LINES = 420  # "about 400"
BANNER = re.compile(r"^\s*#\s*(-{3,}|={3,}|\*{3,})")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _absolute_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The modules `path` imports, relative imports resolved against its package."""
    package = list(path.relative_to(root).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            if node.module is None:
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", SHARED, ids=_rel)
def test_shared_code_has_no_line_importing_from_services(path: Path) -> None:
    lines = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"from services\.", line)
    ]
    assert not lines, f"{_rel(path)}:\n" + "\n".join(lines)


@pytest.mark.parametrize("package", SERVICE_PACKAGES, ids=lambda p: p.name)
def test_a_service_imports_no_other_service(package: Path) -> None:
    allowed = (f"services.{package.name}", "services.runtime")
    foreign = {
        f"{_rel(path)}: {module}"
        for path in package.rglob("*.py")
        for module in _absolute_imports(path)
        if module.startswith("services.") and not module.startswith(allowed)
    }
    assert not foreign, "\n".join(sorted(foreign))


@pytest.mark.parametrize("path", CODE, ids=_rel)
def test_no_module_is_over_about_400_lines_or_cut_by_banners(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"{_rel(path)} has {len(lines)} lines: split it by what it does"
    banners = [n for n, line in enumerate(lines, 1) if BANNER.match(line)]
    assert not banners, f"{_rel(path)} has section banners at lines {banners}: make them modules"


def test_the_import_resolver_resolves_relative_imports(tmp_path: Path) -> None:
    module = tmp_path / "services" / "mailer" / "handlers.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import contracts\nfrom .domain import decide\nfrom ..runtime import backoff\n"
        "from ..inbox.dsn import parse\nfrom . import repository\n"
    )
    assert _absolute_imports(module, root=tmp_path) == {
        "contracts",
        "services.mailer.domain",
        "services.runtime",
        "services.inbox.dsn",
        "services.mailer",
        "services.mailer.repository",
    }
