"""`shequn bench storm` end to end on the real PostgreSQL: every check-in acknowledged once (no timing asserted)."""

from __future__ import annotations

import pytest

from shequn.bench import storm
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg


def test_a_small_storm_acknowledges_every_check_in_once(postgres: PostgresServer) -> None:
    postgres.reset()
    r = storm.run(postgres.url, groups=4, workers=2, members=5, chat=1)
    assert (r["events"], r["check_ins"]) == (40, 20)
    assert r["acknowledged_twice"] == 0 and r["not_acknowledged"] == 0
    assert r["latency_ms"]["p50"] >= 0 and r["cpu_us_per_event"]["workers"] > 0
