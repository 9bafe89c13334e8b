"""Dead-group and ad-account detection scored against the simulator's ground truth (500 groups)."""

from __future__ import annotations

from datetime import date

from tests.analytics.conftest import Simulated


def _pr(predicted: set[str], actual: set[str]) -> tuple[float, float]:
    tp = len(predicted & actual)
    return tp / len(predicted) if predicted else 1.0, tp / len(actual) if actual else 1.0


def test_dead_groups_precision_and_recall(sim500: Simulated) -> None:
    actual = {g["key"] for g in sim500.truth["groups"] if g["dead"]}
    predicted = {k for k, g in sim500.report.groups.items() if g.dead}
    assert len(actual) >= 40, "the simulation must contain enough dead groups to score"
    precision, recall = _pr(predicted, actual)
    assert precision >= 0.95, (precision, sorted(predicted - actual)[:10])
    assert recall >= 0.95, (recall, sorted(actual - predicted)[:10])


def test_dead_since_is_close_to_the_day_the_group_died(sim500: Simulated) -> None:
    truth = {g["key"]: g for g in sim500.truth["groups"] if g["dead"]}
    for key, g in sim500.report.groups.items():
        if g.dead and key in truth:
            assert g.dead_since is not None
            gap = (date.fromisoformat(truth[key]["dies_on"]) - date.fromisoformat(g.dead_since)).days
            assert 0 <= gap <= 5, (key, g.dead_since, truth[key]["dies_on"])
            assert g.stage == "dead" and g.health == 0


def test_ad_accounts_precision_and_recall(sim500: Simulated) -> None:
    actual = set(sim500.truth["ad_accounts"])
    predicted = {sim500.platform_ids[a["person"]] for a in sim500.report.ad_accounts}
    assert len(actual) >= 50
    precision, recall = _pr(predicted, actual)
    assert precision >= 0.95, (precision, sorted(predicted - actual)[:10])
    assert recall >= 0.95, (recall, sorted(actual - predicted)[:10])


def test_hard_negatives_are_not_ads(sim500: Simulated) -> None:
    """Members who post a phone number to sign up, links they introduce, staff promotions: not ad accounts."""
    predicted = {sim500.platform_ids[a["person"]] for a in sim500.report.ad_accounts}
    core = {p for g in sim500.truth["groups"] for p in g["core_members"] + [g["organizer"]]}
    assert not predicted & core


def test_roles_found_where_the_simulator_put_them(sim500: Simulated) -> None:
    """Greeters and scouts inferred from behaviour are mostly the ones the plan cast (and core members look alive)."""
    by_pid = sim500.platform_ids
    hits = total = 0
    for g in sim500.truth["groups"]:
        rows = sim500.report.members.get(g["key"], [])
        greeters = {by_pid[m.person] for m in rows if "greeter" in m.roles}
        for who in greeters:
            total += 1
            hits += who in set(g["greeters"])
    assert total > 100
    assert hits / total >= 0.8, hits / total
    scouts_found = [
        (by_pid[m.person], g) for g in sim500.truth["groups"] for m in sim500.report.members.get(g["key"], [])
        if "scout" in m.roles
    ]  # fmt: skip
    assert scouts_found
    cast = sum(1 for who, g in scouts_found if who in g["scouts"] or who in g["core_members"])
    assert cast / len(scouts_found) >= 0.7


def test_a_consumption_group_is_never_told_to_chat_more(sim500: Simulated) -> None:
    from shequn.playbook import load_playbook

    judging = {r.key for r in load_playbook().diagnoses.rules if r.judges_activity}
    checked = 0
    for g in sim500.report.groups.values():
        if g.type in ("consumption", "money"):
            checked += 1
            assert not {f.key for f in g.findings} & judging, (g.key, [f.key for f in g.findings])
    for c in sim500.report.communities.values():
        if c.type == "consumption":
            assert not {f.key for f in c.findings} & judging
    assert checked > 50
