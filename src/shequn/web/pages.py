"""The console's pages (控制台), rendered on the server with Jinja2; forms post back with the session's CSRF token.

Every page route declares its permission like the API's; the forms call the same operations as the API.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from shequn import __version__
from shequn.domain import EventKind, UserError
from shequn.i18n import fmt
from shequn.i18n import t as translate
from shequn.playbook import load_playbook
from shequn.playbook.seeds import cite
from shequn.policies.moderation.evidence import mask_contacts
from shequn.services.accounts import Perm, Principal, parse_scopes, same
from shequn.services.console import NotFoundError, SegmentVerb
from shequn.store import Segment
from shequn.store._sql import from_ms, to_ms
from shequn.web import labels
from shequn.web.deps import AccountsDep, Admin, FreshDep, LocaleDep, OpsDep, Reader, Writer, locale_of
from shequn.web.security import LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, cookie_args, principal_of

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(str(resources.files("shequn.web").joinpath("templates"))),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["masked"] = mask_contacts  # a member's words shown to staff: contact details masked, as everywhere
NAV = (
    ("overview", "/"),
    ("inbox", "/inbox"),
    ("tasks", "/tasks"),
    ("segments", "/segments"),
    ("events", "/events"),
    ("imports", "/imports"),
    ("growth", "/growth"),
    ("settings", "/settings"),
)
KINDS = tuple(k.value for k in EventKind)


def _fmt_ms(ms: int | None, tz: str = "Asia/Shanghai", *, with_time: bool = True) -> str:
    if ms is None:
        return "—"
    dt = from_ms(ms).astimezone(ZoneInfo(tz))
    return dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _fmt_iso(text: str | None, tz: str = "Asia/Shanghai") -> str:
    if not text:
        return "—"
    return datetime.fromisoformat(text).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (never executed; ``</`` cannot end the block)."""
    return Markup(orjson.dumps(value).decode().replace("</", "<\\/"))


def render(
    request: Request, template: str, principal: Principal | None, locale: str, http_status: int = 200, **ctx: Any
) -> HTMLResponse:
    def t(key: str, **params: Any) -> str:
        return translate(key, locale, **params)

    query = dict(request.query_params)
    lang_links = {loc: request.url.path + "?" + urlencode({**query, "lang": loc}) for loc in ("zh-CN", "en")}
    html = _env.get_template(template).render(
        request=request,
        t=t,
        locale=locale,
        user=principal.user if principal else None,
        can_write=bool(principal and principal.can(Perm.WRITE)),
        can_admin=bool(principal and principal.can(Perm.ADMIN)),
        csrf=principal.session.csrf if principal and principal.session else "",
        nav=NAV,
        path=request.url.path,
        lang_links=lang_links,
        fmt_ms=_fmt_ms,
        fmt_iso=_fmt_iso,
        fmt=fmt,
        cite=cite,
        label=labels,
        role_name=lambda key: labels.role(key, locale),
        tag_name=lambda value: labels.tag(value, locale),
        json=_json,
        version=__version__,
        workspace=request.app.state.ops.app.ws.name,
        **ctx,
    )
    response = HTMLResponse(html, status_code=http_status)
    if "lang" in request.query_params:
        response.set_cookie(LANG_COOKIE, locale, **{**cookie_args(request, max_age=365 * 86400), "httponly": False})
        if principal is not None and principal.session is not None and principal.user.locale != locale:
            request.app.state.accounts.set_locale(principal.user.id, locale)
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    principal: Principal | None = getattr(request.state, "principal", None)
    return render(
        request, "error.html", principal, locale_of(request), http_status=status, status_code=status, message=message
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //): an open redirect would serve phishing."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# -- login --------------------------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, locale: LocaleDep, next: str = "/") -> Response:
    principal = await principal_of(request, request.app.state.accounts)
    if principal is not None and principal.session is not None:
        return _redirect(_safe_next(next))
    token = secrets.token_urlsafe(24)
    has_owner = request.app.state.accounts.has_owner()
    response = render(request, "login.html", None, locale, login_csrf=token, next=_safe_next(next), has_owner=has_owner)
    response.set_cookie(LOGIN_COOKIE, token, **cookie_args(request, max_age=3600))
    return response


@router.post("/login")
def login(
    request: Request,
    locale: LocaleDep,
    username: str = Form(max_length=100),
    password: str = Form(max_length=1024),
    csrf: str = Form(max_length=100),
    next: str = Form("/", max_length=2000),
) -> Response:
    accounts = request.app.state.accounts
    throttle = request.app.state.throttle
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    client = f"ip:{request.client.host if request.client else '?'}"

    def again(message_key: str, status: int) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(
            request, "login.html", None, locale, http_status=status, login_csrf=token, next=_safe_next(next),
            error=translate(message_key, locale), username=username, has_owner=True,
        )  # fmt: skip
        response.set_cookie(LOGIN_COOKIE, token, **cookie_args(request, max_age=3600))
        return response

    if not cookie or not same(cookie, csrf):
        return again("web.login.expired", 403)
    attempt = throttle.begin(f"user:{username}", client)
    if attempt is None:
        return again("web.login.throttled", 429)
    user = accounts.authenticate(username, password)
    if user is None:
        return again("web.login.failed", 401)
    throttle.succeeded(attempt, f"user:{username}")
    token, _ = accounts.login(user)
    response = _redirect(_safe_next(next))
    response.set_cookie(SESSION_COOKIE, token, **cookie_args(request, max_age=14 * 86400))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, principal: Reader) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.accounts.logout(token)
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- overview, communities, groups, members -------------------------------------------------------------------


@router.get("/")
def overview(request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep, fresh: FreshDep) -> Response:
    ov = ops.overview(locale, limit=50, fresh=fresh)
    return render(
        request, "overview.html", principal, locale, ov=ov, tz=ops.app.ws.timezone, updating=ops.updating(locale)
    )


@router.get("/communities/{name}")
def community(request: Request, name: str, principal: Reader, ops: OpsDep, locale: LocaleDep) -> Response:
    record = ops.community(name)
    groups = ops.community_groups(record)
    pb = load_playbook()
    ctype = pb.types[record.type]
    as_of = ops.as_of_ms(groups)
    ref = ops.reference_ms()  # the workspace's "now", as the overview judges attention
    report = ops.analysis(locale)
    health = report.communities.get(record.name) if report is not None else None
    group_health = {k: g for k, g in report.groups.items() if g.community == record.name} if report is not None else {}
    attention = [
        a
        for g in groups
        if (a := ops.attention(g, record.spec, ref, group_health.get(f"{g.platform}:{g.platform_id}")))
    ]
    # One finding per rule, carrying the commands of every group it was found in (the report lists each group's).
    by_rule: dict[str, Any] = {}
    for f in (f for g in group_health.values() for f in g.findings):
        kept = by_rule.setdefault(f.key, replace(f, commands=[]))
        kept.commands.extend(getattr(f, "commands", ()))
    group_findings = list(by_rule.values())
    sections = {s.key: s for s in pb.rules.sections}
    tasks = [task for task in ops.tasks(status="open", limit=5000) if task.community_id == record.id][:50]
    return render(
        request, "community.html", principal, locale, c=record, ctype=ctype, groups=groups, as_of=as_of,
        attention={a.group.id: a for a in attention}, trends=ops.trends(record, groups), sections=sections,
        threshold=next((k for k in pb.thresholds.kinds if k.key == record.spec.threshold.kind), None),
        size=next((p for p in pb.sizes.policies if p.key == record.spec.size.policy), None),
        tasks=tasks, tz=record.spec.timezone, calendar=_calendar(ops.rhythm(record, groups, locale)),
        activities=ops.activities(record), health=health, group_health=group_health, group_findings=group_findings,
        kpi_values={k.key: k for k in health.kpis} if health is not None else {},
        window=report.days if report is not None else None,
    )  # fmt: skip


@router.get("/communities/{name}/spec.yaml")
def community_spec(name: str, principal: Reader, ops: OpsDep, download: bool = Query(False)) -> Response:
    """The complete spec as the YAML an operator keeps, shown as text (the API's JSON holds it with escaped
    newlines); ``?download=1`` saves it."""
    record = ops.community(name)
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.yaml"} if download else None
    return Response(record.spec.to_yaml(), media_type="text/plain; charset=utf-8", headers=headers)


@dataclass(frozen=True, slots=True)
class CalendarRow:
    """One job of the rhythm over the coming days, folded: when it runs, on which days, in which groups."""

    label: str
    times: tuple[str, ...]
    weekdays: tuple[int, ...]  # 0 = Monday; every day of the period when it runs daily
    daily: bool
    groups: tuple[str, ...]
    capped: int  # runs over the daily cap (recorded, not sent), counted once however many groups
    held: int  # runs held back during a guest talk


def _calendar(items: list[Any]) -> list[CalendarRow]:
    """The rhythm folded to one row per job (its times, days and groups) in the order of its first run; it was one
    row per job, day and time: fifty near-identical rows for a week."""
    days = sorted({r.local.date() for r in items})
    jobs: dict[str, list[Any]] = {}
    for r in sorted(items, key=lambda r: r.local):
        jobs.setdefault(r.label, []).append(r)
    rows = []
    for label, runs in jobs.items():
        on = sorted({r.local.date() for r in runs})
        rows.append(
            CalendarRow(
                label=label,
                times=tuple(sorted({r.local.strftime("%H:%M") for r in runs})),
                weekdays=tuple(sorted({d.weekday() for d in on})),
                daily=len(on) == len(days) and len(days) >= 7,
                groups=tuple(dict.fromkeys(r.group for r in runs)),
                capped=len({r.local for r in runs if r.status == "capped"}),
                held=len({r.local for r in runs if r.status == "held"}),
            )
        )
    return rows


ROSTER_PAGE = 100
ROSTER_SHOW = ("all", "silent", "staff", "new")


@router.get("/groups/{group_id}")
def group(
    request: Request,
    principal: Reader,
    ops: OpsDep,
    locale: LocaleDep,
    group_id: int = Path(ge=1, le=2**62),
    page: int = Query(1, ge=1, le=100_000),
    show: str = Query("all", max_length=10),
    q: str = Query("", max_length=50),
) -> Response:
    """A group: its figures, why it needs attention, the heatmap, and the roster a page at a time, filtered by name
    and by who (silent over the analysis' window, staff, joined in the last 7 days)."""
    g = ops.group(group_id)
    roster = ops.roster(group_id)
    heat = ops.heatmap(g)
    tz = heat["timezone"]
    record = ops.community(g.community) if g.community else None
    report = ops.analysis(locale)
    key = f"{g.platform}:{g.platform_id}"
    health = report.groups.get(key) if report is not None else None
    tiers = {m.person: m for m in report.members.get(key, [])} if report is not None else {}
    # Silent: the analysis' definition (no message and no check-in in its window), the figure the report counts.
    silent = {m.person_id for m in roster if m.person_id in tiers and "silent" in tiers[m.person_id].roles}
    as_of = ops.reference_ms()  # the workspace's "now", as the overview judges attention
    if show == "silent":
        roster = [m for m in roster if m.person_id in silent]
    elif show == "staff":
        roster = [m for m in roster if m.person_id in tiers and tiers[m.person_id].staff]
    elif show == "new":
        roster = [m for m in roster if m.joined_ms is not None and m.joined_ms >= as_of - 7 * 86_400_000]
    if q.strip():
        needle = q.strip().casefold()
        roster = [m for m in roster if needle in (m.name or "").casefold()]
    pages = max(1, -(-len(roster) // ROSTER_PAGE))
    page = min(page, pages)
    shown = roster[(page - 1) * ROSTER_PAGE : page * ROSTER_PAGE]
    att = ops.attention(g, record.spec if record else None, as_of, health)
    links = {n: request.url.path + "?" + urlencode({"show": show, "q": q, "page": n}) for n in (page - 1, page + 1)}
    return render(
        request, "group.html", principal, locale, g=g, roster=shown, matched=len(roster), page=page, pages=pages,
        steps=_lifecycle_steps(health), done=request.query_params.get("done", "")[:20],
        show=show if show in ROSTER_SHOW else "all", shows=ROSTER_SHOW, q=q, links=links, heat=heat, silent=silent,
        silent_count=health.silent_members if health is not None else len(silent), tz=tz, attention=att,
        community=record, health=health, tiers=tiers, window=report.days if report is not None else None,
    )  # fmt: skip


def _lifecycle_steps(health: Any) -> list[dict[str, str]]:
    """The lifecycle steps the group's findings prescribe, as buttons: the verb, the group to merge into, the
    command it stands for (the report shows the same command)."""
    steps = []
    for f in health.findings if health is not None else ():
        for command in getattr(f, "commands", ()):
            parts = shlex.split(command)
            into = parts[parts.index("--into") + 1] if "--into" in parts else ""
            steps.append({"finding": f.title, "verb": parts[2], "into": into, "command": command})
    return steps


@router.post("/groups/{group_id}/lifecycle")
def group_lifecycle(
    request: Request,
    principal: Writer,
    ops: OpsDep,
    locale: LocaleDep,
    group_id: int = Path(ge=1, le=2**62),
    verb: Literal["split", "merge", "archive", "dissolve", "reopen"] = Form(),
    into: str = Form("", max_length=300),
    confirmed: int = Form(-1, ge=-1, le=10_000_000),
) -> Response:
    """A lifecycle step from a prescription's button: first a page that says what will happen to how many members
    and asks to confirm; the confirmation carries the count seen, and a count that changed since is asked again."""
    options: dict[str, Any] = {"into": into} if verb == "merge" else {}
    preview = ops.lifecycle(verb, group_id, actor=principal.actor, dry_run=True, **options)
    if confirmed != preview.members:
        return render(
            request, "lifecycle_confirm.html", principal, locale, g=ops.group(group_id), verb=verb, into=into,
            outcome=preview, changed=confirmed >= 0,
        )  # fmt: skip
    ops.lifecycle(verb, group_id, actor=principal.actor, **options)
    return _redirect(f"/groups/{group_id}?" + urlencode({"done": verb}))


@router.get("/members/{person_id}")
async def member(
    request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep, person_id: int = Path(ge=1, le=2**62)
) -> Response:
    p = ops.member(person_id)
    timeline = ops.timeline(person_id, limit=100)
    tz = ops.app.ws.timezone
    return render(request, "member.html", principal, locale, p=p, timeline=timeline, tz=tz, zone=ZoneInfo(tz))


@router.post("/members/{person_id}/tags")
def member_tag(
    request: Request,
    principal: Writer,
    ops: OpsDep,
    person_id: int = Path(ge=1, le=2**62),
    community: str = Form(max_length=100),
    tag: str = Form(min_length=1, max_length=40),
    remove: bool = Form(False),
) -> Response:
    ops.tag_member(person_id, community, tag.strip(), remove=remove, actor=principal.actor)
    return _redirect(f"/members/{person_id}")


@router.get("/events")
def events(
    request: Request,
    principal: Reader,
    ops: OpsDep,
    locale: LocaleDep,
    kind: str = Query("", max_length=32),
    before: int | None = Query(None, ge=1, le=2**62),
) -> Response:
    """The event log, newest first, a page of 100 at a time."""
    chosen = kind if kind in KINDS else None
    rows = ops.recent_events(before_seq=before, limit=100, kind=chosen)
    return render(
        request, "events.html", principal, locale, rows=rows, kind=chosen or "", kinds=KINDS,
        next_before=rows[-1]["seq"] if len(rows) == 100 else None, tz=ops.app.ws.timezone,
    )  # fmt: skip


# -- imports ------------------------------------------------------------------------------------------------------


@router.get("/imports")
async def imports(request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep) -> Response:
    return render(
        request, "imports.html", principal, locale, jobs=request.app.state.uploads.list(),
        communities=ops.communities(), tz=ops.app.ws.timezone,
    )  # fmt: skip


@router.post("/imports")
async def import_upload(request: Request, principal: Writer) -> Response:
    from shequn.web.api.imports import receive_upload

    up = await receive_upload(request, principal)
    f = up.fields
    await run_in_threadpool(
        request.app.state.uploads.start, up.job, up.path, original=up.filename, actor=principal.actor,
        community=f.get("community") or None, group=f.get("group") or None, tz=f.get("tz") or None,
        mask_pii=up.flag("mask_pii"),
    )  # fmt: skip
    return _redirect(f"/imports/{up.job}")


@router.get("/imports/{job}")
async def import_job(
    request: Request,
    principal: Reader,
    ops: OpsDep,
    locale: LocaleDep,
    job: str = Path(pattern=r"^[0-9]{14}-[0-9a-f]{8}$"),
) -> Response:
    state = request.app.state.uploads.get(job)
    if state is None:
        raise NotFoundError("import", job)
    groups = {(g.platform, g.platform_id): g.id for g in ops.groups()} if state["status"] == "done" else {}
    return render(request, "import_job.html", principal, locale, job=state, group_ids=groups)


# -- staff tasks --------------------------------------------------------------------------------------------------


@router.get("/tasks")
def tasks(
    request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep, status: str = Query("open", max_length=10)
) -> Response:
    if status not in ("open", "done"):
        status = "open"
    items = ops.tasks(status=status, limit=500)
    groups = {g.id: g for g in ops.groups()}
    communities = {c.id: c.name for c in ops.communities()}
    return render(
        request, "tasks.html", principal, locale, tasks=items, status=status, groups=groups, communities=communities,
        total=ops.count_tasks(status=status),
        tz=ops.app.ws.timezone,
    )  # fmt: skip


@router.post("/tasks/{task_id}/done")
def task_done(principal: Writer, ops: OpsDep, task_id: int = Path(ge=1, le=2**62)) -> Response:
    ops.complete_task(task_id, actor=principal.actor)
    return _redirect("/tasks")


# -- segments -----------------------------------------------------------------------------------------------------


def _segment_from_query(ops: OpsDep, q: dict[str, str]) -> tuple[Segment, dict[str, str]]:
    """A segment from the page's query string (the form's GET); returns it and the cleaned values."""

    def number(name: str, lo: int, hi: int) -> int | None:
        raw = q.get(name, "").strip()
        if not raw:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise UserError(f"{name}: not a whole number: {raw!r}", exit_code=2) from None
        if not lo <= value <= hi:
            raise UserError(f"{name}: must be between {lo} and {hi}", exit_code=2)
        return value

    def day(name: str) -> date | None:
        raw = q.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise UserError(f"{name}: not a date (YYYY-MM-DD): {raw!r}", exit_code=2) from None

    def words(name: str) -> tuple[str, ...]:
        parts = (w.strip() for w in q.get(name, "").replace("，", ",").split(","))
        return tuple(w for w in parts if w)[:20]

    community = q.get("community", "").strip()
    record = ops.community(community) if community else None
    tz = ZoneInfo(record.spec.timezone if record else ops.app.ws.timezone)
    status = q.get("status", "active")
    statuses = ("active",) if status not in ("active", "left", "any") else (
        ("active", "left", "removed", "banned") if status == "any" else (status,)
    )  # fmt: skip
    joined_from, joined_to = day("joined_from"), day("joined_to")
    silent_days = number("silent_days", 1, 3650)
    segment = Segment(
        community_id=record.id if record else None,
        statuses=statuses,
        tags=words("tags"),
        without_tags=words("without_tags"),
        roles=words("roles"),
        level_min=number("level_min", 0, 1000),
        level_max=number("level_max", 0, 1000),
        joined_from_ms=to_ms(datetime(joined_from.year, joined_from.month, joined_from.day, tzinfo=tz))
        if joined_from
        else None,
        joined_to_ms=to_ms(datetime(joined_to.year, joined_to.month, joined_to.day, tzinfo=tz) + timedelta(days=1))
        if joined_to
        else None,
        silent_since_ms=ops.reference_ms() - silent_days * 86_400_000 if silent_days else None,
        group_id=number("group_id", 1, 2**62),
    )
    return segment, {k: v for k, v in q.items() if k != "lang"}


@router.get("/segments")
def segments(request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep) -> Response:
    q = dict(request.query_params)
    result = None
    values: dict[str, str] = {}
    if q.get("run"):
        segment, values = _segment_from_query(ops, q)
        result = ops.segment(segment, limit=200)
    return render(
        request, "segments.html", principal, locale, result=result, values=values, communities=ops.communities(),
        groups=ops.groups(), tags=ops.tags(), key=secrets.token_hex(8), query=urlencode(values), done=q.get("done"),
        tz=ops.app.ws.timezone,
    )  # fmt: skip


@router.post("/segments/act")
def segment_act(
    request: Request,
    principal: Writer,
    ops: OpsDep,
    locale: LocaleDep,
    query: str = Form(max_length=4000),
    action: SegmentVerb = Form(),
    key: str = Form(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$"),
    value: str = Form("", max_length=40),
    text: str = Form("", max_length=2000),
    group_id: int | None = Form(None, ge=1, le=2**62),
    confirmed: int = Form(0, ge=0, le=10_000_000),
) -> Response:
    """Act on a segment: first a page that says what will happen to how many members and asks to confirm; the
    confirmation carries the count the operator saw, and a segment that changed since is asked again."""
    from urllib.parse import parse_qsl

    q = dict(parse_qsl(query))
    segment, _ = _segment_from_query(ops, q)
    total = ops.segment(segment, limit=1).total
    if confirmed != total or not total:
        groups = {g.id: g for g in ops.groups()}
        target = groups.get(group_id) if group_id else None
        return render(
            request, "segment_confirm.html", principal, locale, total=total, action=action, query=query, key=key,
            value=value, text=text, group_id=group_id or "", group=target, changed=bool(confirmed),
        )  # fmt: skip
    out = ops.act_on_segment(
        segment,
        action,
        actor=principal.actor,
        key=key,
        value=value,
        text=text,
        group_id=group_id,
    )
    done = ",".join(f"{k}:{v}" for k, v in out.items())
    return _redirect("/segments?" + urlencode({**q, "run": "1", "done": done}))


# -- settings: tokens, users, webhook secret, audit -----------------------------------------------------------------


@router.get("/settings")
def settings(
    request: Request,
    principal: Reader,
    ops: OpsDep,
    accounts: AccountsDep,
    locale: LocaleDep,
    shop: str = Query("", max_length=40, pattern=r"^([a-z0-9][a-z0-9_-]*)?$"),
) -> Response:
    admin = principal.can(Perm.ADMIN)
    return render(
        request, "settings.html", principal, locale,
        tokens=accounts.tokens(user_id=None if admin else principal.user.id),
        users=accounts.users() if admin else [],
        audit=ops.audit(limit=100) if admin else [],
        shop=shop if admin else "",
        secret=accounts.webhook_secret(shop) if admin and shop else "",
        new_token=request.query_params.get("new_token", ""),
        tz=ops.app.ws.timezone,
    )  # fmt: skip


@router.post("/settings/tokens")
async def settings_token(
    request: Request,
    principal: Reader,
    accounts: AccountsDep,
    locale: LocaleDep,
    name: str = Form(min_length=1, max_length=100),
    scopes: list[str] = Form(max_length=3),
    expires_days: int | None = Form(None, ge=1, le=3650),
) -> Response:
    wanted = parse_scopes(scopes)
    if not wanted <= principal.perms:
        raise UserError("a token cannot have more permissions than its creator", exit_code=2)
    _, text = accounts.create_token(principal.user, name, wanted, actor=principal.actor, expires_days=expires_days)
    # The token is shown once, on the page the form leads to; it never goes into a URL or a log.
    return render(request, "token_created.html", principal, locale, token=text, name=name, scopes=sorted(wanted))


@router.post("/settings/tokens/{token_id}/revoke")
def settings_revoke(principal: Reader, accounts: AccountsDep, token_id: int = Path(ge=1, le=2**62)) -> Response:
    record = accounts.token(token_id)
    if record is None or (record.user.id != principal.user.id and not principal.can(Perm.ADMIN)):
        raise UserError("no such token", exit_code=2)
    accounts.revoke_token(token_id, actor=principal.actor)
    return _redirect("/settings")


@router.post("/settings/users")
def settings_user(
    principal: Admin,
    accounts: AccountsDep,
    username: str = Form(min_length=1, max_length=100),
    password: str = Form(min_length=8, max_length=1024),
    role: str = Form(max_length=10),
) -> Response:
    accounts.create_user(username, password, role, actor=principal.actor)
    return _redirect("/settings")


@router.post("/settings/users/{username}")
def settings_user_change(
    principal: Admin,
    accounts: AccountsDep,
    username: str = Path(min_length=1, max_length=100),
    role: str = Form("", max_length=10),
    disabled: str = Form("", max_length=5),
) -> Response:
    if role:
        accounts.set_role(username, role, actor=principal.actor)
    if disabled in ("0", "1"):
        accounts.set_disabled(username, disabled == "1", actor=principal.actor)
    return _redirect("/settings")


@router.post("/settings/webhook-secret")
def settings_rotate(
    principal: Admin, accounts: AccountsDep, shop: str = Form(max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
) -> Response:
    accounts.rotate_webhook_secret(shop, actor=principal.actor)
    return _redirect(f"/settings?shop={shop}")


# -- growth and commerce (issue 9) --------------------------------------------------------------------------------


@router.get("/growth")
def growth(request: Request, principal: Reader, ops: OpsDep, locale: LocaleDep) -> Response:
    """Referral boards, each community's funnel by channel and cohort, the commerce measures, products, refusals."""
    from shequn.reports import growth as rg
    from shequn.services.growth import Growth
    from shequn.services.shop import Shop

    gr, shop = Growth(ops.app), Shop(ops.app)
    contests = [c for c in gr.contests() if c.closed_ms is None]
    boards = [gr.leaderboard(c.key, limit=10) for c in contests]
    history = {c.key: gr.settlements(c.key) for c in contests}
    measures = shop.measures()["communities"]
    report = ops.analysis(locale)  # as the community page: computed once, then served from the cache
    funnels: dict[str, dict[str, Any]] = {}
    for name in measures:
        health = report.communities.get(name) if report is not None else None
        if health is not None and health.funnel.by_channel:
            funnels[name] = {by: rg.funnel_rows(health, locale, by=by) for by in ("channel", "cohort")}
    lines = {
        name: rg.commerce_lines(report.communities[name], m, locale, report.days)
        for name, m in measures.items()
        if report is not None and name in report.communities
    }
    tz = ops.app.ws.timezone
    return render(
        request,
        "growth.html",
        principal,
        locale,
        boards=boards,
        history=history,
        measures=measures,
        lines=lines,
        funnels=funnels,
        products=[shop.status(p.sku) for p in shop.products()],
        rejections=shop.rejections(limit=50),
        tz=tz,
        zone=ZoneInfo(tz),
        money=fmt.money,
    )


@router.post("/growth/settle")
def growth_settle(principal: Writer, ops: OpsDep) -> Response:
    from shequn.services.growth import Growth

    with ops.write():
        ops.app.refresh()
        Growth(ops.app).settle()
    return _redirect("/growth")
