"""The member pages' sample community (``bench/pages.py`` builds it, so the benchmark measures what the tests
check), and a signed link for one of its members."""

from __future__ import annotations

from shequn.app import App
from shequn.bench.pages import COMMUNITY
from shequn.bench.pages import populate as _populate
from shequn.services.console import Operations
from shequn.services.member import MemberPages
from tests.conftest import T0

__all__ = ["COMMUNITY", "link", "populate"]


def populate(app: App) -> None:
    _populate(app, T0)


def link(app: App, who: str, *, days: int = 30) -> str:
    token, _ = MemberPages(Operations(app)).link(COMMUNITY, who, days=days)
    return f"/m/{token}"
