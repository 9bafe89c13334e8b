"""The analysis run (分析): snapshot → metrics → detectors → lifecycle → type KPIs → funnel → diagnosis → Report.

How it works:
    :func:`analyze` refreshes the Parquet snapshot of the workspace's event log (:mod:`.source`), copies the small
    tables (groups, communities, identities) into DuckDB, runs the SQL of :mod:`.metrics` over the window, and turns
    the rows into :class:`~shequn.analytics.model.Report` with the pure functions of :mod:`.lifecycle`,
    :mod:`.detect`, :mod:`.kpis` and :mod:`.diagnosis`.

Things to keep in mind:
    * The window defaults to the ``days`` days up to the last chat event (``CHAT_KINDS``: history imported or
      simulated is judged as of its own end, not as of today, nor as of an operator's tag added today); pass
      ``until`` for another end.
    * Local days follow the workspace's time zone (its UTC offset at the window's end).

May import: ``duckdb``, ``domain``, ``playbook``, ``i18n``, ``store``, the other analytics modules.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import orjson

from shequn.analytics import detect, diagnosis, kpis, lifecycle, metrics, source
from shequn.analytics.lifecycle import STAGES
from shequn.analytics.model import CommunityHealth, Day, GroupHealth, MemberRow, Report
from shequn.domain import UserError
from shequn.i18n import normalize_locale
from shequn.playbook import load_playbook
from shequn.store import Store, WorkspaceInfo

DAY = metrics.DAY
# What people do in the chats: the default window ends at the last of these (not at an operator's or the console's
# event, an order or a tick). A log without any ends at its last event.
CHAT_KINDS = ("message", "join", "leave", "edit", "delete", "reaction", "nickname_change", "check_in")
_TIERS = ("high", "mid", "low", "inactive")
_ROLES = ("greeter", "scout", "storyteller", "silent", "key_discussant")  # the order a member's roles are listed in


def analyze(
    store: Store,
    ws: WorkspaceInfo,
    *,
    days: int = 30,
    until: datetime | date | None = None,
    community: str | None = None,
    locale: str | None = None,
    cache: Path | None = None,
    threads: int | None = None,
) -> Report:
    """Analyse the workspace ``ws`` of ``store`` over ``days`` days ending at ``until`` (a moment, or a date: the end
    of that local day; default: the end of the local day of the last chat event)."""
    folder = cache or source.default_cache(store.db.url, ws.id)
    with source.exclusive(folder), _no_cyclic_gc():  # a refresh replaces the Parquet parts another run may be reading
        return _analyze(
            store, ws, days=days, until=until, community=community, locale=locale, folder=folder, threads=threads
        )


def _inbox(conn: Any, ws_id: int, t0: int, t1: int) -> dict[int, dict[str, Any]]:
    """Per community id, the operator's inbox over the window (items opened in it): the first-response and
    resolution times of :func:`shequn.analytics.inbox.times_of` (the figures ``shequn inbox times`` and the console
    show), the same per staff member (``staff``), and how many still wait for a first answer past the community's
    target (``unanswered``). The ``inbox`` policy's state, plain SQL on the store."""
    from shequn.analytics.inbox import by_staff, minutes, times_of
    from shequn.policies.inbox import InboxSettings

    rows = conn.exec_driver_sql(
        "SELECT ps.community_id, ps.value FROM policy_state ps JOIN community c ON c.id = ps.community_id "
        f"WHERE c.workspace_id = {int(ws_id)} AND ps.scope = 'inbox' AND substr(ps.name, 1, 2) = 'i:'"
    ).fetchall()
    target = InboxSettings().first_response_minutes  # the playbook's; a community's own is in the console's view
    by: dict[int, list[dict[str, Any]]] = {}
    for cid, value in rows:
        item = orjson.loads(value)
        at = int(datetime.fromisoformat(item["at"]).timestamp() * 1000)
        if t0 <= at < t1:
            by.setdefault(int(cid), []).append(item)
    end = datetime.fromtimestamp(t1 / 1000, UTC)
    out: dict[int, dict[str, Any]] = {}
    for cid, items in by.items():
        waiting = [i for i in items if not i.get("first_response_at") and i["status"] != "resolved"]
        out[cid] = {
            **times_of(items).as_dict(),
            "unanswered": sum(1 for i in waiting if minutes(i["at"], end) > target),
            "staff": {s: f.as_dict() for s, f in by_staff(items).items()},
        }
    return out


def _records(conn: Any, ws_id: int) -> dict[int, kpis.Records]:
    """Per community id, what shequn recorded itself for the type KPIs: memberships that came due (the membership
    policy's count, as ``shop measures`` reads it), the offline events of ``shequn event``, the introductions of
    ``shequn shop introduce``. Plain SQL on the store (a few rows per community)."""
    q = conn.exec_driver_sql
    ws = int(ws_id)
    kpi = dict(
        q(
            "SELECT ps.community_id, ps.value FROM policy_state ps JOIN community c ON c.id = ps.community_id "
            f"WHERE c.workspace_id = {ws} AND ps.scope = 'membership' AND ps.name = 'kpi'"
        ).fetchall()
    )
    with_members = {
        int(r[0])
        for r in q(
            "SELECT DISTINCT ps.community_id FROM policy_state ps JOIN community c ON c.id = ps.community_id "
            f"WHERE c.workspace_id = {ws} AND ps.scope = 'membership' AND substr(ps.name, 1, 2) = 's:'"
        ).fetchall()
    }
    offline: dict[int, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
    for cid, status, starts, spec in q(
        f"SELECT community_id, status, starts_ms, spec FROM activity WHERE workspace_id = {ws} AND kind = 'offline'"
    ).fetchall():
        held = offline[int(cid)]  # the community has activity records, even if none was held
        if status not in ("cancelled", "planning") and starts is not None:
            held.append((int(starts), tuple(orjson.loads(spec).get("groups") or ())))
    intros: dict[int, list[int]] = defaultdict(list)
    for cid, status, created in q(
        f"SELECT community_id, status, created_ms FROM introduction WHERE workspace_id = {ws}"
    ).fetchall():
        made = intros[int(cid)]
        if status in kpis.MADE:
            made.append(int(created))
    out: dict[int, kpis.Records] = {}
    for cid in {*map(int, kpi), *with_members, *offline, *intros}:
        counts = orjson.loads(kpi[cid]) if cid in kpi else {}
        out[cid] = kpis.Records(
            renewed=int(counts.get("renewed", 0)),
            lapsed=int(counts.get("lapsed", 0)),
            memberships=cid in with_members,
            offline=tuple(offline[cid]) if cid in offline else None,
            intros=tuple(intros[cid]) if cid in intros else None,
        )
    return out


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a report allocates about a million small objects (rows, members)
    and frees none of them while it runs, so each collection would walk the growing heap again for nothing (it cost
    a third of the assembly on 10 million messages). Reference counting still frees everything at once.

    On the way out, everything allocated meanwhile is moved to the oldest generation (``freeze`` then ``unfreeze``:
    two list splices, nothing collected or leaked): the report is long-lived, and left in the youngest generation
    the first collection afterwards (in the renderer) would walk its million objects twice for nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was:
            gc.enable()


def _analyze(
    store: Store,
    ws: WorkspaceInfo,
    *,
    days: int,
    until: datetime | date | None,
    community: str | None,
    locale: str | None,
    folder: Path,
    threads: int | None,
) -> Report:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    pb = load_playbook()
    th = pb.diagnoses.values()
    loc = normalize_locale(locale or ws.locale)
    zone = ZoneInfo(ws.timezone)
    con = source.connect(threads=threads)
    source.attach(con, store.db.url)
    with store.transaction() as conn:  # the store's own index answers these at once; the scanner would scan
        top, first_uid = store.events.ends(conn, ws.id)
    snap = source.refresh(con, ws.id, folder, top=top, fingerprint=first_uid)
    timings["snapshot"] = snap.seconds
    timings["snapshot_events_added"] = float(snap.refreshed)
    t = time.perf_counter()
    con.execute(
        f"""CREATE TEMP TABLE grp AS SELECT g.id, g.platform, g.platform_id, g.name, g.role, g.community_id, g.state
            FROM src.chat_group g WHERE g.workspace_id = {ws.id}"""
    )
    con.execute(f"CREATE TEMP TABLE com AS SELECT id, name, type, spec FROM src.community WHERE workspace_id = {ws.id}")
    # Names only (the platform ids, the wide part, are not needed: spec staff are looked up through the store).
    con.execute(
        f"CREATE TEMP TABLE idn AS SELECT person_id, display_name FROM src.identity WHERE workspace_id = {ws.id}"
    )
    con.execute("DETACH src")
    communities = {
        r[0]: (r[1], r[2], orjson.loads(r[3])) for r in con.execute("SELECT id, name, type, spec FROM com").fetchall()
    }
    if community is not None and community not in {c[0] for c in communities.values()}:
        known = ", ".join(sorted(c[0] for c in communities.values())) or "none yet"
        raise UserError(f"no community named {community!r} (communities: {known})", exit_code=2)
    groups = {
        r[0]: {"platform": r[1], "platform_id": r[2], "name": r[3], "role": r[4], "community_id": r[5], "state": r[6]}
        for r in con.execute("SELECT id, platform, platform_id, name, role, community_id, state FROM grp").fetchall()
    }
    # Staff named by the specs' roles (platform ids) → persons, per group of the community.
    con.execute("CREATE TEMP TABLE spec_staff (g INTEGER, p BIGINT)")
    staff_ids: list[tuple[int, str, str]] = []
    for gid, g in groups.items():
        spec = communities.get(g["community_id"], (None, None, {}))[2]
        for role in ("architect", "decision_maker", "accountant"):
            for who in (spec.get("roles") or {}).get(role, []):
                staff_ids.append((gid, g["platform"], str(who)))
    if staff_ids:
        with store.transaction() as conn:  # through the store's index on (platform, platform id)
            persons = store.people.lookup(conn, ws.id, [(pl, who) for _, pl, who in staff_ids])
        found = [(g, persons[(pl, who)]) for g, pl, who in staff_ids if (pl, who) in persons]
        if found:
            con.execute("INSERT INTO spec_staff VALUES " + ", ".join(f"({int(g)}, {int(p)})" for g, p in found))
    parts = [str(p) for p in snap.parts]
    if not parts:
        return _empty(ws, loc, days, timings)
    files = ", ".join(repr(p) for p in parts)
    # The first and last event time from the Parquet footers' statistics (no scan); a scan where a writer left none.
    row = con.execute(
        f"""SELECT CASE WHEN count(*) = count(stats_min_value) AND count(*) = count(stats_max_value)
                        THEN min(stats_min_value::BIGINT) END, max(stats_max_value::BIGINT)
            FROM parquet_metadata([{files}]) WHERE path_in_schema = 'at_ms'"""
    ).fetchone()
    if not row or row[0] is None:
        row = con.execute(f"SELECT min(at_ms), max(at_ms) FROM read_parquet([{files}])").fetchone()
    first_ms, last_ms = (int(row[0]), int(row[1])) if row and row[0] is not None else (0, 0)
    if isinstance(until, datetime):
        end = until.astimezone(UTC) if until.tzinfo else until.replace(tzinfo=zone).astimezone(UTC)
    elif isinstance(until, date):  # the end of that local day
        end = datetime(until.year, until.month, until.day, tzinfo=zone).astimezone(UTC) + timedelta(days=1)
    else:  # the end of the local day of the last chat event (an operator's tag today says nothing of the chat)
        kinds = ", ".join(f"'{k}'" for k in CHAT_KINDS)
        chat = con.execute(f"SELECT max(at_ms) FROM read_parquet([{files}]) WHERE kind IN ({kinds})").fetchone()
        if chat and chat[0] is not None:
            last_ms = int(chat[0])
        last_local = datetime.fromtimestamp(last_ms / 1000, zone)
        end = (last_local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(UTC)
    t1 = int(end.timestamp() * 1000)
    t0 = t1 - days * DAY
    offset = zone.utcoffset(end.replace(tzinfo=None)) or timedelta(0)
    off = int(offset.total_seconds() * 1000)
    metrics.prepare(con, parts, t1, off)
    metrics.links(con, t0, t1)
    metrics.person_stats(con, t0, t1, off)
    timings["prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    # Phone numbers and long ids inside display names are masked (no phone numbers in reports).
    names = dict(
        con.execute(
            r"""SELECT person_id, regexp_replace(display_name, '(\d{3})\d{2,}(\d{2})', '\1****\2', 'g') FROM idn
                WHERE person_id IN (SELECT p FROM cur UNION SELECT p FROM pm WHERE promo > 0)"""
        ).fetchall()
    )
    grows = metrics.group_rows(con, t0, t1)
    act = metrics.activation(con, t0, t1)
    qs = metrics.questions(con, t1)
    series = metrics.daily(con, off)
    heat = metrics.heatmap(con, off)
    mem = metrics.members(con)
    greet = metrics.greeters(con, t0, int(th["greeting_window_hours"]))
    scout = metrics.scouts(con, t0)
    commerce_rows = metrics.commerce(con, t0)
    content = {r[0]: r[1:] for r in metrics.content_rows(con, t1 - 14 * DAY)}
    cohort_rows = metrics.cohorts(con, t1, off, since=t0 - 91 * DAY)  # the cohorts a 12-week view of the window needs
    funnel_rows = metrics.newcomers(con, t0, t1)
    with store.transaction() as conn:  # invite links name the acquisition channel of a join (issue 9)
        channels = {x.code: x.channel for x in store.growth.links(conn, ws.id)}
        records = _records(conn, ws.id)
        inbox = _inbox(conn, ws.id, t0, t1)
    refer_rows = metrics.referrers(con, t0)
    ads = detect.ad_accounts(metrics.ad_candidates(con), th)
    guests = detect.guest_talks(con, t0, th)
    explicit = {r[0]: (int(r[1]), int(r[2])) for r in con.execute("SELECT g, n, r FROM explicit").fetchall()}
    timings["metrics"] = time.perf_counter() - t
    t = time.perf_counter()
    con.close()

    first_day = (first_ms + off) // DAY
    last_day = (t1 - 1 + off) // DAY
    w_first_day = (t0 + off) // DAY
    day_names = [(date(1970, 1, 1) + timedelta(days=d)).isoformat() for d in range(first_day, last_day + 1)]
    ndays = len(day_names)
    w0 = max(0, w_first_day - first_day)  # the window's first day in the series
    # The daily series of every group as dense (group × day) matrices: rows follow ``gids`` (the groups, by id).
    gids = np.array(sorted(groups), dtype=np.int64)
    n_g = len(gids)
    row_of = {int(g): i for i, g in enumerate(gids.tolist())}
    mat = {k: np.zeros((n_g, max(ndays, 0)), dtype=np.int64) for k in ("n", "s", "j", "l", "delta")}
    gi_s, ok = _rows(gids, series["g"])
    di = series["d"] - first_day
    ok &= (di >= 0) & (di < ndays)
    for k, m in mat.items():
        m[gi_s[ok], di[ok]] = series[k][ok]
    members_mat = np.cumsum(mat["delta"], axis=1)
    has_msg, has_join = mat["n"] > 0, mat["j"] > 0
    if ndays > 0:
        last_msg_idx = np.where(has_msg.any(axis=1), ndays - 1 - np.argmax(has_msg[:, ::-1], axis=1), -1)
        first_join = np.where(has_join.any(axis=1), np.argmax(has_join, axis=1), -1)
    else:
        last_msg_idx = first_join = np.full(n_g, -1, dtype=np.int64)
    active_days = has_msg[:, w0:].sum(axis=1)

    gi_m, ok_m = _rows(gids, mem["g"])
    # A group is created inside the record (its first join day) unless a current member came from a roster.
    roster_any = np.zeros(n_g, dtype=bool)
    roster_any[gi_m[mem["roster"] & ok_m]] = True
    created = np.where(roster_any, -1, first_join)
    stage_rules = lifecycle.StageRules(dead_after_days=int(th["dead_after_days"]))
    stage_tab = lifecycle.stages_table(mat["n"], members_mat, mat["j"], mat["l"], created, stage_rules)

    types = pb.types
    report_groups: dict[str, GroupHealth] = {}
    members_out: dict[str, list[MemberRow]] = {}
    ad_people = {a.person for a in ads}
    ad_by_group: dict[int, list[detect.AdAccount]] = defaultdict(list)
    for a in ads:
        for gi in a.groups:
            ad_by_group[gi].append(a)
    # Members: tiers, roles and silence for every member of every group at once (hundreds of thousands of rows).
    keep = ok_m & ~np.isin(mem["p"], np.array(sorted(ad_people), dtype=np.int64))
    mc = {k: v[keep] for k, v in mem.items()}
    gi_k = gi_m[keep]
    n_, resp_, staff_ = mc["n"], mc["responses"], mc["staff"]
    lively = mc["reactions"] + mc["checkins"]
    tier_code = np.select(
        [
            (n_ >= th["tier_high_messages"]) & (resp_ >= th["tier_high_responses"]),
            n_ >= th["tier_mid_messages"],
            (n_ > 0) | (lively > 0),
        ],
        [0, 1, 2],
        3,
    )  # fmt: skip  (= detect.tier)
    tenure_ok = (t1 - mc["since_ms"]) >= th["silent_min_tenure_days"] * DAY  # known only within the record
    sdays = (t1 - mc["last_ms"]) // DAY
    never = mc["never"]
    silent_f = (n_ == 0) & (mc["checkins"] == 0) & tenure_ok & ~staff_
    silent30_f = ~staff_ & (never | (sdays >= 30)) & tenure_ok
    key_days = np.maximum(2, th["key_discussant_day_share"] * active_days)
    key_f = ~staff_ & (n_ > 0) & (mc["days"] >= key_days[gi_k])
    story_f = ~staff_ & (n_ >= th["storyteller_min_messages"]) & (resp_ >= th["storyteller_responses_per_message"] * n_)
    greet_f = _pairs_in(gids, gi_k, mc["p"], [(g, p) for g, p, k in greet if k >= th["greeter_min_welcomed"]])
    scout_f = _pairs_in(gids, gi_k, mc["p"], [(g, p) for g, p, k in scout if k >= th["scout_min_invited"]])
    role_mask = greet_f * 1 + scout_f * 2 + story_f * 4 + silent_f * 8 + key_f * 16
    role_lists = [[r for bit, r in enumerate(_ROLES) if m >> bit & 1] for m in range(1 << len(_ROLES))]
    all_rows = list(
        map(
            MemberRow,
            mc["p"].tolist(),
            [names.get(p, "") for p in mc["p"].tolist()],
            n_.tolist(),
            resp_.tolist(),
            mc["days"].tolist(),
            np.array(_TIERS, dtype=object)[tier_code].tolist(),
            [list(role_lists[m]) if m else [] for m in role_mask.tolist()],
            np.where(never, -1, sdays).tolist(),
            staff_.tolist(),
        )
    )
    for mrow in all_rows:
        if mrow.silent_days == -1:  # never spoke in the record
            mrow.silent_days = None
    bounds = np.searchsorted(gi_k, np.arange(n_g + 1))
    tier_counts = np.zeros((n_g, 4), dtype=np.int64)
    np.add.at(tier_counts, (gi_k, tier_code), 1)
    silent_n = np.bincount(gi_k, weights=silent_f, minlength=n_g).astype(np.int64)
    silent30_n = np.bincount(gi_k, weights=silent30_f, minlength=n_g).astype(np.int64)
    key_n = np.bincount(gi_k, weights=key_f, minlength=n_g).astype(np.int64)
    heat_mat = np.zeros((n_g, 7, 24), dtype=np.int64)
    gi_h, ok_h = _rows(gids, heat["g"])
    np.add.at(heat_mat, (gi_h[ok_h], heat["dow"][ok_h], heat["h"][ok_h]), heat["n"][ok_h])
    gkey: dict[int, str] = {}
    for gid, g in sorted(groups.items()):
        if g["community_id"] not in communities:
            continue
        cname, ctype, spec = communities[g["community_id"]]
        if community is not None and cname != community:
            continue
        key = f"{g['platform']}:{g['platform_id']}"
        gkey[gid] = key
        info = grows.get(gid, {})
        i_g = row_of[gid]
        stage_row = stage_tab[i_g].tolist()
        starts = lifecycle.runs(stage_row)
        stage, since = (STAGES[stage_row[-1]], day_names[starts[-1]]) if starts else ("", "")
        last_msg_i = int(last_msg_idx[i_g]) if last_msg_idx[i_g] >= 0 else None
        gh = GroupHealth(key=key, id=gid, name=g["name"] or key, community=cname, type=ctype, role=g["role"])
        gh.stage, gh.stage_since = stage, since
        gh.trajectory = [{"date": day_names[i], "stage": STAGES[stage_row[i]]} for i in starts]
        gh.last_message = day_names[last_msg_i] if last_msg_i is not None else None
        gh.silent_days = (ndays - 1 - last_msg_i) if last_msg_i is not None else ndays
        gh.state = g.get("state") or "active"
        if gh.state != "active":  # archived or dissolved on purpose: not dead, not to be prescribed for
            stage = gh.stage = gh.state
        gh.dead = stage == "dead"
        if gh.dead:  # one date for "dead since" everywhere: the first day without a message
            gh.dead_since = day_names[last_msg_i + 1] if last_msg_i is not None and last_msg_i + 1 < ndays else since
            gh.stage_since = gh.dead_since
            gh.trajectory = [x for x in gh.trajectory[:-1] if x["date"] < gh.dead_since]
            gh.trajectory.append({"date": gh.dead_since, "stage": "dead"})
        gh.messages = info.get("messages", 0)
        gh.staff_messages = info.get("staff_messages", 0)
        gh.speakers = info.get("speakers", 0)
        gh.members = info.get("members", 0)
        gh.members_start = info.get("members_start", 0)
        gh.link_dumps = info.get("link_dumps", 0)
        gh.joins = info.get("joins", 0)
        gh.leaves_voluntary = info.get("leaves_voluntary", 0)
        gh.leaves_removed = info.get("leaves_removed", 0)
        gh.net_growth = gh.joins - gh.leaves_voluntary - gh.leaves_removed
        gh.speakers_ratio = _ratio(gh.speakers, gh.members)
        gh.messages_per_member = _ratio(gh.messages, gh.members)
        gh.staff_share = _ratio(gh.staff_messages, gh.messages)
        a24, a24y, a72, a72y = act.get(gid, (0, 0, 0, 0))
        gh.activation_24h, gh.activation_72h = _ratio(a24y, a24), _ratio(a72y, a72)
        q, ans, unans, med = qs.get(gid, (0, 0, 0, None))
        gh.questions, gh.answered, gh.unanswered, gh.median_answer_minutes = q, ans, unans, med
        n_msgs, n_replies = explicit.get(gid, (0, 0))
        gh.replies_inferred = n_msgs >= 20 and n_replies < 0.01 * n_msgs
        group_ads = ad_by_group.get(gid, [])
        gh.ad_accounts = len(group_ads)
        gh.ad_messages = sum(a.promo_by_group.get(gid, 0) for a in group_ads)
        gh.ads_per_1k = round(1000 * gh.ad_messages / gh.messages, 2) if gh.messages else None
        gh.size_band = detect.size_band(gh.members, pb)
        gh.guest_talks = len(guests.get(gid, []))
        # members (ordered as the report lists them: most messages first, then most responses, then person id)
        lo, hi = int(bounds[i_g]), int(bounds[i_g + 1])
        members_out[key] = all_rows[lo:hi]
        tc = tier_counts[i_g].tolist()
        gh.tiers = {"high": tc[0], "mid": tc[1], "low": tc[2], "inactive": tc[3]}
        gh.silent_members, gh.silent_30d = int(silent_n[i_g]), int(silent30_n[i_g])
        gh.key_discussants = int(key_n[i_g])
        counts = n_[lo:hi]
        gh.top10_share, gh.gini = detect.concentration(counts[counts > 0].tolist())
        cols = [mat[k][i_g, w0:].tolist() for k in ("n", "s", "j", "l")] + [members_mat[i_g, w0:].tolist()]
        gh.daily = [Day(day_names[w0 + i], *v) for i, v in enumerate(zip(*cols, strict=True))]
        report_groups[key] = gh

    # communities: KPIs, funnel, cohorts, heatmap, essentials
    out_comms: dict[str, CommunityHealth] = {}
    gid_by_key = {v: k for k, v in gkey.items()}
    comm_groups: dict[str, list[GroupHealth]] = defaultdict(list)
    for gh in report_groups.values():
        comm_groups[gh.community].append(gh)
    commerce_by_g: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in commerce_rows:
        if r[0] is not None:
            commerce_by_g[r[0]].append(r)
    all_heat = np.zeros((7, 24), dtype=np.int64)
    funnel_by, refer_by, cohort_by = _by_group(funnel_rows), _by_group(refer_rows), _by_group(cohort_rows)
    for cid, (cname, ctype, spec) in sorted(communities.items()):
        if community is not None and cname != community:
            continue
        rec = records.get(cid, kpis.NO_RECORDS)
        ghs = sorted(comm_groups.get(cname, []), key=lambda x: x.key)
        ids = [gid_by_key[x.key] for x in ghs]
        ct = types[ctype]
        ch = CommunityHealth(name=cname, type=ctype, type_name=ct.name.get(loc), activity_judged=ct.activity_judged,
                             groups=[x.key for x in ghs], inbox=inbox.get(cid, {}))  # fmt: skip
        ch.messages = sum(x.messages for x in ghs)
        # Members: people in one of its groups now, each counted once (the figure every surface shows).
        ch.members = int(np.unique(mem["p"][np.isin(mem["g"], np.array(ids, dtype=np.int64))]).size)
        ch.speakers = sum(x.speakers for x in ghs)
        ch.joins = sum(x.joins for x in ghs)
        ch.leaves = sum(x.leaves_voluntary + x.leaves_removed for x in ghs)
        ch.dead_groups = sum(x.dead for x in ghs)
        for x in ghs:
            ch.stages[x.stage] = ch.stages.get(x.stage, 0) + 1
        ch.essentials = detect.essentials(spec)
        rows_c = [row_of[gi] for gi in ids]
        c_heat = heat_mat[rows_c].sum(axis=0)
        all_heat += c_heat
        ch.heatmap = c_heat.tolist()
        if ghs:
            sums = [mat[k][rows_c, w0:].sum(axis=0).tolist() for k in ("n", "s", "j", "l")]
            sums.append(members_mat[rows_c, w0:].sum(axis=0).tolist())
            ch.daily = [Day(x.date, *v) for x, v in zip(ghs[0].daily, zip(*sums, strict=True), strict=True)]
        ch.funnel = kpis.funnel([r for gi in ids for r in funnel_by.get(gi, [])],
                                [r for gi in ids for r in refer_by.get(gi, [])],
                                channels, tz_offset_ms=off)  # fmt: skip
        ch.revenue, ch.payers = _takings([r for g in ids for r in commerce_by_g.get(g, [])])
        ch.retention = kpis.retention([r for gi in ids for r in cohort_by.get(gi, [])])
        group_kpis = {}
        for x, gi in zip(ghs, ids, strict=True):
            group_kpis[x.key] = kpis.compute(
                ctype, ct, spec, x, commerce_by_g.get(gi, []), content.get(gi), guests.get(gi, []), members_out[x.key],
                days=days, t1=t1, loc=loc, records=rec,
            )  # fmt: skip
            x.kpis = group_kpis[x.key]
        ch.kpis = kpis.combine(ctype, ct, spec, ghs, [r for g in ids for r in commerce_by_g.get(g, [])],
                               [content.get(g) for g in ids], [gt for g in ids for gt in guests.get(g, [])],
                               days=days, loc=loc, t1=t1, records=rec)  # fmt: skip
        out_comms[cname] = ch
    for cname, ch in out_comms.items():
        ghs = comm_groups.get(cname, [])
        for x in ghs:
            x.findings = diagnosis.diagnose_group(x, ch, loc, peers=ghs)
            x.health = diagnosis.health_score(x, ch)
        ch.findings = diagnosis.diagnose_community(ch, ghs, loc)
        open_ghs = [x for x in ghs if x.state == "active"]
        ch.health = round(sum(x.health for x in open_ghs) / len(open_ghs)) if open_ghs else 0
    timings["assemble"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    local_end = end.astimezone(zone)
    return Report(
        workspace=ws.name,
        timezone=ws.timezone,
        locale=loc,
        start=(end - timedelta(days=days)).astimezone(zone).isoformat(timespec="minutes"),
        end=local_end.isoformat(timespec="minutes"),
        days=days,
        generated=datetime.now(zone).isoformat(timespec="seconds"),
        communities=out_comms,
        groups=report_groups,
        members=members_out,
        ad_accounts=[_ad_row(a, names, gkey) for a in ads if any(g in gkey for g in a.groups)],
        heatmap=all_heat.tolist(),
        signals=diagnosis.signal_notes(loc),
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _ad_row(a: detect.AdAccount, names: dict[int, str], gkey: dict[int, str]) -> dict[str, Any]:
    return {
        "person": a.person,
        "name": names.get(a.person, ""),
        "groups": [gkey.get(g, str(g)) for g in a.groups],
        "messages": a.messages,
        "evidence": a.evidence,
    }


def _rows(gids: npt.NDArray[np.int64], g: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The row of each group id ``g`` in the sorted ``gids``, and whether it is there at all."""
    g = np.asarray(g, dtype=np.int64)
    if not len(gids):
        return np.zeros(len(g), dtype=np.intp), np.zeros(len(g), dtype=bool)
    i = np.minimum(np.searchsorted(gids, g), len(gids) - 1)
    return i, gids[i] == g


def _pairs_in(
    gids: npt.NDArray[np.int64], rows: npt.NDArray[np.intp], people: npt.NDArray[np.int64], pairs: list[tuple[int, int]]
) -> npt.NDArray[np.bool_]:
    """Whether each (group row, person) is one of ``pairs`` (group id, person)."""
    out = np.zeros(len(rows), dtype=bool)
    if not pairs:
        return out
    wanted = {(int(g), int(p)) for g, p in pairs}
    g_of = gids[rows] if len(gids) else np.zeros(0, dtype=np.int64)
    cand = np.flatnonzero(np.isin(people, np.array(sorted({p for _, p in wanted}), dtype=np.int64)))
    for i, g, p in zip(cand.tolist(), g_of[cand].tolist(), people[cand].tolist(), strict=True):
        out[i] = (g, p) in wanted
    return out


def _by_group(rows: list[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        out[r[0]].append(r)
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _empty(ws: WorkspaceInfo, loc: str, days: int, timings: dict[str, float]) -> Report:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Report(ws.name, ws.timezone, loc, now, now, days, now, {}, {}, {}, [], [[0] * 24 for _ in range(7)],
                  diagnosis.signal_notes(loc), timings)  # fmt: skip


__all__ = ["analyze"]


def _takings(rows: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """(revenue in minor units, paying members) of commerce rows ``(g, person, kind, purpose/status, amount, at)``:
    every payment and paid order counts, a refunded order is taken off; the same definition the funnel's "revenue"
    stage uses (a payment or a paid order)."""
    total, payers = 0, set()
    for _g, p, kind, what, amount, _at in rows:
        if kind == "payment" or (kind == "order" and what == "paid"):
            total += int(amount or 0)
            payers.add(p)
        elif kind == "order" and what == "refunded":
            total -= int(amount or 0)
    return total, len(payers)
