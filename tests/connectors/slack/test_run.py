"""shequn live in Slack channels, all through ``shequn run -c slack`` against the fake Slack: over Socket Mode the
welcome (and the rules accepted by DM), an ad account's first-message ad deleted (with an admin's user token) and the
account removed from the channel, a member's ladder (warned by DM, then removed), a
check-in answered, the 早报 at its minute, and a dropped socket that loses and repeats nothing; over the Events API a
bad signature and a stale timestamp refused, and a killed run that resumes from history; an export imported before
the live channel shares its ids."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shequn.playbook import load_playbook
from tests.connectors.matrix.live import MAIN, query, shequn, stop_run, wait_for
from tests.importers.helpers import DATA
from tests.support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    USER_TOKEN,
    FakeSlack,
    ThreadedSlack,
)

pytestmark = pytest.mark.slow
MAIN_CH, ADMIN_CH = "C0JL6CGQ2", "C0ADMIN01"  # the first is the channel of the real export in tests/data/slack
AD = "➕V：money20459，招代理，一件代发，日赚500"
LIMITS = (
    "platforms:\n  - platform: slack\n    limits: [{scope: bot, count: 1000, seconds: 1, documented: {url: "
    '"https://docs.slack.dev/apis/web-api/rate-limits", quote: "relaxed for tests"}}]\n'
)
SECRETS = (BOT_TOKEN, USER_TOKEN, APP_TOKEN, SIGNING_SECRET)


def spec(at: datetime) -> str:
    quiet = (at + timedelta(hours=6)).strftime("%H:00"), (at + timedelta(hours=8)).strftime("%H:00")
    jobs = [f"    {j.key}: {{enabled: false}}" for j in load_playbook().rhythm.jobs if j.key != "morning_report"]
    return "\n".join(
        [
            "name: 读书会",
            "type: growth",
            "locale: zh-CN",
            "timezone: UTC",
            "threshold: {kind: none}",
            "groups:",
            f'  - {{platform: slack, id: "{MAIN_CH}", name: traveling-sailor}}',
            f'  - {{platform: slack, id: "{ADMIN_CH}", name: staff, role: admin}}',
            "policies:",
            "  moderation: {ladder: [warn, remove]}",
            '  checkin: {opens_at: "00:00"}',
            "  acks: {batch_minutes: 0}",  # the check-in answered at once (by default gathered for 5 minutes)
            "rhythm:",
            f'  quiet_hours: {{start: "{quiet[0]}", end: "{quiet[1]}"}}',
            "  jobs:",
            f'    morning_report: {{enabled: true, at: "{at:%H:%M}", days: daily}}',
            *jobs,
            "",
        ]
    )


@pytest.fixture
def fake() -> Iterator[ThreadedSlack]:
    slack = FakeSlack()
    slack.channel(MAIN_CH, "traveling-sailor", {"U555": "小王", "U556": "小赵"})
    slack.channel(ADMIN_CH, "staff", {"U900": "运营"})
    threaded = ThreadedSlack(slack)
    yield threaded
    threaded.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    limits = Path(db).with_suffix(".limits.yaml")
    limits.write_text(LIMITS, encoding="utf-8")
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "slack", "--tick", "1", "--json", "--limits"]
    return subprocess.Popen(
        [*args, str(limits)], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def messages(db: str, text: str) -> int:
    rows = query(db, "select payload from event where platform='slack' and kind='message'")
    return sum(1 for (p,) in rows if json.loads(p).get("text") == text)


def dms(slack: FakeSlack, user: str) -> list[str]:
    return [str(p.get("text", "")) for p in slack.of("chat.postMessage") if p.get("channel") == f"D{user}"]


def test_a_reading_club_runs_live_in_slack_over_socket_mode(fake: ThreadedSlack, tmp_path: Path) -> None:
    slack = fake.slack
    port = fake(slack.serve())
    db = str(tmp_path / "slack.db")
    report_at = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    (tmp_path / "club.yaml").write_text(spec(report_at), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {
        "SHEQUN_SLACK_BOT_TOKEN": BOT_TOKEN,
        "SHEQUN_SLACK_APP_TOKEN": APP_TOKEN,
        "SHEQUN_SLACK_USER_TOKEN": USER_TOKEN,
        "SHEQUN_SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
    }
    proc = start(db, env)
    try:
        wait_for(lambda: slack.connections == 1 and slack.of("apps.connections.open"), 60, "the socket")

        # A newcomer is welcomed by name; the rules come by DM and a DM 同意 accepts them.
        fake(slack.join(MAIN_CH, "U700", "小广告"))
        wait_for(lambda: any("欢迎" in t and "小广告" in t for t in slack.texts(MAIN_CH)), 30, "the welcome")
        wait_for(lambda: dms(slack, "U700"), 30, "the rules by DM")
        fake(slack.direct("U700", "同意"))
        wait_for(lambda: len(dms(slack, "U700")) >= 2, 30, "the thanks for accepting")

        # The ad account's first words are an ad: deleted with the admin's token, the account removed (banned).
        ad = fake(slack.say(MAIN_CH, "U700", AD))
        wait_for(lambda: ad not in [m["ts"] for m in slack.channels[MAIN_CH].messages], 30, "the deletion")
        assert [kind for m, p, kind in slack.calls if m == "chat.delete" and p["ts"] == ad] == ["user"]
        wait_for(lambda: "U700" not in slack.channels[MAIN_CH].members, 30, "the ad account removed")

        # A member's ladder: an ad is deleted and warned by DM; a second one removes them from the channel.
        fake(slack.say(MAIN_CH, "U555", "大家好，我是小王，在上海做产品"))
        first = fake(slack.say(MAIN_CH, "U555", AD))
        wait_for(lambda: any(p["ts"] == first for p in slack.of("chat.delete")), 30, "the first deletion")
        wait_for(lambda: any("警告" in t for t in dms(slack, "U555")), 30, "the warning by DM")
        assert "U555" in slack.channels[MAIN_CH].members
        second = fake(slack.say(MAIN_CH, "U555", AD))
        wait_for(lambda: any(p["ts"] == second for p in slack.of("chat.delete")), 30, "the second deletion")
        wait_for(lambda: "U555" not in slack.channels[MAIN_CH].members, 30, "the removal")
        assert {"channel": MAIN_CH, "user": "U555"} in slack.of("conversations.kick")

        # A check-in is answered.
        fake(slack.say(MAIN_CH, "U556", "签到"))
        wait_for(lambda: any("签到" in t for t in slack.texts(MAIN_CH)), 30, "the check-in answer")

        # Slack drops the socket: what is said meanwhile arrives once (from history), what came before is not repeated.
        slack.delivering = False
        fake(slack.drop_socket())
        fake(slack.say(MAIN_CH, "U556", "断线时说的话"))
        lost_ad = fake(slack.say(MAIN_CH, "U556", AD))
        slack.delivering = True
        wait_for(lambda: slack.connections == 2, 60, "the reconnection")
        wait_for(lambda: any(p["ts"] == lost_ad for p in slack.of("chat.delete")), 60, "the missed ad deleted")
        fake(slack.say(MAIN_CH, "U556", "重连之后"))
        wait_for(lambda: messages(db, "重连之后") == 1, 30, "live again")
        assert messages(db, "断线时说的话") == 1
        assert messages(db, "大家好，我是小王，在上海做产品") == 1

        # The 早报 at its minute.
        report = wait_for(
            lambda: [t for t in slack.texts(MAIN_CH) if "读书会早报" in t],
            max(5.0, (report_at - datetime.now(UTC)).total_seconds() + 25),
            "the morning report",
            every=0.2,
        )
        arrived = datetime.now(UTC)
        assert len(report) == 1
        assert report_at <= arrived < report_at + timedelta(seconds=10), (report_at, arrived)
        assert proc.poll() is None
    except AssertionError:
        for row in query(db, "select kind, status, last_error, substr(payload, 1, 300) from action order by id"):
            print("ACTION", row)
        print("SENT", slack.texts(MAIN_CH))
        raise
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["failed"] == 0 and stats["sent"] >= 8, stats
    assert not any(s in out + err for s in SECRETS), "a token reached the output"


def test_the_events_api_refuses_forged_requests_and_a_killed_run_resumes(fake: ThreadedSlack, tmp_path: Path) -> None:
    slack = fake.slack
    port = fake(slack.serve())
    listen = f"127.0.0.1:{free_port()}"
    slack.events_url = f"http://{listen}/slack/events"
    db = str(tmp_path / "slack.db")
    # The channel's history imported first: the live channel is the same group, its people the same members.
    shequn(db, "import", str(DATA / "slack" / "traveling-sailor-export.zip"))
    imported = query(db, "select count(*) from event where platform='slack' and kind='message'")[0][0]
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {
        "SHEQUN_SLACK_BOT_TOKEN": BOT_TOKEN,
        "SHEQUN_SLACK_LISTEN": listen,
        "SHEQUN_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SHEQUN_SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
    }
    proc = start(db, env)
    try:
        wait_for(lambda: query(db, "select 1 from connector_cursor where connector='slack'"), 60, "the start")
        forged = {"type": "message", "channel": MAIN_CH, "user": "U556", "text": "伪造", "ts": "1999999999.000001"}
        body: dict[str, Any] = {"type": "event_callback", "event": forged}
        wait_for(lambda: _answer(fake, slack, body) != 0, 30, "the listener")
        assert fake(slack.post_event(body, secret="0" * 32)) == 401
        assert fake(slack.post_event(body, stamp=int(datetime.now(UTC).timestamp()) - 600)) == 401
        fake(slack.say(MAIN_CH, "U0BMYT2FL", "live from a member of the export"))
        wait_for(lambda: messages(db, "live from a member of the export") == 1, 30, "the live message")
        assert messages(db, "伪造") == 0
        groups = query(db, "select distinct json_extract(payload, '$.group') from event where platform='slack'")
        assert groups == [(MAIN_CH,)]  # the export and the live channel are one group
        members = query(
            db, "select count(*) from event where platform='slack' and json_extract(payload, '$.actor')='U0BMYT2FL'"
        )[0][0]
        assert members > 1  # the live author is the export's person
        fake(slack.say(MAIN_CH, "U556", "大家早上好"))
        wait_for(lambda: messages(db, "大家早上好") == 1, 30, "the first message")
    finally:
        stop_run(proc, signal.SIGKILL)
    # While shequn is down the channel goes on; a restart asks history from the last message it handed on.
    slack.delivering = False
    for text in ("停机时一", "停机时二", "停机时三"):
        fake(slack.say(MAIN_CH, "U556", text))
    slack.delivering = True
    proc = start(db, env)
    try:
        wait_for(lambda: all(messages(db, t) == 1 for t in ("停机时一", "停机时二", "停机时三")), 60, "the gap")
        fake(slack.say(MAIN_CH, "U556", "重启之后"))
        wait_for(lambda: messages(db, "重启之后") == 1, 30, "live again")
        assert messages(db, "大家早上好") == 1
        total = query(db, "select count(*) from event where platform='slack' and kind='message'")[0][0]
        assert total == imported + 6  # nothing repeated
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert not any(s in out + err for s in SECRETS), "a token or the signing secret reached the output"


def _answer(fake: ThreadedSlack, slack: FakeSlack, body: dict[str, Any]) -> int:
    """A correctly signed request of an event outside the bound channels (0: the listener is not up yet)."""
    probe = {**body, "event": {"type": "message", "channel": "C0OTHER00", "user": "U1", "text": "x", "ts": "1.0"}}
    try:
        return fake(slack.post_event(probe))
    except Exception:
        return 0
