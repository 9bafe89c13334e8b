"""The importers' place in the data flow: parsers produce domain events and touch no store, engine or command line;
only ``load`` drives the app it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

import shequn.importers
from tests.test_layers import imports_of

FOLDER = Path(shequn.importers.__file__).parent
NEVER = ("shequn.store", "shequn.engine", "shequn.cli", "shequn.web", "shequn.policies", "sqlalchemy")


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.py")), ids=lambda p: p.name)
def test_parsers_import_only_the_domain_and_i18n(path: Path) -> None:
    bad = [n for n in imports_of(path) if any(n == f or n.startswith(f + ".") for f in NEVER)]
    if path.name == "load.py":
        bad = [n for n in bad if n != "sqlalchemy"]  # the type of the connection it hands to the app
    assert not bad, f"{path.name} imports {bad}"
    if path.name not in ("load.py", "__init__.py"):
        assert "shequn.app" not in imports_of(path)
