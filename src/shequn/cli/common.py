"""What every command shares: global options, the consoles, opening the app, printing JSON."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import typer
from rich.console import Console

from shequn.app import App
from shequn.domain import VirtualClock

# soft_wrap: long lines are left to the terminal, so an error stays one line when piped or captured.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True, slots=True)
class Globals:
    db: str | None
    workspace: str


@contextmanager
def open_app(ctx: typer.Context, *, at: datetime | None = None) -> Iterator[App]:
    """The app for the global ``--db`` and ``--workspace``, closed afterwards; with ``at`` (a command's ``--at``), on a
    clock standing at that moment."""
    g: Globals = ctx.obj if isinstance(ctx.obj, Globals) else ctx.find_root().obj
    app = App(g.db, workspace=g.workspace, clock=VirtualClock(at)) if at else App(g.db, workspace=g.workspace)
    try:
        yield app
    finally:
        app.close()


def print_json(value: Any) -> None:
    """One JSON document (or line) on standard output, UTF-8, keys in insertion order."""
    sys.stdout.buffer.write(orjson.dumps(value) + b"\n")
    sys.stdout.flush()
