"""What the policies remember is persisted and replayed: workspace-wide state, the ledger, numbers, on both stores."""

from __future__ import annotations

from datetime import timedelta

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from shequn.policies.moderation import label_for
from tests.conftest import T0
from tests.policies.harness import make_spec
from tests.support.builders import join, msg

AD = "➕V：money20459，招代理，一件代发，日赚500"


def test_workspace_state_ledger_and_labels_survive_a_restart_and_equal_a_replay(db_url: str) -> None:
    clock = VirtualClock(T0)
    app = App(db_url, clock=clock)
    app.apply_spec(make_spec("读书会", groups=("g1",), threshold={"kind": "none"}))
    app.apply_spec(make_spec("跑步团", type="interest", groups=("g2",), threshold={"kind": "none"}))
    t = T0
    events = [join("u1", t), join("spammer", t), msg("spammer", t + timedelta(seconds=5), AD)]
    events += [msg("u1", t + timedelta(minutes=2 * i + 1), f"第{i}条读书心得，欢迎讨论") for i in range(5)]
    app.ingest(events)
    hams = [msg("u1", t + timedelta(hours=1, minutes=i), f"正常的讨论第{i}条") for i in range(3)]
    app.ingest(hams)
    clock.set(t + timedelta(hours=2))
    app.ingest([label_for(h, "not_ad", by="op", at=clock.now() + timedelta(seconds=i)) for i, h in enumerate(hams)])
    app.ingest([label_for(events[2], "ad", by="op", at=clock.now() + timedelta(minutes=5))])  # already an offence
    app.close()

    again = App(db_url, clock=clock)  # a new process: the engine is loaded from the saved state
    saved = again.saved_state()
    assert "sandbox:spammer" in saved.workspace["blacklist"]
    assert saved.workspace["moderation.learned"]["n"][:2] == [1, 3]
    report = again.ingest([join("spammer", t + timedelta(hours=3), group="g2")])
    assert report.actions == 1  # refused in the other community: the blacklist was loaded from the store
    with again.store.transaction() as conn:
        ledger = again.store.points.entries(conn, again.ws.id, community="读书会", member_key="sandbox:u1")
        cfg = again.workspace_config(conn)
    assert [e.balance for e in ledger] == list(range(1, len(ledger) + 1)) and ledger[-1].balance == 8
    assert all(e.reason == "message" and e.policy == "points" for e in ledger)
    replayed = replay(cfg, again.events())
    assert replayed.state.to_dict() == again.saved_state().to_dict()
    # A rebuild clears the derived state (the ledger too) and replays it to the same place.
    again.rebuild()
    with again.store.transaction() as conn:
        rebuilt = again.store.points.entries(conn, again.ws.id, community="读书会", member_key="sandbox:u1")
    assert [(e.key, e.balance) for e in rebuilt] == [(e.key, e.balance) for e in ledger]
    assert again.saved_state().to_dict() == replayed.state.to_dict()
    again.close()


def test_numbers_are_given_at_admission_and_persisted(sqlite_url: str) -> None:
    app = App(sqlite_url, clock=VirtualClock(T0))
    app.apply_spec(make_spec(threshold={"kind": "invitation"}, roles={"architect": ["owner"]}))
    app.ingest([join("owner", T0), join("x", T0), join("y", T0, inviter="owner")])
    state = app.saved_state().communities["读书会"]
    assert (state.members["sandbox:owner"].number, state.members["sandbox:y"].number) == (1, 2)
    assert state.members["sandbox:x"].number == 0 and state.next_number == 3
    app.close()
