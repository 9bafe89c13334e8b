"""The log row (日志行): an event in the form the event log stores it, for bulk history.

How it works:
    A :data:`LogRow` is a plain tuple ``(id, kind, at_ms, platform, group, actor, actor_name, payload)`` where
    ``payload`` is the event's compact JSON form (``Event.to_dict(compact=True)`` through orjson), as UTF-8 bytes —
    exactly the text the log's ``payload`` column holds (bytes: half the memory of a ``str`` with one emoji in it,
    and no decoding before SQLite stores it as text). Importers of big exports build rows directly (no event object,
    no second encoding) and the store writes them as they are; ``shequn.importers.base.log_row`` makes one from any
    event and ``event_from_row`` reads one back, so both forms stay interchangeable.

Things to keep in mind:
    * A parser that builds payloads by hand must write them as ``log_row`` would (same keys, same order, defaults
      left out); the importers' tests check every fixture's rows against ``log_row(event_from_row(row))``.
    * Standard library only, as the rest of the domain: the JSON encoding lives with the importers.
    * :func:`iso_ms` is :func:`shequn.domain.records.iso` for a UTC time given in milliseconds, with a per-day cache
      (exports hold millions of messages over a few thousand days).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

LogRow = tuple[str, str, int, str, str, str, str, bytes]  # id, kind, at_ms, platform, group, actor, actor_name, payload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}
_CLOCK: list[str] = []  # "HH:MM:SSZ" for every second of a day, made on first use


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch (exact integer arithmetic, no float rounding)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_ms(at_ms: int) -> str:
    """``2021-01-01T08:01:00Z`` (``.123000`` before the ``Z`` when there are milliseconds), as ``iso`` writes it."""
    day, ms = divmod(at_ms, 86_400_000)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        prefix = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
        if not prefix[0].isdigit() or len(prefix) != 11:  # years before 1000 or after 9999: the slow, exact way
            _DAYS.pop(day)
            return (_EPOCH + timedelta(milliseconds=at_ms)).isoformat()[:-6] + "Z"
    s, milli = divmod(ms, 1000)
    if not _CLOCK:
        _CLOCK.extend(f"{h:02d}:{m:02d}:{x:02d}Z" for h in range(24) for m in range(60) for x in range(60))
    if milli:
        return f"{prefix}{_CLOCK[s][:-1]}.{milli:03d}000Z"
    return prefix + _CLOCK[s]
