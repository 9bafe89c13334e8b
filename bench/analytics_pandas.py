"""The peer of ``shequn bench analytics``: the report's per-group metrics written the straightforward pandas way.

It reads the same analytics snapshot (Parquet) and computes, per group, over the same window: messages, speakers,
members at the end, newcomers and leaves, newcomer activation in 24 h, questions, answered questions and the median
minutes to the first answer, responses received per person, promotional messages and replies per person (the
ad-account evidence), the daily series of messages and speakers, the weekday × hour heatmap, and the last message.
``tests/analytics/test_bench_peer.py`` checks its figures equal the DuckDB engine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

DAY = 86_400_000
HOUR = 3_600_000
COLUMNS = [
    "seq", "kind", "at_ms", "group_id", "person_id", "content", "question", "contact", "link", "from_bot", "method",
    "reason", "target_seq", "target_p",
]  # fmt: skip


def metrics(files: Sequence[Path], *, days: int, off: int = 8 * HOUR) -> dict[int, dict[str, Any]]:
    ev = pd.concat([pd.read_parquet(f, columns=COLUMNS) for f in files], ignore_index=True)
    last = int(ev["at_ms"].max())
    t1 = ((last + off) // DAY + 1) * DAY - off
    t0 = t1 - days * DAY
    msg = ev[(ev["kind"] == "message") & (~ev["from_bot"]) & (ev["content"] != "system") & ev["group_id"].notna()
             & ev["person_id"].notna()]  # fmt: skip
    w = msg[(msg["at_ms"] >= t0) & (msg["at_ms"] < t1)]
    out: dict[int, dict[str, Any]] = {}
    by = w.groupby("group_id")
    counts = by.size()
    speakers = by["person_id"].nunique()
    for g in counts.index:
        out[int(g)] = {"messages": int(counts[g]), "speakers": int(speakers[g])}
    # membership transitions → members at the end, newcomers, leaves
    mem = ev[ev["kind"].isin(["join", "leave"]) & ev["person_id"].notna()].sort_values(["at_ms", "seq"])
    mem = mem.assign(prev=mem.groupby(["group_id", "person_id"])["kind"].shift())
    tr = mem[((mem["kind"] == "join") & (mem["prev"].isna() | (mem["prev"] == "leave")))
             | ((mem["kind"] == "leave") & (mem["prev"] != "leave"))]  # fmt: skip
    last_state = tr.groupby(["group_id", "person_id"])["kind"].last()
    members = last_state[last_state == "join"].groupby(level=0).size()
    for g, n in members.items():
        out.setdefault(int(g), {})["members"] = int(n)
    wtr = tr[tr["at_ms"] >= t0]
    joins = wtr[(wtr["kind"] == "join") & (wtr["method"] != "roster")]
    for g, n in joins.groupby("group_id").size().items():
        out.setdefault(int(g), {})["joins"] = int(n)
    removed = wtr["reason"].isin(["removed", "banned", "expired"])
    for g, n in wtr[(wtr["kind"] == "leave") & ~removed].groupby("group_id").size().items():
        out.setdefault(int(g), {})["leaves_voluntary"] = int(n)
    for g, n in wtr[(wtr["kind"] == "leave") & removed].groupby("group_id").size().items():
        out.setdefault(int(g), {})["leaves_removed"] = int(n)
    # activation within 24 h
    first_join = joins.groupby(["group_id", "person_id"])["at_ms"].min().rename("j").reset_index()
    fm = first_join.merge(msg[["group_id", "person_id", "at_ms"]], on=["group_id", "person_id"], how="left")
    fm.loc[fm["at_ms"] < fm["j"], "at_ms"] = float("nan")  # only messages after joining count
    first = fm.groupby(["group_id", "person_id", "j"])["at_ms"].min().reset_index()
    eligible = first[first["j"] + DAY <= t1]
    active = eligible[eligible["at_ms"] < eligible["j"] + DAY]
    for g, n in eligible.groupby("group_id").size().items():
        a = int((active["group_id"] == g).sum())
        out.setdefault(int(g), {})["activation_24h"] = round(a / int(n), 4)
    # questions and answers (explicit reply links)
    q = w[w["question"]][["seq", "group_id", "person_id", "at_ms"]]
    replies = w[w["target_seq"].notna()][["target_seq", "person_id", "at_ms"]]
    qa = q.merge(replies, left_on="seq", right_on="target_seq", how="left", suffixes=("", "_a"))
    qa.loc[qa["person_id_a"] == qa["person_id"], "at_ms_a"] = float("nan")  # the asker's own follow-ups
    firsts = qa.groupby(["group_id", "seq"]).agg(at=("at_ms", "first"), ans=("at_ms_a", "min")).reset_index()
    for g, grp in firsts.groupby("group_id"):
        answered = grp[grp["ans"].notna()]
        o = out.setdefault(int(g), {})
        o["questions"] = len(grp)
        o["answered"] = len(answered)
        o["median_answer_minutes"] = (
            float(((answered["ans"] - answered["at"]) / 60000.0).median()) if len(answered) else None
        )
    # responses received, promo and replies made per person (ad evidence)
    reacts = ev[(ev["kind"] == "reaction") & (ev["at_ms"] >= t0)][["group_id", "person_id", "target_p"]]
    rep = w[w["target_seq"].notna()][["group_id", "person_id", "target_p"]]
    resp = pd.concat([reacts, rep])
    resp = resp[resp["person_id"] != resp["target_p"]]
    responses = resp.groupby(["group_id", "target_p"]).size()
    per_person = (
        w.assign(promo=w["contact"] | w["link"], made=w["target_seq"].notna())
        .groupby(["group_id", "person_id"])[["promo", "made"]]
        .sum()
    )
    for (g, _p), row in per_person.iterrows():
        o = out.setdefault(int(g), {})
        o["promo_people"] = o.get("promo_people", 0) + int(row["promo"] > 0)
    for (g, _p), n in responses.items():
        o = out.setdefault(int(g), {})
        o["responses"] = o.get("responses", 0) + int(n)
    # daily series, heatmap, last message
    local = msg["at_ms"] + off
    daily = msg.assign(d=local // DAY).groupby(["group_id", "d"]).agg(n=("seq", "size"), s=("person_id", "nunique"))
    for (g, _d), row in daily.iterrows():
        o = out.setdefault(int(g), {})
        o.setdefault("daily", []).append((int(row["n"]), int(row["s"])))
    wl = w["at_ms"] + off
    heat = w.assign(dow=((wl // DAY) + 3) % 7, h=(wl % DAY) // HOUR).groupby(["group_id", "dow", "h"]).size()
    for (g, dow, h), n in heat.items():
        out.setdefault(int(g), {}).setdefault("heat", {})[(int(dow), int(h))] = int(n)
    for g, t in msg.groupby("group_id")["at_ms"].max().items():
        out.setdefault(int(g), {})["last_message_day"] = int((t + off) // DAY)
    return out
