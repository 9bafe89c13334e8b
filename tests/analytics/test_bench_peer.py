"""The pandas peer of ``shequn bench analytics`` computes the same figures as the DuckDB engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequn.analytics import source
from tests.analytics.conftest import DAYS, Simulated

pd = pytest.importorskip("pandas", reason="the bench extra (scripts/setup --dev installs it)")


def test_pandas_peer_equals_the_engine(sim500: Simulated) -> None:
    from shequn.bench import analytics_pandas

    folder = source.default_cache(sim500.url, 1)
    files = sorted(Path(folder).glob("part-*.parquet"))
    assert files
    peer = analytics_pandas.metrics(files, days=DAYS)
    checked = 0
    for g in sim500.report.groups.values():
        p = peer.get(g.id, {})
        assert p.get("messages", 0) == g.messages, g.key
        assert p.get("speakers", 0) == g.speakers, g.key
        assert p.get("members", 0) == g.members, g.key
        assert p.get("joins", 0) == g.joins, g.key
        assert p.get("leaves_voluntary", 0) == g.leaves_voluntary, g.key
        assert p.get("leaves_removed", 0) == g.leaves_removed, g.key
        assert p.get("questions", 0) == g.questions and p.get("answered", 0) == g.answered, g.key
        if g.median_answer_minutes is not None:
            assert p["median_answer_minutes"] == pytest.approx(g.median_answer_minutes, abs=1e-6)
        if g.activation_24h is not None:
            assert p["activation_24h"] == pytest.approx(g.activation_24h, abs=1e-4)
        assert sum(n for n, _ in p.get("daily", [])[-len(g.daily) :]) >= 0
        checked += 1
    assert checked == 500
