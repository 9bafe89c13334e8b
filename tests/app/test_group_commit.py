"""Writes queued for the writer lock are committed together (issue 18: under 50 clients a tag waited seconds
behind every write queued before it); each gets its own answer, and a bad one fails alone."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from shequn.services.console import Operations
from tests.web.conftest import populate


def test_queued_tags_are_written_in_one_go_each_with_its_answer(sqlite_url: str) -> None:
    app = App(sqlite_url, clock=VirtualClock(datetime(2026, 11, 4, tzinfo=UTC)))
    populate(app)
    ops = Operations(app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    people = [m.person_id for m in ops.roster(g1.id) if m.person_id is not None][:6]
    answers: dict[int, object] = {}
    transactions = 0
    real = app.transaction

    def counted():  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1
        return real()

    app.transaction = counted  # type: ignore[method-assign]

    def tag(i: int) -> None:
        try:
            answers[i] = ops.tag_member(people[i % len(people)], "读书会", f"t{i}", remove=False, actor="t")
        except Exception as exc:
            answers[i] = exc

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(12)]
    with ops.write():  # hold the writer lock until every write has queued behind it
        for t in threads:
            t.start()
        for _ in range(200):
            if len(ops.commit._queue) == 12:
                break
            time.sleep(0.01)
        assert len(ops.commit._queue) == 12
    for t in threads:
        t.join()
    assert answers == dict.fromkeys(range(12), True)
    assert transactions == 1  # one transaction for the twelve
    saved = app.saved_state()
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    assert replay(cfg, app.events()).state.to_dict() == saved.to_dict()
    tagged = {t for m in saved.communities["读书会"].members.values() for t in m.tags}
    assert tagged >= {f"t{i}" for i in range(12)}
    app.close()


def test_a_bad_write_in_a_group_fails_alone(sqlite_url: str) -> None:
    app = App(sqlite_url, clock=VirtualClock(datetime(2026, 11, 4, tzinfo=UTC)))
    populate(app)
    ops = Operations(app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    person = next(m.person_id for m in ops.roster(g1.id) if m.person_id is not None)
    results: dict[str, object] = {}

    def good() -> None:
        results["good"] = ops.tag_member(person, "读书会", "fine", remove=False, actor="t")

    def bad() -> None:
        try:
            ops.commit.ingest([object()])  # not an event: the store cannot log it
        except Exception as exc:
            results["bad"] = exc

    threads = [threading.Thread(target=bad), threading.Thread(target=good)]
    with ops.write():
        for t in threads:
            t.start()
            while len(ops.commit._queue) < threads.index(t) + 1:
                time.sleep(0.01)
    for t in threads:
        t.join()
    assert results["good"] is True and isinstance(results["bad"], Exception)
    assert any(t == "fine" for m in app.saved_state().communities["读书会"].members.values() for t in m.tags)
    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises, the write is refused
        ops.commit.ingest([object()])
    app.close()
