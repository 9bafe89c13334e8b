"""Clocks: the only source of "now" in shequn.

Policies never read the time themselves; the engine passes ``now`` in. Live runs use :class:`SystemClock`; tests,
the sandbox and replays use :class:`VirtualClock`, which only moves when told to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    Args:
        start: the initial time; naive datetimes are taken as UTC.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backward) and return the new time."""
        if delta < timedelta(0):
            raise ValueError("a virtual clock cannot go backward")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` if it is not earlier than now; return the new time."""
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when < self._now:
            raise ValueError("a virtual clock cannot go backward")
        self._now = when
        return self._now
