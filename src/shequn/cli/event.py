"""``shequn event …``: guest talks (嘉宾分享) and offline events (线下活动): create, list, show, and the operator's
actions on them (checklist, registration, QR tickets and check-in, cancel)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from shequn.cli.common import console, open_app, print_json
from shequn.domain import Attendance, AttendanceStatus, UserError, stable_id
from shequn.domain.records import iso, parse_iso
from shequn.i18n import t

app = typer.Typer(help="活动 · guest talks and offline events", no_args_is_help=True)

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}$")


def _local(text: str, tz: ZoneInfo, what: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{what}: cannot read {text!r}; use YYYY-MM-DD HH:MM (the community's time)", exit_code=2
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def _money(text: str, what: str) -> int:
    if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
        raise UserError(t("cli.err.not_amount", None, option=what, value=text), exit_code=2)
    yuan, _, fen = text.partition(".")
    return int(yuan) * 100 + int((fen + "00")[:2])


def _next_slot(spec: Any, now: datetime) -> tuple[datetime, datetime]:
    from shequn.playbook.models import WEEKDAYS

    g = spec.rhythm.guest_talk
    tz = ZoneInfo(spec.timezone)
    local = now.astimezone(tz)
    h, m = (int(x) for x in g.start.split(":"))
    eh, em = (int(x) for x in g.end.split(":"))
    day = local.date()
    for _ in range(15):
        start = datetime(day.year, day.month, day.day, h, m, tzinfo=tz)
        if day.weekday() == WEEKDAYS.index(g.weekday) and start > local + timedelta(days=2):
            end = datetime(day.year, day.month, day.day, eh, em, tzinfo=tz)
            return start, end if end > start else end + timedelta(days=1)
        day += timedelta(days=1)
    raise UserError("no guest-talk slot in the next two weeks", exit_code=2)


def _load(a: Any, key: str) -> Any:
    from shequn.schedule.activities import Activity

    with a.store.transaction() as conn:
        rows = a.store.schedule.activities(conn, a.ws.id, key=key)
    if not rows:
        raise UserError(t("event.unknown", None, key=key), exit_code=2)
    r = rows[0]
    return Activity.from_dict({**r.spec, "key": r.key, "community": r.community, "status": r.status})


def _save(a: Any, act: Any) -> None:
    from shequn.store._sql import to_ms

    record = a.community(act.community)
    with a.store.transaction() as conn:
        a.store.schedule.put_activity(
            conn,
            a.ws.id,
            community_id=record.id,
            key=act.key,
            kind=act.kind.value,
            title=act.title,
            status=act.status,
            starts_ms=to_ms(act.starts) if act.starts else None,
            ends_ms=to_ms(act.ends) if act.ends else None,
            spec=act.to_dict(),
            now_ms=a.now_ms(),
        )
        a.store.audit.record(
            conn,
            a.ws.id,
            actor="cli",
            verb="activity.saved",
            object_type="activity",
            object_id=act.key,
            detail={"title": act.title},
            now_ms=a.now_ms(),
        )


@app.command()
def create(
    ctx: typer.Context,
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · the community"),
    kind: str = typer.Option("guest_talk", "--kind", help="guest_talk（嘉宾分享）或 offline（线下活动）"),
    title: str = typer.Option(..., "--title", help="标题 · title"),
    key: str | None = typer.Option(None, "--key", help="标识 · a key of your own (same key: update)"),
    at: str | None = typer.Option(
        None, "--at", help="开始时间 · start, YYYY-MM-DD HH:MM (default: the next weekly slot)"
    ),
    minutes: int | None = typer.Option(None, "--minutes", min=10, help="时长（分钟）· duration"),
    topic: str = typer.Option("", "--topic", help="分享主题 · the talk's topic"),
    guest: str = typer.Option("", "--guest", help="嘉宾 · guest's name"),
    guest_id: str = typer.Option("", "--guest-id", help="嘉宾在群里的 id · guest's platform id (relayed)"),
    bio: str = typer.Option("", "--bio", help="嘉宾介绍 · guest introduction"),
    perk: str = typer.Option("", "--perk", help="福利 · perk for the audience"),
    group: list[str] = typer.Option(
        [], "--group", "-g", help="群（第一个为主群，其余转播）· groups; the first hosts, the others get the relay"
    ),
    venue: str = typer.Option("", "--venue", help="地点 · venue (offline)"),
    capacity: int = typer.Option(0, "--capacity", min=0, help="名额 · places (0: unlimited)"),
    fee_mode: str = typer.Option(
        "free", "--fee-mode", help="free, aa（AA制：总预算平摊）or collect（群收款：每人固定）"
    ),
    fee: str = typer.Option("0", "--fee", help="金额（元）· budget (aa) or per person (collect)"),
    poll: list[str] = typer.Option(
        [], "--poll", help="时间投票选项 · time-poll options (offline, before the time is fixed)"
    ),
    agenda: list[str] = typer.Option([], "--agenda", help="流程 MINUTES:TITLE · agenda parts (offline)"),
    no_mute: bool = typer.Option(False, "--no-mute", help="分享时不禁言 · do not hold chatter during the talk"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """创建活动 · create (or, with an existing --key, update) a guest talk or an offline event."""
    from shequn.schedule.activities import Activity, ActivityKind, FeeMode, agenda_problems, default_agenda, new_secret

    try:
        akind = ActivityKind(kind)
    except ValueError:
        raise UserError(
            t("cli.err.choose", None, option="--kind", value=kind, choices="guest_talk / offline"), exit_code=2
        ) from None
    try:
        mode = FeeMode(fee_mode)
    except ValueError:
        raise UserError(
            t("cli.err.choose", None, option="--fee-mode", value=fee_mode, choices="free / aa / collect"), exit_code=2
        ) from None
    if key is not None and not _KEY.match(key):
        raise UserError(f"--key: {key!r} must be lower-case letters, digits, - or _", exit_code=2)
    with open_app(ctx) as a:
        record = a.community(community)
        spec = record.spec
        tz = ZoneInfo(spec.timezone)
        now = a.clock.now()
        with a.store.transaction() as conn:
            groups = [g for g in a.store.groups.list(conn, a.ws.id) if g.community == community]
        keys = {g.key: g for g in groups}
        chosen: list[str] = []
        for gid in group:
            match = keys.get(gid) or next((g for g in groups if g.platform_id == gid), None)
            if match is None:
                raise UserError(
                    f"--group: {gid!r} is not a group of {community} ({', '.join(keys) or 'none bound'})", exit_code=2
                )
            chosen.append(match.key)
        if not chosen:
            roles = set(spec.rhythm.roles)
            chosen = [g.key for g in groups if g.role in roles] or [g.key for g in groups]
        if not chosen:
            raise UserError(t("event.no_groups", None, community=community), exit_code=2)
        starts = ends = None
        if at:
            starts = _local(at, tz, "--at").astimezone(ZoneInfo("UTC"))
        elif akind is ActivityKind.GUEST_TALK:
            starts, ends = _next_slot(spec, now)
        if starts is not None and minutes:
            ends = starts + timedelta(minutes=minutes)
        elif starts is not None and ends is None:
            if akind is ActivityKind.GUEST_TALK:
                s, e = _next_slot(spec, now)
                ends = starts + (e - s)
            else:
                ends = starts + timedelta(minutes=120)
        if starts is not None and starts <= now:
            raise UserError(t("cli.err.past", None, option="--at", value=at), exit_code=2)
        parts: list[tuple[int, str]] = []
        for part in agenda:
            m, _, name = part.partition(":")
            if not m.strip().isdigit() or not name.strip():
                raise UserError(f"--agenda: {part!r} is not MINUTES:TITLE", exit_code=2)
            parts.append((int(m), name.strip()))
        if akind is ActivityKind.OFFLINE and starts and ends and not parts:
            parts = list(default_agenda(int((ends - starts).total_seconds() // 60), locale=spec.locale))
        if parts and starts:
            ends = starts + timedelta(minutes=sum(m for m, _ in parts))
        if key is None:
            base = f"{'talk' if akind is ActivityKind.GUEST_TALK else 'meetup'}-{(starts or now).astimezone(tz):%Y%m%d}"
            key, n = base, 1
            with a.store.transaction() as conn:
                while a.store.schedule.activities(conn, a.ws.id, key=key):
                    n += 1
                    key = f"{base}-{n}"
            existing = None
        else:
            with a.store.transaction() as conn:
                rows = a.store.schedule.activities(conn, a.ws.id, key=key)
            existing = rows[0] if rows else None
        act = Activity(
            key=key,
            community=community,
            kind=akind,
            title=title,
            starts=starts,
            ends=ends,
            groups=tuple(chosen),
            topic=topic,
            guest=guest,
            guest_id=guest_id,
            bio=bio,
            perk=perk,
            hold_chatter=not no_mute and spec.rhythm.guest_talk.hold_chatter,
            catch_up=spec.rhythm.guest_talk.catch_up,
            checklist=dict(existing.spec.get("checklist", {})) if existing else {},
            venue=venue,
            capacity=capacity,
            fee_mode=mode,
            fee=_money(fee, "--fee"),
            poll_options=tuple(poll),
            agenda=tuple(parts),
            created=parse_iso(existing.spec["created"]) if existing and existing.spec.get("created") else now,
            status="planning" if (akind is ActivityKind.OFFLINE and starts is None) else "scheduled",
            secret=str(existing.spec.get("secret")) if existing else new_secret(),
        )
        if akind is ActivityKind.OFFLINE and starts is None and not poll:
            raise UserError(
                "an offline event needs --at, or --poll options to let members choose the time", exit_code=2
            )
        if akind is ActivityKind.GUEST_TALK and guest:
            act = act.with_(checklist={**act.checklist, "guest": True})
        _save(a, act)
        warnings = agenda_problems(act.agenda, locale=spec.locale) if act.agenda else []
    if as_json:
        print_json({**act.to_dict(), "secret": None, "warnings": warnings})
        return
    console.print(t("event.created", None, key=act.key, title=act.title))
    for w in warnings:
        console.print(f"[yellow]{w}[/yellow]", markup=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    community: str | None = typer.Option(None, "--community", "-c", help="社群名称 · only this community"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """活动列表 · list activities."""
    with open_app(ctx) as a:
        cid = a.community(community).id if community else None
        with a.store.transaction() as conn:
            rows = a.store.schedule.activities(conn, a.ws.id, community_id=cid)
        specs = {c.name: c.spec for c in a.communities()}
    if as_json:
        for r in rows:
            print_json(
                {
                    "key": r.key,
                    "community": r.community,
                    "kind": r.kind,
                    "title": r.title,
                    "status": r.status,
                    "starts": r.spec.get("starts"),
                    "ends": r.spec.get("ends"),
                    "groups": r.spec.get("groups", []),
                }
            )
        return
    if not rows:
        console.print(t("event.none", None))
        return
    table = Table(title=t("event.list_title", None))
    for col in ("key", "community", "kind", "title", "when", "status"):
        table.add_column(t(f"event.col.{col}", None))
    for r in rows:
        tz = ZoneInfo(specs[r.community].timezone)
        when = (
            datetime.fromisoformat(r.spec["starts"].replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%d %H:%M")
            if r.spec.get("starts")
            else "-"
        )
        table.add_row(r.key, r.community, t(f"event.kind.{r.kind}", None), r.title, when, r.status)
    console.print(table)


def _report(a: Any, act: Any) -> dict[str, Any]:
    """Everything ``show`` prints: the run-of-show with its state, registrations, votes, ratings, engagement."""
    from shequn.domain import SegmentReport
    from shequn.schedule.activities import run_of_show
    from shequn.schedule.live import registrations, seats_taken, tally_ratings, tally_votes
    from shequn.store._sql import to_ms

    spec = a.community(act.community).spec
    tz = ZoneInfo(spec.timezone)
    assert spec.rhythm.quiet_hours is not None
    steps = run_of_show(act, tz, spec.rhythm.quiet_hours)
    with a.store.transaction() as conn:
        gids = a.store.groups.ids(conn, a.ws.id, {tuple(g.split(":", 1)) for g in act.groups}, now_ms=a.now_ms())
        since = act.created or (act.starts - timedelta(days=30) if act.starts else a.clock.now() - timedelta(days=30))
        until = (act.ends or act.starts or a.clock.now()) + timedelta(days=3)
        events = [
            e
            for _, e in a.store.schedule.events_in(
                conn, a.ws.id, list(gids.values()), start_ms=to_ms(since), end_ms=to_ms(until)
            )
        ]
        runs = {
            r.key: r.status
            for r in a.store.schedule.runs(conn, a.ws.id, since_ms=to_ms(since) - 1, until_ms=to_ms(until))
        }
    home = act.home
    rows = []
    for st in steps:
        state = runs.get(f"{st.job}:{home}") or runs.get(
            next((f"{st.job}:{g}" for g in act.groups if f"{st.job}:{g}" in runs), ""), "planned"
        )
        rows.append(
            {
                "at": iso(st.at),
                "local": st.at.astimezone(tz).strftime("%m-%d %H:%M"),
                "step": st.step,
                "n": st.n,
                "state": state,
            }
        )
    regs = registrations(events, act)
    poll_at = next((st.at for st in steps if st.step == "poll"), None)
    survey_at = next((st.at for st in steps if st.step == "survey"), None)
    ratings = tally_ratings(events, act, survey_at) if survey_at else []
    checked = {
        e.actor
        for e in events
        if isinstance(e, Attendance) and e.activity == act.key and e.status is AttendanceStatus.CHECKED_IN
    }
    segments = [
        {
            "group": f"{e.platform}:{e.group}",
            "segment": e.segment,
            "messages": e.messages,
            "speakers": e.speakers,
            "questions": e.questions,
            "joins": e.joins,
        }
        for e in events
        if isinstance(e, SegmentReport) and e.activity == act.key
    ]
    taken = seats_taken(regs)
    per_head = ""
    if act.fee_mode.value == "aa" and taken:
        per_head = f"{act.fee / taken / 100:.2f}"
    return {
        "activity": {**act.to_dict(), "secret": None},
        "run_of_show": rows,
        "checklist_missing": act.missing() if act.kind.value == "guest_talk" else [],
        "registered": [
            {"member": r.actor, "name": r.actor_name, "seats": r.seats, "status": r.status.value, "inviter": r.inviter}
            for r in regs.values()
        ],
        "seats_taken": taken,
        "aa_share": per_head,
        "checked_in": sorted(checked),
        "votes": tally_votes(events, act, poll_at) if poll_at else [],
        "ratings": ratings,
        "satisfaction": round(sum(1 for r in ratings if r >= 4) / len(ratings), 3) if ratings else None,
        "segments": segments,
    }


@app.command()
def show(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the activity's key"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """活动详情 · the run-of-show with what was done, the checklist, registrations, votes, ratings, engagement."""
    with open_app(ctx) as a:
        act = _load(a, key)
        rep = _report(a, act)
    if as_json:
        print_json(rep)
        return
    from shequn.playbook import load_playbook

    pb = load_playbook().activities
    locale = None
    names = {s.key: s for s in [*pb.guest_talk.steps, *pb.offline.steps]}
    console.print(
        f"[bold]{act.title}[/bold] ({act.key}, {t(f'event.kind.{act.kind.value}', locale)}, {act.status})", markup=True
    )
    table = Table(title=t("event.run_of_show", locale))
    for col in ("time", "step", "state"):
        table.add_column(t(f"event.col.{col}", locale))
    from shequn.i18n import system_locale

    loc = system_locale()
    for r in rep["run_of_show"]:
        step = names.get(r["step"]) or names.get(r["step"].removeprefix("report_"))
        label = step.name.get(loc) if step else r["step"]
        if r["step"].startswith("report_"):
            label = f"{t('event.engagement', locale)} · {label}"
        table.add_row(r["local"], label + (f" #{r['n']}" if r["n"] else ""), t(f"schedule.state.{r['state']}", locale))
    console.print(table)
    if rep["checklist_missing"]:
        console.print(t("event.missing", locale, items=", ".join(rep["checklist_missing"])))
    if rep["registered"] or act.kind.value == "offline":
        console.print(
            t(
                "event.registrations",
                locale,
                n=rep["seats_taken"],
                cap=act.capacity or "∞",
                checked=len(rep["checked_in"]),
            )
        )
    if rep["votes"]:
        for i, (opt, n) in enumerate(zip(act.poll_options, rep["votes"], strict=True), 1):
            console.print(f"  {i}. {opt}: {n}")
    if rep["satisfaction"] is not None:
        console.print(t("event.satisfaction", locale, share=f"{rep['satisfaction']:.0%}", n=len(rep["ratings"])))
    for s in rep["segments"]:
        console.print(
            f"  {s['group']} {s['segment']}: {s['messages']} msg, {s['speakers']} speakers, {s['questions']} questions"
        )


@app.command()
def check(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the activity's key"),
    items: list[str] = typer.Argument(..., help="guest, confirmed, poster, team, announcement"),
) -> None:
    """准备清单打勾 · tick preparation items of a guest talk."""
    from shequn.playbook import load_playbook
    from shequn.schedule.activities import checklist_key

    known = [checklist_key(i) for i in range(len(load_playbook().activities.guest_talk.checklist))]
    bad = [i for i in items if i not in known]
    if bad:
        raise UserError(f"unknown checklist item(s) {', '.join(bad)}; items are {', '.join(known)}", exit_code=2)
    with open_app(ctx) as a:
        act = _load(a, key)
        act = act.with_(checklist={**act.checklist, **dict.fromkeys(items, True)})
        _save(a, act)
        missing = act.missing()
    console.print(t("event.missing", None, items=", ".join(missing)) if missing else t("event.ready", None))


@app.command()
def register(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the activity's key"),
    member: str = typer.Option(..., "--member", help="成员的平台 id · the member's platform id"),
    name: str = typer.Option("", "--name", help="称呼 · name"),
    seats: int = typer.Option(1, "--seats", min=1, max=20, help="人数 · places"),
    by: str = typer.Option("", "--by", help="邀约人 · who invited them (the invitation contest)"),
    cancel: bool = typer.Option(False, "--cancel", help="取消报名 · cancel instead"),
) -> None:
    """报名 · register a member (within the capacity, else on the waiting list), or cancel."""
    from shequn.schedule.live import registrations, seats_taken
    from shequn.store._sql import to_ms

    with open_app(ctx) as a:
        act = _load(a, key)
        platform, _, gid = act.home.partition(":")
        with a.store.transaction() as conn:
            ids = a.store.groups.ids(conn, a.ws.id, [(platform, gid)], now_ms=a.now_ms())
            events = [
                e
                for _, e in a.store.schedule.events_in(
                    conn, a.ws.id, list(ids.values()), start_ms=0, end_ms=to_ms(a.clock.now()) + 1
                )
            ]
        regs = registrations(events, act)
        taken = seats_taken(regs)
        if cancel:
            status = AttendanceStatus.CANCELLED
        elif act.capacity and taken + seats > act.capacity:
            status = AttendanceStatus.WAITLISTED
        else:
            status = AttendanceStatus.REGISTERED
        now = a.clock.now()
        a.ingest(
            [
                Attendance(
                    id=stable_id("register-cli", act.key, member, iso(now), status.value),
                    at=now,
                    platform=platform,
                    group=gid,
                    actor=member,
                    actor_name=name,
                    activity=act.key,
                    status=status,
                    seats=seats,
                    inviter=by,
                    via="staff",
                )
            ]
        )
    console.print(t(f"event.register.{status.value}", None, member=name or member, key=key))


@app.command()
def ticket(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the activity's key"),
    member: str = typer.Option(..., "--member", help="成员的平台 id · the member's platform id"),
    svg: Path | None = typer.Option(None, "--svg", help="写出二维码 SVG · write the QR code as SVG"),
) -> None:
    """入场二维码 · a registered member's check-in ticket (code, and its QR code as SVG)."""
    with open_app(ctx) as a:
        act = _load(a, key)
        rep = _report(a, act)
    if not any(r["member"] == member and r["status"] == "registered" for r in rep["registered"]):
        raise UserError(t("event.not_registered", None, member=member, key=key), exit_code=2)
    uri = act.ticket_uri(member)
    if svg is not None:
        import segno

        segno.make(uri, error="m").save(str(svg), scale=8, border=2)
    console.print(uri)


@app.command()
def checkin(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="扫码得到的内容 · what the QR code says (shequn:checkin:…)"),
) -> None:
    """扫码签到 · check a member in with their ticket's QR code."""
    m = re.fullmatch(r"shequn:checkin:([^:]+):(.+):([0-9a-f]{12})", code.strip())
    if not m:
        raise UserError(t("event.bad_code", None), exit_code=2)
    key, member, sig = m.groups()
    with open_app(ctx) as a:
        act = _load(a, key)
        if act.ticket(member) != sig:
            raise UserError(t("event.bad_code", None), exit_code=2)
        platform, _, gid = act.home.partition(":")
        now = a.clock.now()
        report = a.ingest(
            [
                Attendance(
                    id=stable_id("checkin", act.key, member),
                    at=now,
                    platform=platform,
                    group=gid,
                    actor=member,
                    activity=act.key,
                    status=AttendanceStatus.CHECKED_IN,
                    via="qr",
                )
            ]
        )
    console.print(t("event.checked_in" if report.added else "event.checked_in_before", None, member=member))


@app.command()
def cancel(ctx: typer.Context, key: str = typer.Argument(..., help="活动标识 · the activity's key")) -> None:
    """取消活动 · cancel an activity: nothing more of its run-of-show is sent."""
    with open_app(ctx) as a:
        act = _load(a, key)
        _save(a, act.with_(status="cancelled"))
    console.print(t("event.cancelled", None, key=key))
