"""The commands: event create/list/show/check/register/ticket/checkin/cancel, schedule list, shequn run delivering
the rhythm through a connector, and the sandbox showing the rhythm and a talk's run-of-show with its clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shequn.app import App
from shequn.cli.main import main
from shequn.connectors.fake import read_shown
from shequn.domain import VirtualClock
from tests.schedule.conftest import local
from tests.support.builders import join, msg


class Cli:
    def __init__(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = db
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            main(["--db", self.db, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line on a workspace whose clock stands at Monday 2 Nov 2026, 07:00 in Shanghai."""
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.chdir(tmp_path)
    clock = VirtualClock(local(0, "07:00"))
    import shequn.cli.common as common

    monkeypatch.setattr(common, "App", lambda db, workspace: App(db, workspace=workspace, clock=clock))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: 读书会\ntype: growth\ngroups:\n"
        "  - {platform: fake, id: g1, name: 一群}\n  - {platform: fake, id: g2, name: 二群}\n",
        encoding="utf-8",
    )
    c = Cli(str(tmp_path / "cli.db"), capsys)
    assert c("community", "apply", str(spec))[0] == 0
    c.clock = clock  # type: ignore[attr-defined]
    return c


def test_event_create_list_show_and_the_checklist(cli: Cli) -> None:
    code, out, _ = cli("event", "create", "-c", "读书会", "--title", "如何高效阅读", "--guest", "李老师", "--json")
    created = json.loads(out)
    assert code == 0 and created["key"] == "talk-20261108" and created["groups"] == ["fake:g1", "fake:g2"]
    assert (
        created["starts"] == "2026-11-08T12:30:00Z" and created["ends"] == "2026-11-08T14:00:00Z"
    )  # Sunday 20:30-22:00
    assert created["secret"] is None  # the ticket secret never leaves the store
    rows = [json.loads(line) for line in cli("event", "list", "--json")[1].splitlines()]
    assert [(r["key"], r["kind"]) for r in rows] == [("talk-20261108", "guest_talk")]
    shown = json.loads(cli("event", "show", "talk-20261108", "--json")[1])
    steps = [(r["local"], r["step"]) for r in shown["run_of_show"]][:6]
    assert steps == [
        ("11-05 10:00", "prepare"),
        ("11-06 20:30", "notice"),
        ("11-08 09:00", "notice"),
        ("11-08 12:00", "notice"),
        ("11-08 19:00", "notice"),
        ("11-08 20:20", "rules"),
    ]
    assert shown["checklist_missing"] == ["confirmed", "poster", "team", "announcement"]
    code, out, _ = cli("event", "check", "talk-20261108", "poster", "team")
    assert code == 0 and "confirmed, announcement" in out
    assert cli("event", "check", "talk-20261108", "cake")[0] == 2
    code, out, _ = cli("event", "show", "talk-20261108")
    assert code == 0 and "嘉宾介绍" in out and "提前准备" in out
    assert cli("event", "cancel", "talk-20261108")[0] == 0
    assert json.loads(cli("event", "show", "talk-20261108", "--json")[1])["run_of_show"] == []


def test_offline_event_registration_tickets_and_qr_check_in(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli(
        "event",
        "create",
        "-c",
        "读书会",
        "--kind",
        "offline",
        "--title",
        "读书沙龙",
        "--at",
        "2026-11-14 14:00",
        "--minutes",
        "150",
        "--capacity",
        "2",
        "--fee-mode",
        "aa",
        "--fee",
        "300",
        "--venue",
        "图书馆",
        "--key",
        "salon",
    )
    assert code == 0 and "longer than 120 min" in out  # the book's advice, shown, not enforced
    assert "已报名 salon" in cli("event", "register", "salon", "--member", "u1", "--name", "小王")[1]
    cli("event", "register", "salon", "--member", "u2", "--by", "u1")
    assert "候补" in cli("event", "register", "salon", "--member", "u3")[1]
    report = json.loads(cli("event", "show", "salon", "--json")[1])
    assert report["seats_taken"] == 2 and report["aa_share"] == "150.00"  # 300 yuan shared by 2
    assert [(r["member"], r["status"], r["inviter"]) for r in report["registered"]] == [
        ("u1", "registered", ""),
        ("u2", "registered", "u1"),
        ("u3", "waitlisted", ""),
    ]
    code, _, err = cli("event", "ticket", "salon", "--member", "u3")
    assert code == 2 and "没有报名" in err
    svg = tmp_path / "u1.svg"
    code, uri, _ = cli("event", "ticket", "salon", "--member", "u1", "--svg", str(svg))
    assert code == 0 and uri.startswith("shequn:checkin:salon:u1:") and svg.read_text().startswith("<?xml")
    assert "签到成功" in cli("event", "checkin", uri.strip())[1]
    assert "之前已签到" in cli("event", "checkin", uri.strip())[1]
    forged = uri.strip()[:-1] + ("0" if uri.strip()[-1] != "0" else "1")
    assert cli("event", "checkin", forged)[0] == 2
    assert json.loads(cli("event", "show", "salon", "--json")[1])["checked_in"] == ["u1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", "party"), "--kind：不能是“party”，可选 guest_talk / offline"),
        (("--at", "tomorrow"), "--at: cannot read 'tomorrow'"),
        (("--at", "2020-01-01 10:00"), "已经过去了"),
        (("--group", "g9"), "--group: 'g9' is not a group of 读书会"),
        (("--kind", "offline"), "needs --at, or --poll"),
        (("--fee", "lots"), "--fee：“lots”不是金额"),
    ],
)
def test_bad_event_input_is_one_line_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    code, _out, err = cli("event", "create", "-c", "读书会", "--title", "x", *args)
    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1


def test_schedule_list_shows_what_will_be_sent(cli: Cli) -> None:
    code, out, _ = cli("schedule", "list", "--hours", "24", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(r["local"][11:], r["job"]) for r in rows if r["group"] == "fake:g1"] == [
        ("07:30", "check_in"),  # a growth community's day is the book's: 7:30签到, 8点主题活动, 提前一天预热 (2365)
        ("08:00", "daily_activity"),
        ("20:00", "activity_preheat"),
    ]
    check_in = rows[0]
    assert check_in["state"] == "planned" and "签到" in check_in["actions"][0]["text"]
    code, out, _ = cli("schedule", "list", "--hours", "24")
    assert code == 0 and "早签到" in out and "待发送" in out
    assert cli("schedule", "list", "-c", "nobody")[0] == 1


def test_shequn_run_delivers_the_rhythm_through_the_connector(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = tmp_path / "platform.jsonl"
    monkeypatch.setenv("SHEQUN_FAKE_PATH", str(shown))
    assert cli("run", "--until-idle", "--json")[0] == 0  # the first pass only sets the cursor
    cli.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]  # 07:31
    code, out, err = cli("run", "--until-idle", "--json")
    assert code == 0, err
    assert json.loads(out)["sent"] == 2  # the check-in, in two groups
    cli.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]  # 08:01
    assert json.loads(cli("run", "--until-idle", "--json")[1])["sent"] == 2  # the daily topic
    posted = [(r["group"], r["key"].rsplit(":", 1)[1]) for r in read_shown(shown)]
    assert sorted(posted) == sorted((g, j) for g in ("g1", "g2") for j in ("check_in", "daily_activity"))
    assert cli("run", "--until-idle", "--json")[1].startswith('{"sent":0')  # nothing twice


def test_the_sandbox_shows_the_rhythm_and_a_talk_with_its_clock(cli: Cli, tmp_path: Path) -> None:
    script = tmp_path / "talk.txt"
    script.write_text(
        "/join 小王\n/join 李老师\n/talk 2026-11-02T20:30 高效阅读\n/guest\n/time 2026-11-02 20:40\n带着问题读书\n"
        "/as 小王\n/time +55m\n提问：每天读多久？\n/time +30m\n",
        encoding="utf-8",
    )
    spec = tmp_path / "yedu.yaml"  # 消费型: no entry threshold, the cast is admitted; game time turned on
    spec.write_text("name: 夜读\ntype: consumption\nrhythm: {jobs: {games: {enabled: true}}}\n", encoding="utf-8")
    assert cli("community", "apply", str(spec))[0] == 0
    code, out, err = cli("sandbox", "-c", "夜读", "--script", str(script), "--json", "--start", "2026-11-02T03:00:00Z")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    kinds = [
        (x["time"][11:16], x["kind"], x["text"][:6]) for x in lines if x["kind"] != "post" or "【" in x["text"][:1]
    ]
    texts = " ".join(x["text"] for x in lines)
    assert "【游戏时间】" in texts  # the rhythm, at its local times
    assert "【分享须知】" in texts and "【嘉宾介绍】" in texts and "【答疑环节】" in texts and "【问题队列】" in texts
    assert "1. 小王：提问：每天读多久？" in texts and "【收尾】" in texts
    assert ("12:30", "mute", "") in [(t, k, x) for t, k, x in kinds] and any(k == "unmute" for _, k, _ in kinds)


def test_a_time_poll_then_fixing_the_time(cli: Cli) -> None:
    code, _, err = cli(
        "event",
        "create",
        "-c",
        "读书会",
        "--kind",
        "offline",
        "--title",
        "读书沙龙",
        "--key",
        "salon",
        "--poll",
        "周六下午",
        "--poll",
        "周日上午",
    )
    assert code == 0, err
    shown = json.loads(cli("event", "show", "salon", "--json")[1])
    assert shown["activity"]["status"] == "planning"
    assert [(r["local"], r["step"]) for r in shown["run_of_show"]] == [
        ("11-02 07:30", "poll")
    ]  # out of the quiet hours
    from tests.support.builders import msg

    app = App(cli.db, clock=cli.clock)  # type: ignore[attr-defined]
    app.ingest(
        [
            msg("u1", local(0, "08:00"), "1", platform="fake"),
            msg("u2", local(0, "08:01"), "2", platform="fake"),
            msg("u3", local(0, "08:02"), "2", platform="fake"),
            msg("u1", local(0, "08:03"), "2", platform="fake"),
        ]
    )
    app.close()
    assert json.loads(cli("event", "show", "salon", "--json")[1])["votes"] == [0, 3]  # each member's last vote
    code, _, _ = cli(
        "event",
        "create",
        "-c",
        "读书会",
        "--kind",
        "offline",
        "--title",
        "读书沙龙",
        "--key",
        "salon",
        "--at",
        "2026-11-08 09:30",
        "--poll",
        "周六下午",
        "--poll",
        "周日上午",
    )
    shown = json.loads(cli("event", "show", "salon", "--json")[1])
    assert code == 0 and shown["activity"]["status"] == "scheduled" and shown["votes"] == [0, 3]
    assert [r["step"] for r in shown["run_of_show"]][:3] == ["poll", "announce", "invite_contest"]


def test_shequn_run_settles_the_referral_contest_on_friday_at_five(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Book 2533 (每周五下午5点结算): nobody types a command; ``shequn run`` settles the week once, with the ranking."""
    from shequn.domain import Join, JoinMethod, stable_id
    from shequn.services.growth import Growth

    monkeypatch.setenv("SHEQUN_FAKE_PATH", str(tmp_path / "platform.jsonl"))
    app = App(cli.db, clock=cli.clock)  # type: ignore[attr-defined]
    growth = Growth(app)
    app.ingest([join("alice", cli.clock.now(), group="g1", platform="fake")])  # type: ignore[attr-defined]
    code = growth.link("读书会", "alice").code
    growth.contest("读书会", "weekly", start=cli.clock.now())  # type: ignore[attr-defined]
    at = cli.clock.now() + timedelta(hours=1)  # type: ignore[attr-defined]
    app.ingest(
        [
            Join(id=stable_id("j", who), at=at, platform="fake", group="g1", actor=who, actor_name=who,
                 method=JoinMethod.SELF, invite_code=code)
            for who in ("n1", "n2")
        ]
    )  # fmt: skip
    app.close()
    cli.clock.advance(timedelta(days=4, hours=9))  # type: ignore[attr-defined]  # Friday 16:00: not yet
    assert cli("run", "--until-idle", "--json")[0] == 0
    assert Growth(App(cli.db, clock=cli.clock)).settlements("weekly") == []  # type: ignore[attr-defined]
    cli.clock.advance(timedelta(hours=1, minutes=1))  # type: ignore[attr-defined]  # Friday 17:01
    assert cli("run", "--until-idle", "--json")[0] == 0
    assert cli("run", "--until-idle", "--json")[0] == 0
    [settled] = Growth(App(cli.db, clock=cli.clock)).settlements("weekly")  # type: ignore[attr-defined]
    assert "alice" in str(settled).lower()
    posted = [r for r in read_shown(tmp_path / "platform.jsonl") if ":referral:" in r["key"] or "referral" in r["key"]]
    assert {r["group"] for r in posted} == {"g1", "g2"}  # the ranking, once in each group


def test_shequn_run_runs_the_time_driven_policies(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check-in's acknowledgement, gathered for five minutes by ``acks``, is posted by the run's policy tick."""
    shown = tmp_path / "platform.jsonl"
    monkeypatch.setenv("SHEQUN_FAKE_PATH", str(shown))
    clock: VirtualClock = cli.clock  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=40))  # 07:40, the check-in is open
    app = App(cli.db, clock=clock)
    app.ingest([join("u1", clock.now(), platform="fake"), msg("u1", clock.now(), "签到", platform="fake")])

    def acks() -> list[dict[str, str]]:
        return [r for r in read_shown(shown) if r["key"].startswith("acks")] if shown.exists() else []

    assert cli("run", "--until-idle", "--no-scheduler", "--json")[0] == 0
    assert acks() == []  # gathered, not posted yet
    clock.advance(timedelta(minutes=6))
    code, _, err = cli("run", "--until-idle", "--no-scheduler", "--json")
    assert code == 0, err
    posted = acks()
    assert len(posted) == 1 and posted[0]["group"] == "g1" and "签到" in posted[0]["text"]
    assert cli("run", "--until-idle", "--no-scheduler", "--json")[0] == 0
    assert len(acks()) == 1  # once
