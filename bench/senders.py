"""``shequn bench senders``: two ``shequn run`` processes sending on one PostgreSQL, the limits held across both.

Each process runs its own workspace and bot account (``SHEQUN_FAKE_BOT``) on the fake platform, and the workspaces'
groups are the same chats, so the per-platform window and the per-chat windows are shared by the two processes and
only the store (``send_mark``, claims under an advisory lock per platform) can keep them. Afterwards it reads when
each action was claimed (``action.claimed_ms``) and what the fake platform shows (an fsync'ed file per process) and
reports the most sends seen in any window of each scope against its limit, duplicates and losses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

# Tight windows, so a few seconds of sending fill them: two bots together could send 2 × 5 a second, the platform
# allows 8, and each chat 2 a second across both.
LIMITS = {"platform": (8, 1.0), "bot": (5, 1.0), "group": (2, 1.0)}


def max_in_window(times_ms: list[int], window_ms: int) -> int:
    """The most sends within any ``window_ms`` (a sliding window, as the outbox keeps it)."""
    times = sorted(times_ms)
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= window_ms:
            j += 1
        best = max(best, i - j + 1)
    return best


def write_limits(path: Path) -> None:
    doc = {"url": "https://example.org/bench-limits", "quote": "bench limit"}
    limits = [{"scope": s, "count": c, "seconds": sec, "documented": doc} for s, (c, sec) in LIMITS.items()]
    path.write_text(yaml.safe_dump({"platforms": [{"platform": "fake", "limits": limits}]}), encoding="utf-8")


def _prepare(db: str, processes: int, groups: int, per_group: int, lead_s: float) -> list[str]:
    from shequn.app import App
    from shequn.domain import Post
    from shequn.playbook.spec import CommunitySpec

    keys = []
    now = datetime.now(UTC) + timedelta(seconds=lead_s)  # due once every process is up: they send at the same time
    for p in range(processes):
        app = App(db, workspace=f"senders{p}")
        chats = [{"platform": "fake", "id": f"g{g}", "name": f"g{g}"} for g in range(groups)]
        app.apply_spec(CommunitySpec.model_validate({"name": "读书会", "type": "growth", "groups": chats}))
        posts = [
            Post(key=f"w{p}:g{g}:{i}", at=now, community="读书会", platform="fake", group=f"g{g}", text=f"#{i}")
            for i in range(per_group)
            for g in range(groups)
        ]
        with app.store.transaction() as conn:
            app.enqueue_actions(conn, posts)
        keys += [a.key for a in posts]
        app.close()
    return keys


def _start(db: str, p: int, shown: Path, limits: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHEQUN_FAKE_PATH": str(shown), "SHEQUN_FAKE_BOT": f"bot-{p}"}
    code = "from shequn.cli.main import main; main()"
    args = [sys.executable, "-c", code, "--db", db, "--workspace", f"senders{p}", "run", "-c", "fake"]
    args += ["--until-idle", "--no-scheduler", "--limits", str(limits), "--json"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(
    url: str | None, *, processes: int = 2, groups: int = 4, per_group: int = 8, lead_s: float = 8.0
) -> dict[str, Any]:
    """Send ``groups × per_group`` posts from each of ``processes`` workspaces, all due ``lead_s`` seconds after
    they were written (time for the processes to start); return the figures."""
    from shequn.connectors.fake import read_shown
    from shequn.domain import UserError
    from shequn.i18n import t
    from shequn.store import Store, normalize_url

    db = normalize_url(url)
    if db.startswith("sqlite"):
        raise UserError(t("senders.sqlite", None), exit_code=2)
    keys = _prepare(db, processes, groups, per_group, lead_s)
    with tempfile.TemporaryDirectory(prefix="shequn-senders-") as tmp:
        limits = Path(tmp) / "limits.yaml"
        write_limits(limits)
        files = [Path(tmp) / f"shown{p}.jsonl" for p in range(processes)]
        started = time.monotonic()
        procs = [_start(db, p, files[p], limits) for p in range(processes)]
        errors = [proc.communicate(timeout=600)[1].decode() for proc in procs]
        seconds = time.monotonic() - started
        failed = [e for proc, e in zip(procs, errors, strict=True) if proc.returncode != 0]
        if failed:
            raise RuntimeError(f"a sender process failed: {failed[0][-2000:]}")
        shown = [[r for r in read_shown(f)] for f in files]
    store = Store(db)
    with store.transaction() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.key, a.status, a.claimed_ms, w.name FROM action a JOIN workspace w ON w.id = a.workspace_id"
            " WHERE w.name LIKE 'senders%%'"
        ).fetchall()
    store.close()
    by: dict[str, dict[str, list[int]]] = {"platform": defaultdict(list), "bot": defaultdict(list)}
    by["group"] = defaultdict(list)
    for key, _status, claimed, ws in rows:
        if claimed is None:
            continue
        by["platform"]["fake"].append(int(claimed))
        by["bot"][ws].append(int(claimed))
        by["group"][key.split(":")[1]].append(int(claimed))
    seen = [r["key"] for rs in shown for r in rs]
    spans = [(min(r["at"] for r in rs), max(r["at"] for r in rs)) for rs in shown if rs]
    overlap = max(0.0, min(e for _, e in spans) - max(s for s, _ in spans)) if len(spans) > 1 else 0.0
    most = {
        scope: max(max_in_window(v, round(sec * 1000)) for v in by[scope].values())
        for scope, (_, sec) in LIMITS.items()
    }
    held = {s: {"limit": f"{c}/{sec:g}s", "most_in_any_window": most[s]} for s, (c, sec) in LIMITS.items()}
    return {
        "processes": processes,
        "actions": len(keys),
        "sent": len(set(seen)),
        "duplicates": len(seen) - len(set(seen)),
        "lost": len(set(keys) - set(seen)),
        "seconds": round(seconds, 2),
        "both_sending_s": round(overlap, 2),
        "limits": held,
        "limits_held": all(most[s] <= LIMITS[s][0] for s in LIMITS),
        "load_average": round(os.getloadavg()[0], 1),
        "statuses": dict(sorted(Counter(str(r[1]) for r in rows).items())),
    }
