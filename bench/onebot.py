"""``shequn bench onebot``: a QQ group moderated live through ``shequn run -c qq`` and the fake OneBot v11
implementation (``bench/onebot_fake.py``, the one the QQ tests use; no real QQ can run offline).

Members post ordinary messages and ads over the forward WebSocket while ``shequn run`` (a child process, as in
production) moderates the group. Measured: the time from an ad being pushed to the ``delete_msg`` call reaching the
implementation (one clock: both happen in the benchmark's process), p50 and p95; and the connector's CPU time per
message (user + system time of the ``shequn run`` process while the messages flow, divided by the messages: the
engine, the store and the outbox included, as in ``shequn bench matrix``). The platform limits are relaxed, as on
the Matrix benchmark: the outbox's pacing is a choice, the path is what is measured.

Goal (shequn's): an ad recalled within a second at p95, as on Matrix.
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

from shequn.bench.matrix import AD, GOAL_P95_MS, MAIN, TALK, cpu_seconds

GROUP, ADMIN = 100200300, 100200301
TOKEN = "bench-onebot-token"
LIMITS = (
    "platforms:\n  - platform: qq\n    limits: [{scope: bot, count: 1000, seconds: 1, documented: {url: "
    '"https://docs.go-cqhttp.org/guide/config.html", quote: "rate-limit relaxed for the benchmark"}}]\n'
)


@dataclass(slots=True)
class OneBotFigures:
    messages: int
    ads: int
    recalled: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    bot_cpu_ms_per_msg: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "ads": self.ads,
            "recalled": self.recalled,
            "ad_to_recall_p50_ms": round(self.p50_ms, 1),
            "ad_to_recall_p95_ms": round(self.p95_ms, 1),
            "ad_to_recall_max_ms": round(self.max_ms, 1),
            "p95_goal_ms": GOAL_P95_MS,
            "p95_x_goal": round(GOAL_P95_MS / self.p95_ms, 2) if self.p95_ms else None,
            "bot_cpu_ms_per_message": round(self.bot_cpu_ms_per_msg, 2),
            "seconds": round(self.seconds, 1),
        }


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def run(messages: int = 300, ads: int = 40, members: int = 20) -> OneBotFigures:
    from shequn.bench.onebot_fake import FakeOneBot, ThreadedOneBot

    work = Path(tempfile.mkdtemp(prefix="shequn-bench-onebot-"))
    bot = FakeOneBot(token=TOKEN, heartbeat=5.0)
    people = list(range(20001, 20001 + members))
    spammers = list(range(30001, 30001 + ads))
    bot.group(GROUP, "压测群", members={uid: f"成员{uid}" for uid in people + spammers})
    bot.group(ADMIN, "压测管理群", members={1: "运营"})
    fake = ThreadedOneBot(bot)
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = fake(bot.serve())
        db = str(work / "shequn.db")
        spec = work / "community.yaml"
        spec.write_text(
            "name: 压测群\ntype: growth\nlocale: zh-CN\ntimezone: Asia/Shanghai\nthreshold: {kind: none}\n"
            f'groups:\n  - {{platform: qq, id: "{GROUP}", name: 主群}}\n'
            f'  - {{platform: qq, id: "{ADMIN}", name: 管理群, role: admin}}\n'
            "policies:\n  moderation: {ladder: [warn, remove]}\nrhythm: {enabled: false}\n",
            encoding="utf-8",
        )
        (work / "limits.yaml").write_text(LIMITS, encoding="utf-8")
        subprocess.run(
            [sys.executable, "-c", MAIN, "--db", db, "community", "apply", str(spec)], check=True, capture_output=True
        )
        env = {**os.environ, "SHEQUN_ONEBOT_WS": f"ws://127.0.0.1:{port}/", "SHEQUN_ONEBOT_TOKEN": TOKEN}
        args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "qq", "--no-scheduler"]
        args += ["--limits", str(work / "limits.yaml")]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait(lambda: len(bot.of("get_group_member_list")) >= 2, 60, "the connection and the roster")
        for s in spammers:  # the spammers pose as members first (an ad as a first word is dealt with harder)
            fake(bot.say(GROUP, s, "大家好"))
        time.sleep(1.0)

        bot_cpu = cpu_seconds(proc.pid)
        started = time.perf_counter()
        ad_ids: list[int] = []
        every = max(messages // max(ads, 1), 1)
        sent = k = 0
        for i in range(messages):
            fake(bot.say(GROUP, people[i % len(people)], f"{TALK[i % len(TALK)]}（{i}）"))
            sent += 1
            if i % every == every - 1 and k < len(spammers):
                ad_ids.append(fake(bot.say(GROUP, spammers[k], AD.format(n=20000 + k))))
                sent += 1
                k += 1
            time.sleep(0.01)  # a busy group, not a flood: about 100 messages a second
        _wait(lambda: all(a in bot.recalled_at for a in ad_ids), 120, "the recalls")
        _wait(lambda: len(bot.private) >= len(ad_ids), 60, "the warnings")
        seconds = time.perf_counter() - started
        bot_used = cpu_seconds(proc.pid) - bot_cpu
        lat = sorted((bot.recalled_at[a] - bot.said_at[a]) * 1000 for a in ad_ids)
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        return OneBotFigures(
            messages=sent,
            ads=len(ad_ids),
            recalled=len(lat),
            p50_ms=float(statistics.median(lat)),
            p95_ms=float(p95),
            max_ms=float(lat[-1]),
            bot_cpu_ms_per_msg=bot_used * 1000 / sent,
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
        fake.close()
