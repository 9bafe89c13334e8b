"""`shequn bench storm` end to end on the real PostgreSQL: every check-in acknowledged once, each acknowledgement sent
once within the limits, every stage's CPU measured (no timing asserted)."""

from __future__ import annotations

import pytest

from shequn.bench import storm
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg


def test_a_small_storm_acknowledges_every_check_in_once(postgres: PostgresServer) -> None:
    postgres.reset()
    r = storm.run(postgres.url, groups=4, workers=2, members=5, chat=1, window=4)
    assert (r["events"], r["check_ins"]) == (40, 20)
    assert r["acknowledged_twice"] == 0 and r["not_acknowledged"] == 0
    assert r["latency_ms"]["p50"] >= 0
    cpu = r["cpu_us_per_event"]
    assert all(cpu[stage] > 0 for stage in ("ingest", "engine", "commit", "workers", "database", "send"))
    assert cpu["engine"] + cpu["commit"] <= cpu["workers"]  # the stages are part of the workers' CPU
    sent = r["send"]
    assert sent["messages"] >= 20 and sent["sent_twice"] == 0  # every acknowledgement sent, none twice
    assert sent["groups_over_limit"] == 0 and sent["bot_over_limit"] is False
