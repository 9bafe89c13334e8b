"""Type KPIs from shequn's own records: the renewal rate from the memberships that came due, offline events from the
activity records, resource matches from the logged introductions; keyword estimates only without records, flagged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from shequn.analytics import kpis
from shequn.analytics.engine import analyze
from shequn.analytics.model import GroupHealth, Kpi, MemberRow
from shequn.app import App
from shequn.domain import Payment, VirtualClock, stable_id
from shequn.playbook import load_playbook
from shequn.reports.markdown import render_markdown
from shequn.services.shop import Shop
from tests.conftest import T0
from tests.support.builders import join, msg, spec

DAY_MS = 86_400_000
T1 = 100 * DAY_MS


def _kpis(
    ctype: str, content: tuple[int, ...], records: kpis.Records, members: Sequence[MemberRow] = ()
) -> dict[str, Kpi]:
    gh = GroupHealth(key="sandbox:g1", id=1, name="g1", community="c", type=ctype, role="main")
    ct = load_playbook().types[ctype]
    out = kpis.compute(ctype, ct, {}, gh, [], content, [], members, days=30, t1=T1, loc="zh-CN", records=records)
    return {k.key: k for k in out}


def test_the_renewal_rate_is_the_memberships_that_came_due_and_were_renewed() -> None:
    # Keywords say 10 members were reminded and none paid a renewal; the memberships say 3 came due, 2 renewed.
    content = (0, 0, 0, 10, 0, 0)
    measured = _kpis("growth", content, kpis.Records(renewed=2, lapsed=1, memberships=True))["renewal_rate"]
    assert measured.value == pytest.approx(2 / 3, abs=1e-4) and not measured.estimated
    assert measured.detail["due"] == 3 and measured.detail["renewed"] == 2
    running = _kpis("growth", content, kpis.Records(memberships=True))["renewal_rate"]
    assert running.value is None and not running.estimated  # memberships running, none due yet: nothing to guess
    guessed = _kpis("growth", content, kpis.NO_RECORDS)["renewal_rate"]
    assert guessed.value == 0.0 and guessed.estimated  # imported history: the keyword estimate, flagged


def test_offline_events_and_resource_matches_come_from_the_records() -> None:
    held = ((T1 - 5 * DAY_MS, ("sandbox:g1",)), (T1 - 40 * DAY_MS, ("sandbox:g1",)), (T1 - 2 * DAY_MS, ("sandbox:g2",)))
    rec = kpis.Records(offline=held, intros=(T1 - DAY_MS, T1 - 3 * DAY_MS, T1 - 90 * DAY_MS))
    content = (0, 0, 7, 0, 9, 0)  # keywords: 7 event posts, 9 replies to resource posts
    ip = _kpis("ip", content, rec)["offline_events"]
    assert ip.value == 1.0 and not ip.estimated  # one event in this group in the 30 days (one a month)
    money = _kpis("money", content, rec)["resource_matches"]
    assert money.value == 2.0 and not money.estimated
    assert _kpis("ip", content, kpis.NO_RECORDS)["offline_events"].estimated
    assert _kpis("money", content, kpis.NO_RECORDS)["resource_matches"].value == 9.0


def test_big_names_follow_the_documented_rule() -> None:
    th = load_playbook().diagnoses.values()
    least, per = int(th["big_name_messages"]), th["big_name_responses"]

    def row(messages: int, responses: int, staff: bool = False) -> MemberRow:
        return MemberRow(1, "x", messages, responses, 1, "high", [], None, staff)

    members = [row(least, int(per * least + 1)), row(least, 0), row(least - 1, 9), row(9, 9, staff=True)]
    assert _kpis("money", (0,) * 6, kpis.NO_RECORDS, members)["big_names_present"].value == 1.0


def test_the_report_measures_from_the_store_and_labels_estimates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUN_ANALYTICS_CACHE", str(tmp_path / "cache"))
    app = App(f"sqlite:///{tmp_path / 'k.db'}", clock=VirtualClock(T0 + timedelta(hours=7)))
    app.apply_spec(spec("读书会", "growth", roles={"architect": ["owner"]}))
    app.apply_spec(spec("渠道群", "money", groups=("m1",), roles={"architect": ["boss"]}))
    app.apply_spec(spec("米粉群", "ip", groups=("i1",), roles={"architect": ["fan"]}))
    events = [
        join("owner", T0),
        join("u1", T0 + timedelta(hours=1)),
        Payment(id=stable_id("p1"), at=T0 + timedelta(hours=3), platform="sandbox", group="g1", actor="u1",
                payment_id="p1", amount=19900, purpose="membership:year"),
        join("boss", T0, group="m1"),
        join("a", T0, group="m1"),
        join("b", T0, group="m1"),
        msg("a", T0 + timedelta(hours=4), "我有工厂资源，可以对接供应链", group="m1"),
        msg("b", T0 + timedelta(hours=5), "我需要供应链资源", group="m1"),
        join("fan", T0, group="i1"),
        msg("fan", T0 + timedelta(hours=6), "本周六同城线下见面会，欢迎报名参加！", group="i1"),
    ]  # fmt: skip
    app.ingest(events, history=True)
    shop = Shop(app)
    need = shop.resource("渠道群", "b", "need", "供应链")
    offer = shop.resource("渠道群", "a", "offer", "工厂供应链")
    shop.introduce("渠道群", need, offer)
    report = analyze(app.store, app.ws, days=30)
    growth = {k.key: k for k in report.communities["读书会"].kpis}
    assert growth["renewal_rate"].value is None and not growth["renewal_rate"].estimated  # a membership, none due
    money = {k.key: k for k in report.communities["渠道群"].kpis}
    assert money["resource_matches"].detail["matches"] == 1 and not money["resource_matches"].estimated
    ip = {k.key: k for k in report.communities["米粉群"].kpis}
    assert ip["offline_events"].estimated  # no activity records: read from the chat, and labelled so
    assert "（估算）" in render_markdown(report)
    with app.transaction() as conn:  # an offline event held (shequn event create --kind offline …)
        app.store.schedule.put_activity(
            conn, app.ws.id, community_id=app.community("米粉群").id, key="meetup", kind="offline", title="见面会",
            status="scheduled", starts_ms=int((T0 - timedelta(days=2)).timestamp() * 1000), ends_ms=None,
            spec={"groups": ["sandbox:i1"]}, now_ms=0,
        )  # fmt: skip
    report = analyze(app.store, app.ws, days=30)
    ip = {k.key: k for k in report.communities["米粉群"].kpis}
    assert not ip["offline_events"].estimated and ip["offline_events"].detail["events"] == 1
    app.close()
