"""The README's command table is the contract: every `shequn …` command and `shequn bench …` it documents exists."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.main import get_command

from shequn.cli.main import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: typer.Typer) -> set[str]:
    cli = get_command(group)
    return set(getattr(cli, "commands", {}))


def test_every_documented_command_exists() -> None:
    top = _commands(app)
    documented = set(re.findall(r"^\| `shequn ([a-z-]+)", README, re.M))
    assert documented and documented <= top, documented - top


def test_every_documented_benchmark_exists() -> None:
    cli = get_command(app)
    bench = set(cli.commands["bench"].commands)  # type: ignore[attr-defined]
    documented = set(re.findall(r"`shequn bench ([a-z]+)", README))
    assert {"engine", "import", "outbox", "analytics", "moderation", "referral", "matrix", "serve"} <= documented
    assert documented <= bench, documented - bench
