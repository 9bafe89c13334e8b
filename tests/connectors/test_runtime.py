"""``shequn run``'s runtime without a platform: the secrets file, and an operator approving an admission check from
the admin group (the answer goes into the log as the ``verify`` form, the member hears they passed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shequn.app import App
from shequn.domain import FormAnswer, Message, UserError, VirtualClock
from shequn.playbook.spec import parse_spec
from shequn.services.live import OperatorCommands, environment, parse_command, read_secrets

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SPEC = """name: 任务群
type: growth
locale: zh-CN
threshold: {kind: task, params: {min_shares: 1}}
roles:
  architect: [admin1]  # the admission policy takes a verification only from the community's staff
groups:
  - {platform: fake, id: main, name: 主群}
  - {platform: fake, id: ops, name: 管理群, role: admin}
policies:
  admission: {task_verify: staff}
"""


def test_secrets_file(tmp_path: Path) -> None:
    f = tmp_path / "secrets.env"
    f.write_text("# comment\nexport SHEQUN_A='x=1'\nSHEQUN_B=\"two\"\n\nSHEQUN_C=three\n", encoding="utf-8")
    assert read_secrets(f) == {"SHEQUN_A": "x=1", "SHEQUN_B": "two", "SHEQUN_C": "three"}
    assert environment(f, {"SHEQUN_C": "from-env"})["SHEQUN_C"] == "from-env"
    f.write_text("SHEQUN_A=1\nnot a line with the value hunter2\n", encoding="utf-8")
    with pytest.raises(UserError) as bad:
        read_secrets(f)
    assert ":2:" in str(bad.value) and "hunter2" not in str(bad.value)


def test_commands_parse() -> None:
    assert parse_command("!tasks").verb == "tasks"  # type: ignore[union-attr]
    assert parse_command("!approve 12") == parse_command("通过 #12")
    assert parse_command("驳回 3").verb == "reject"  # type: ignore[union-attr]
    assert parse_command("approve the plan") is None and parse_command("!approve") is None


def test_approving_an_admission_check_from_the_admin_group(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    app = App(str(tmp_path / "rt.db"), clock=clock)
    app.apply_spec(parse_spec(SPEC))
    proof = FormAnswer(id="f1", at=T0, platform="fake", group="main", actor="u9", actor_name="小新", form="task",
                       answers={"shares": "1", "screenshot": "moments.png"})  # fmt: skip
    app.ingest([proof])
    with app.store.transaction() as conn:
        (task,) = app.store.tasks.list(conn, app.ws.id)
    commands = OperatorCommands(app)
    later = T0 + timedelta(minutes=5)
    said = Message(id="c1", at=later, platform="fake", group="ops", actor="admin1", text=f"!approve {task.id}")
    app.ingest([said])
    assert commands.handle(said)
    assert not commands.handle(Message(id="c2", at=T0, platform="fake", group="main", actor="u1", text="!tasks"))
    with app.store.transaction() as conn:
        done = app.store.tasks.list(conn, app.ws.id, status="done")
    assert [(t.id, t.done_by) for t in done] == [(task.id, "admin1")]
    verify = [e for e in app.events() if isinstance(e, FormAnswer) and e.form == "verify"]
    assert len(verify) == 1 and verify[0].answers == {"member": "u9", "ok": "yes"}
    state = app.saved_state()
    community = next(iter(state.communities.values()))
    admission = community.policy.get("admission", {})
    assert any(k.startswith("task:") and v.get("ok") is True for k, v in admission.items()), admission
    app.close()
