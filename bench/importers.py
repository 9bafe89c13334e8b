"""``shequn bench import``: importing a large WhatsApp export and a large Telegram export, against the peers.

Goal (issue 3): shequn, parsing and storing into SQLite, at least 5× faster than whatstk's ``df_from_whatsapp`` and
3× faster than chat-miner's parsers (which only parse), on the same files, in the same run. Each run happens in a
fresh process pinned to one core (``bench/harness.py``); the exports are generated once (1,000,000 messages each by
default, in the layouts the apps write: WhatsApp's ``dd/mm/yyyy, HH:MM - Name: text`` with multi-line messages,
media and system lines; Telegram Desktop's pretty-printed JSON with ``text_entities``, replies and service
messages) and kept in the temporary folder for the next run.

The row "SQLite alone" is the floor under any importer of this log: the same rows copied into an empty store by
SQLite's own C code, the log's indexes built, committed (:func:`run_sqlite_floor`). Each comparison row reports what
the goal leaves for parsing and storing (``goal_s``) beside it (``sqlite_alone_s``): where the first is smaller, no
parser, however fast, can meet the goal with this log in SQLite.

shequn's figure is the whole import into the event log, up to and including the commit: reading and parsing the
file, event ids, the groups and identities (persons) found, writing the log in one transaction, building the log's
indexes (a big load builds them once at the end, ``store/events.py``), naming and binding the groups, and the commit
with its WAL checkpoint. At the end of it every event is in the log with its identity, deduplicated and queryable.
Building the derived state afterwards (``catch_up``: the engine over the new events, members and memberships) is
not in the figure; it is reported beside it (``derived_state_s``).
The peers come from the ``bench`` extra (``pip install -e '.[bench]'``); a peer that is not installed is reported
as such, not skipped silently.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shequn.bench.harness import Measurement, measure

WORDS = [
    "今天",
    "群里",
    "打卡",
    "读书",
    "分享",
    "一下",
    "大家",
    "早上好",
    "晚安",
    "谢谢",
    "收到",
    "好的",
    "明天",
    "活动",
    "报名",
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "🎉",
    "👍",
    "😂",
    "ok",
]


def _names(r: random.Random, n: int) -> list[str]:
    family = "王李张刘陈杨黄赵吴周"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞"
    people = [f"{r.choice(family)}{r.choice(given)}{r.choice(given)}" for _ in range(n // 2)]
    people += [f"User {i}" for i in range(n // 2 - 10)]
    people += [f"+86 1{r.randint(30, 89)} {r.randint(1000, 9999)} {r.randint(1000, 9999)}" for _ in range(10)]
    return people


def _text(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(2, 18)))


def cache_dir() -> Path:
    folder = Path(os.environ.get("SHEQUN_BENCH_DIR") or Path(tempfile.gettempdir()) / "shequn-bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def whatsapp_export(messages: int, seed: int = 1) -> Path:
    """A WhatsApp export of ``messages`` messages (Android, 24 h, day first), made once and kept."""
    path = cache_dir() / f"WhatsApp Chat with Bench {messages}-{seed}.txt"
    if path.exists():
        return path
    r = random.Random(seed)
    people = _names(r, 300)
    t = datetime(2021, 1, 1, 8, 0)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as f:
        written = 0
        while written < messages:
            t += timedelta(seconds=r.randint(1, 90))
            head = f"{t:%d/%m/%Y, %H:%M} - "
            roll = r.random()
            if roll < 0.002:
                f.write(f"{head}{r.choice(people)} added {r.choice(people)}\n")
                continue
            if roll < 0.003:
                f.write(f"{head}{r.choice(people)} left\n")
                continue
            who = r.choice(people)
            if roll < 0.03:
                body = "<Media omitted>"
            elif roll < 0.05:
                body = _text(r) + "\n" + _text(r)
            else:
                body = _text(r)
            f.write(f"{head}{who}: {body}\n")
            written += 1
    tmp.rename(path)
    return path


def telegram_export(messages: int, seed: int = 1) -> Path:
    """A Telegram Desktop export of a supergroup with ``messages`` messages, in Telegram's own layout."""
    path = cache_dir() / f"telegram-{messages}-{seed}.json"
    if path.exists():
        return path
    r = random.Random(seed)
    people = [(f"user{1000 + i}", name) for i, name in enumerate(_names(r, 300))]
    t = datetime(2021, 1, 1, 8, 0)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as f:
        f.write('{\n "name": "Bench group",\n "type": "private_supergroup",\n "id": 1234567890,\n "messages": [\n')
        for i in range(1, messages + 1):
            t += timedelta(seconds=r.randint(1, 90))
            uid, name = r.choice(people)
            m: dict[str, Any] = {
                "id": i,
                "type": "message",
                "date": t.isoformat(),
                "date_unixtime": str(int(t.timestamp())),
            }
            roll = r.random()
            if roll < 0.002:
                m.update(type="service", actor=name, actor_id=uid, action="join_group_by_link", text="")
                m["text_entities"] = []
            else:
                m.update({"from": name, "from_id": uid})
                if roll < 0.1 and i > 1:
                    m["reply_to_message_id"] = r.randint(max(1, i - 50), i - 1)
                if roll > 0.97:
                    m.update(
                        photo="(File not included. Change data exporting settings to download.)", width=1280, height=960
                    )
                if roll > 0.9 and roll <= 0.97:
                    parts: list[Any] = [_text(r) + " ", {"type": "mention", "text": "@bench"}, " " + _text(r)]
                    m["text"] = parts
                    m["text_entities"] = [
                        {"type": "plain", "text": parts[0]},
                        parts[1],
                        {"type": "plain", "text": parts[2]},
                    ]
                else:
                    text = _text(r)
                    m["text"] = text
                    m["text_entities"] = [{"type": "plain", "text": text}]
            body = json.dumps(m, ensure_ascii=False, indent=1).replace("\n", "\n  ")
            f.write(f"  {body}{',' if i < messages else ''}\n")
        f.write(" ]\n}\n")
    tmp.rename(path)
    return path


def run_shequn(path: str, keep: str = "") -> tuple[int, float, dict[str, Any]]:
    """shequn's import into a fresh SQLite store: parse and store (timed), then the derived state (reported).

    With ``keep``, the store is moved there afterwards (for :func:`run_sqlite_floor`)."""
    from zoneinfo import ZoneInfo

    from shequn.app import App
    from shequn.importers import Importer, Options, plan

    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        db = Path(tmp) / "bench.db"
        app = App(str(db))
        planned, _ = plan([Path(path)])
        importer = Importer(app, Options(tz=ZoneInfo("Asia/Shanghai")))
        caught: dict[str, float] = {}

        def timed_catch_up() -> Any:
            started = time.perf_counter()
            result = App.catch_up(app)
            caught["seconds"] = time.perf_counter() - started
            return result

        app.catch_up = timed_catch_up  # type: ignore[method-assign]
        started = time.perf_counter()
        report = importer.run(planned)
        total = time.perf_counter() - started
        messages = sum(g.received.get("message", 0) for g in report.groups.values())
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        app.close()
        if keep:
            db.replace(keep)
    stored = total - caught.get("seconds", 0.0)
    return (
        messages,
        stored,
        {
            "events": report.added,
            "derived_state_s": round(caught.get("seconds", 0.0), 2),
            "db_mb": round(size / 2**20),
        },
    )


def run_sqlite_floor(source: str) -> tuple[int, float, dict[str, Any]]:
    """SQLite alone writing the same log: the event rows of ``source`` (a store shequn's import made) copied into an
    empty store by one ``INSERT … SELECT`` (SQLite's C code, no Python per row), the log's indexes built, committed
    and checkpointed, with the store's own settings (foreign keys checked). No importer can write this log faster on
    this machine; the goals' budget for parsing *and* storing is compared against it."""
    import sqlite3

    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        for pragma in ("page_size=8192", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536",
                       "temp_store=MEMORY", "wal_autocheckpoint=8192"):  # fmt: skip
            conn.execute(f"PRAGMA {pragma}")  # the settings of shequn.store.db
        conn.execute("ATTACH ? AS src", (source,))
        query = "SELECT type, name, tbl_name, sql FROM src.sqlite_master WHERE sql IS NOT NULL"
        schema = conn.execute(query).fetchall()
        for kind, name, _, sql in schema:  # everything but the log's rows and indexes, untimed
            if kind == "table" and not name.startswith("sqlite_"):
                conn.execute(sql)
                if name != "event":
                    conn.execute(f'INSERT INTO main."{name}" SELECT * FROM src."{name}"')
        indexes = [sql for kind, _, table, sql in schema if kind == "index" and table == "event"]
        conn.execute("PRAGMA foreign_keys=ON")
        started = time.perf_counter()
        conn.execute("BEGIN")
        rows = conn.execute("INSERT INTO main.event SELECT * FROM src.event").rowcount
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - started
        conn.close()
    return rows, seconds, {"indexes": len(indexes)}


def run_whatstk(path: str) -> tuple[int, float, dict[str, Any]]:
    from whatstk import df_from_whatsapp

    warnings.simplefilter("ignore")
    started = time.perf_counter()
    df = df_from_whatsapp(path, max_size=None)
    return len(df), time.perf_counter() - started, {}


def _quiet() -> None:
    logging.disable(logging.CRITICAL)
    os.environ["TQDM_DISABLE"] = "1"


def run_chatminer_whatsapp(path: str) -> tuple[int, float, dict[str, Any]]:
    _quiet()
    from chatminer.chatparsers import WhatsAppParser

    started = time.perf_counter()
    parser = WhatsAppParser(path)
    parser.parse_file()
    seconds = time.perf_counter() - started
    return len(parser.parsed_messages._parsed_messages), seconds, {}


def run_chatminer_telegram(path: str) -> tuple[int, float, dict[str, Any]]:
    _quiet()
    from chatminer.chatparsers import TelegramJsonParser

    started = time.perf_counter()
    parser = TelegramJsonParser(path)
    parser.parse_file()
    seconds = time.perf_counter() - started
    return len(parser.parsed_messages._parsed_messages), seconds, {}


def _peer(name: str, fn: Any, path: str) -> Measurement | None:
    try:
        return measure(name, fn, path)
    except RuntimeError as exc:
        if "ModuleNotFoundError" in str(exc):
            logging.getLogger("shequn.bench").warning("%s is not installed (pip install -e '.[bench]')", name)
            return None
        raise


def run(messages: int = 1_000_000, seed: int = 1) -> list[Measurement]:
    """Both exports, shequn and the peers on each; the goal of shequn's rows is the peer's rate × the factor."""
    rows: list[Measurement] = []
    wa = str(whatsapp_export(messages, seed))
    tg = str(telegram_export(messages, seed))
    for label, path, peers in (
        (
            "WhatsApp",
            wa,
            (
                ("whatstk df_from_whatsapp", run_whatstk, 5.0),
                ("chat-miner WhatsAppParser", run_chatminer_whatsapp, 3.0),
            ),
        ),
        ("Telegram", tg, (("chat-miner TelegramJsonParser", run_chatminer_telegram, 3.0),)),
    ):
        kept = cache_dir() / f"{label}-import.db"
        ours = measure(f"{label}: shequn import (parse + store, SQLite)", run_shequn, path, str(kept))
        ours.extra["file_mb"] = round(Path(path).stat().st_size / 2**20)
        rows.append(ours)
        floor = measure(f"{label}: SQLite alone, the same log (no parsing)", run_sqlite_floor, str(kept))
        kept.unlink()
        rows.append(floor)
        for name, fn, factor in peers:
            peer = _peer(f"{label}: {name}", fn, path)
            if peer is None:
                rows.append(Measurement(f"{label}: {name} (not installed)", 0, 0.0, 0.0))
                continue
            rows.append(peer)
            vs = Measurement(
                f"{label}: shequn vs {name.split()[0]} (goal {factor:g}×)",
                ours.items,
                ours.seconds,
                ours.peak_mb,
                goal_per_s=peer.per_second * factor,
                extra={
                    "speedup": round(ours.per_second / peer.per_second, 2),
                    "goal": factor,
                    "goal_s": round(peer.seconds / factor, 2),  # what the goal leaves for parsing and storing
                    "sqlite_alone_s": round(floor.seconds, 2),
                },
            )
            rows.append(vs)
    return rows


def run_memory(gigabytes: float = 1.0, seed: int = 1) -> list[Measurement]:
    """Peak resident memory while importing a Telegram export of at least ``gigabytes`` GB (goal: < 300 MB)."""
    per_message = 400  # bytes per message in the generated layout (a little less: the file ends over the size)
    messages = int(gigabytes * 1e9 / per_message) + 1
    path = telegram_export(messages, seed)
    row = measure(f"Telegram {path.stat().st_size / 1e9:.2f} GB: shequn import", run_shequn, str(path))
    row.extra["goal_peak_mb"] = 300
    return [row]
