"""Helpers of the outbox tests: a workspace with groups on the fake platform and actions waiting to go out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from shequn.app import App
from shequn.connectors.fake import FilePlatformConnector, read_shown
from shequn.domain import Post, VirtualClock
from shequn.outbox import DeliverySettings, OutboxRunner, Policies, VirtualTimer
from shequn.playbook import load_playbook
from shequn.playbook.models import LimitsBook
from tests.conftest import T0
from tests.support.builders import spec


def workspace(url: str, *, groups: int = 3, platform: str = "fake") -> App:
    app = App(url, clock=VirtualClock(T0))
    app.apply_spec(spec(groups=tuple(f"g{i}" for i in range(groups)), platform=platform))
    return app


def enqueue_posts(
    app: App, per_group: Iterable[tuple[str, int]], *, at: datetime = T0, platform: str = "fake"
) -> list[str]:
    """Write posts straight into the outbox (as the pipeline would); return their keys in decision order."""
    actions = []
    for group, n in per_group:
        for i in range(n):
            actions.append(
                Post(
                    key=f"test:{group}:{i}",
                    at=at,
                    community="读书会",
                    platform=platform,
                    group=group,
                    text=f"{group} #{i}",
                )
            )
    with app.store.transaction() as conn:
        app.enqueue_actions(conn, actions)
    return [a.key for a in actions]


def policies(**platforms: dict[str, object]) -> Policies:
    """Limits for the fake platform as given (the playbook's for the others)."""
    base = load_playbook().limits
    entries = [p.model_dump() for p in base.platforms if p.platform not in platforms]
    entries += [{"platform": name, **body} for name, body in platforms.items()]
    return Policies(LimitsBook.model_validate({"platforms": entries, "fallback": base.fallback.model_dump()}))


def documented(count: int, seconds: float, scope: str) -> dict[str, object]:
    return {
        "scope": scope,
        "count": count,
        "seconds": seconds,
        "documented": {"url": "https://example.org/limits", "quote": "test limit"},
    }


def runner(
    app: App, connector: FilePlatformConnector, *, pol: Policies | None = None, **settings: object
) -> OutboxRunner:
    clock = app.clock
    assert isinstance(clock, VirtualClock)
    connector.clock = clock
    return OutboxRunner(
        app.store,
        app.ws.id,
        {"fake": connector},
        timer=VirtualTimer(clock),
        policies=pol or Policies(),
        settings=DeliverySettings(**settings),  # type: ignore[arg-type]
    )


def shown_keys(path: Path) -> list[str]:
    return [r["key"] for r in read_shown(path)]


def at_seconds(path: Path) -> dict[str, list[float]]:
    """When each chat saw its posts (the fake platform's clock, seconds)."""
    out: dict[str, list[float]] = {}
    for r in read_shown(path):
        out.setdefault(r["group"], []).append(r["at"])
    return out


def max_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= seconds - 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


__all__ = ["T0", "timedelta"]
