"""A 500-group simulation stored once per test session, its ground truth, and its analysis."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shequn.analytics.engine import analyze
from shequn.analytics.model import Report
from shequn.app import App
from shequn.simulator import simulate

GROUPS = 500
DAYS = 14  # the simulator lets groups die between day 3 and day 7 of a 14-day window: a week of silence after


@dataclass
class Simulated:
    url: str
    truth: dict[str, Any]
    report: Report
    platform_ids: dict[int, str]  # person id → platform id


@pytest.fixture(scope="session")
def sim500(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    path: Path = tmp_path_factory.mktemp("sim500") / "sim.db"
    url = f"sqlite:///{path}"
    sim = simulate(groups=GROUPS, days=DAYS, seed=11)
    app = App(url)
    for spec in sim.specs:
        app.apply_spec(spec, actor="test")
    app.append_history(sim.events())
    truth = sim.truth_dict()
    report = analyze(app.store, app.ws, days=DAYS)
    with app.store.transaction() as conn:
        ids = {int(p): str(i) for p, i in conn.exec_driver_sql("SELECT person_id, platform_id FROM identity")}
    app.close()
    return Simulated(url, truth, report, ids)
