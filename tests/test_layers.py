"""The dependency direction of the architecture: inner packages never import outer ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shequn

ROOT = Path(shequn.__file__).parent
# Growth and commerce rules are pure, as policies are: no store, no platform, no I/O.
_PURE_RULES = {
    "shequn.engine", "shequn.store", "shequn.connectors", "shequn.app", "shequn.cli", "shequn.web",
    "sqlalchemy", "duckdb", "httpx",
}  # fmt: skip

# package → what it must never import (shequn packages or third-party I/O libraries)
FORBIDDEN = {
    "domain": {
        "shequn.playbook",
        "shequn.policies",
        "shequn.engine",
        "shequn.store",
        "shequn.connectors",
        "shequn.app",
        "sqlalchemy",
        "pydantic",
        "duckdb",
        "httpx",
    },
    "policies": {
        "shequn.engine",
        "shequn.store",
        "shequn.connectors",
        "shequn.app",
        "shequn.analytics",
        "sqlalchemy",
        "duckdb",
        "httpx",
        "aiogram",
        "nio",
        "socket",
        "requests",
        "asyncio",
    },
    "playbook": {"shequn.policies", "shequn.engine", "shequn.store", "shequn.connectors", "sqlalchemy"},
    "engine": {"shequn.store", "shequn.connectors", "shequn.app", "sqlalchemy", "duckdb", "httpx"},
    "i18n": {"shequn.store", "shequn.engine", "shequn.policies", "sqlalchemy"},
    "store": {"shequn.connectors", "shequn.app", "shequn.cli", "shequn.web"},
    "web": {"shequn.cli"},
    "planner": {
        "shequn.engine",
        "shequn.store",
        "shequn.connectors",
        "shequn.app",
        "shequn.cli",
        "sqlalchemy",
        "duckdb",
        "httpx",
    },
    "growth": _PURE_RULES,
    "commerce": _PURE_RULES,
    "outbox": {"shequn.connectors", "shequn.schedule", "shequn.app", "shequn.cli", "shequn.web"},
    "schedule": {"shequn.connectors", "shequn.outbox", "shequn.app", "shequn.cli", "shequn.web", "httpx"},
    "services": {"shequn.cli", "shequn.web"},
}
# The application services are the outer ring: nothing inside the core reaches out to them.
for _inner in (
    "domain",
    "policies",
    "playbook",
    "engine",
    "i18n",
    "store",
    "planner",
    "growth",
    "commerce",
    "outbox",
    "schedule",
    "connectors",
    "importers",
    "analytics",
    "reports",
    "simulator",
):
    FORBIDDEN.setdefault(_inner, set()).add("shequn.services")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_inward(package: str) -> None:
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_every_package_says_what_it_owns() -> None:
    for init in ROOT.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "May import" in doc, f"{init.parent.name}: module docstring must say what it may import"


def test_the_package_root_holds_only_the_composition_root() -> None:
    """``ls src/shequn`` shows the architecture: packages, plus ``app.py`` (composition root and ingest pipeline).
    An application service belongs in :mod:`shequn.services`, named after the part it serves."""
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name not in {"__init__.py", "app.py"})
    assert not loose, f"modules loose at the package root (move them into a package): {loose}"
