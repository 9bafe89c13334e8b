"""``shequn bench matrix``: a live community on a real Synapse, driven through ``shequn run``.

People post ordinary messages and ads in one room while ``shequn run`` (a child process, as in production) moderates
it. Measured: the time from an ad being posted to its redaction, from the homeserver's own timestamps of both events
(``origin_server_ts``, one clock), p50 and p95; and the bot's CPU time per message (user + system time of the
``shequn run`` process while the messages flow, divided by the messages), beside the homeserver's CPU per message
in the same run as the peer (Synapse is the cost floor of a Matrix community: every message passes through it).

Goals (shequn's): an ad gone within a second at p95 (before most members have read it), and the bot cheaper per
message than the homeserver that carries it.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOAL_P95_MS = 1000.0
AD = "➕V：money{n}，招代理，一件代发，日赚500，加我微信详聊"
MAIN = "from shequn.cli.main import main; main()"
LIMITS = (
    "platforms:\n  - platform: matrix\n    limits: [{scope: bot, count: 1000, seconds: 1, documented: "
    '{url: "https://element-hq.github.io/synapse/latest/usage/configuration/config_documentation.html#rc_message", '
    'quote: "rc_message relaxed on the benchmark homeserver"}}]\n'
)
TALK = ["今天读到第三章了", "有人一起去跑步吗", "这本书推荐给大家", "周末的分享几点开始？", "谢谢群主的整理", "收到"]


@dataclass(slots=True)
class MatrixFigures:
    messages: int
    ads: int
    redacted: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    bot_cpu_ms_per_msg: float
    synapse_cpu_ms_per_msg: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "ads": self.ads,
            "redacted": self.redacted,
            "ad_to_redaction_p50_ms": round(self.p50_ms, 1),
            "ad_to_redaction_p95_ms": round(self.p95_ms, 1),
            "ad_to_redaction_max_ms": round(self.max_ms, 1),
            "p95_goal_ms": GOAL_P95_MS,
            "p95_x_goal": round(GOAL_P95_MS / self.p95_ms, 2) if self.p95_ms else None,
            "bot_cpu_ms_per_message": round(self.bot_cpu_ms_per_msg, 2),
            "synapse_cpu_ms_per_message": round(self.synapse_cpu_ms_per_msg, 2),
            "bot_vs_synapse": round(self.bot_cpu_ms_per_msg / self.synapse_cpu_ms_per_msg, 2)
            if self.synapse_cpu_ms_per_msg
            else None,
            "seconds": round(self.seconds, 1),
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(messages: int = 300, ads: int = 40, members: int = 20) -> MatrixFigures:
    import sqlite3

    from shequn.bench.homeserver import Synapse

    work = Path(tempfile.mkdtemp(prefix="shequn-bench-matrix-"))
    hs = Synapse(work / "synapse")
    hs.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        op, bot = hs.register("operator"), hs.register("shequnbot")
        people = [hs.register(f"member{i}") for i in range(members)]
        spammers = [hs.register(f"spammer{i}") for i in range(ads)]
        room = op.create_room("bench", power={bot.user_id: 100})
        admin = op.create_room("bench admin", power={bot.user_id: 100})
        bot.join(room)
        bot.join(admin)
        db = str(work / "shequn.db")
        spec = work / "community.yaml"
        spec.write_text(
            "name: 压测群\ntype: growth\nlocale: zh-CN\ntimezone: Asia/Shanghai\nthreshold: {kind: none}\n"
            f'groups:\n  - {{platform: matrix, id: "{room}", name: 主群}}\n'
            f'  - {{platform: matrix, id: "{admin}", name: 管理群, role: admin}}\n'
            "policies:\n  moderation: {ladder: [warn, remove]}\nrhythm: {enabled: false}\n",
            encoding="utf-8",
        )
        (work / "limits.yaml").write_text(LIMITS, encoding="utf-8")
        subprocess.run(
            [sys.executable, "-c", MAIN, "--db", db, "community", "apply", str(spec)], check=True, capture_output=True
        )
        env = {
            **os.environ,
            "SHEQUN_MATRIX_HOMESERVER": hs.url,
            "SHEQUN_MATRIX_USER": bot.user_id,
            "SHEQUN_MATRIX_TOKEN": bot.token,
        }
        args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "matrix", "--no-scheduler"]
        args += ["--limits", str(work / "limits.yaml")]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def q(sql: str) -> Any:
            with sqlite3.connect(db, timeout=30) as conn:
                try:
                    return conn.execute(sql).fetchall()
                except sqlite3.OperationalError:
                    return []

        _wait(lambda: q("select 1 from connector_cursor where name='since'"), 60, "the first sync")
        for p in [*people, *spammers]:
            p.join(room)
        joined = len(people) + len(spammers)
        _wait(lambda: q("select count(*) from event where kind='join'")[0][0] >= joined, 120, "the joins")
        _wait(
            lambda: q("select count(*) from action where status in ('pending','sending')")[0][0] == 0, 180, "welcomes"
        )
        for s in spammers:  # the spammers pose as members first (an ad as a first word is dealt with harder)
            s.say(room, "大家好")
        _wait(lambda: q("select count(*) from event where kind='message'")[0][0] >= len(spammers), 60, "hellos")

        bot_cpu, hs_cpu = cpu_seconds(proc.pid), cpu_seconds(hs.proc.pid)  # type: ignore[union-attr]
        started = time.perf_counter()
        ad_ids: list[str] = []
        every = max(messages // max(ads, 1), 1)
        sent, k = 0, 0
        for i in range(messages):
            people[i % len(people)].say(room, f"{TALK[i % len(TALK)]}（{i}）")
            sent += 1
            if i % every == every - 1 and k < len(spammers):
                ad_ids.append(spammers[k].say(room, AD.format(n=20000 + k)))
                sent += 1
                k += 1
        total = len(spammers) + sent
        _wait(lambda: q("select count(*) from event where kind='message'")[0][0] >= total, 120, "the messages")
        done = "select count(*) from action where kind='delete_message' and status='sent'"
        _wait(lambda: q(done)[0][0] >= len(ad_ids), 120, "the redactions")
        _wait(lambda: q("select count(*) from action where status in ('pending','sending')")[0][0] == 0, 120, "sends")
        seconds = time.perf_counter() - started
        bot_used = cpu_seconds(proc.pid) - bot_cpu
        hs_used = cpu_seconds(hs.proc.pid) - hs_cpu  # type: ignore[union-attr]

        timeline = op.messages(room, limit=1000)
        posted = {e["event_id"]: e["origin_server_ts"] for e in timeline}
        redactions = {
            e.get("redacts") or e["content"].get("redacts"): e["origin_server_ts"]
            for e in timeline
            if e["type"] == "m.room.redaction"
        }
        lat = sorted(redactions[a] - posted[a] for a in ad_ids if a in redactions and a in posted)
        if not lat:
            raise RuntimeError("no ad was redacted")
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        return MatrixFigures(
            messages=sent,
            ads=len(ad_ids),
            redacted=len(lat),
            p50_ms=float(statistics.median(lat)),
            p95_ms=float(p95),
            max_ms=float(lat[-1]),
            bot_cpu_ms_per_msg=bot_used * 1000 / sent,
            synapse_cpu_ms_per_msg=hs_used * 1000 / sent,
            seconds=seconds,
        )
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        hs.stop()
