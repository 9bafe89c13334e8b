"""The content of the rhythm's jobs: 签到, 早报, the daily topic and its loop, 预热, 晚报, games, the weekly case
study, the sales day, the ad window, and the operator's own jobs. Registered in :data:`~shequn.schedule.BUILDERS`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from shequn.domain import Action, Post, UserError, stable_id
from shequn.engine import build_community_config
from shequn.playbook import load_playbook
from shequn.policies import CommunityConfig, checkin, levels
from shequn.policies.games import round_event
from shequn.schedule.content import JobContext, register, render
from shequn.schedule.digest import Digest, compute_digest, withdrawn
from shequn.schedule.plan import _case_day
from shequn.schedule.topics import TopicPick, base_topic, todays_topic

_MAX_UNANSWERED = 3


def _job(key: str):  # type: ignore[no-untyped-def]
    return next(j for j in load_playbook().rhythm.jobs if j.key == key)


def _common(ctx: JobContext) -> dict[str, str]:
    return {
        "community": ctx.spec.name,
        "group": ctx.occ.group.name or ctx.spec.name,
        "date": ctx.occ.local.strftime("%m-%d") if ctx.locale != "en" else ctx.occ.local.strftime("%d %b"),
        "weekday": ctx.weekday(),
    }


def _bots(ctx: JobContext) -> frozenset[str]:
    return frozenset({"shequn"})


def _digest(ctx: JobContext, start: datetime, end: datetime) -> Digest:
    taken_back = withdrawn(ctx.data.community_state(ctx.spec.name))
    return compute_digest(ctx.events(start, end), start, end, bots=_bots(ctx), taken_back=taken_back)


def _names(ctx: JobContext, names: Sequence[str]) -> str:
    return ctx.label("name_list_sep").join(names)


def _activity_time(ctx: JobContext) -> tuple[str, str]:
    jobs = ctx.spec.rhythm.jobs
    check_in = jobs.get("check_in")
    act = jobs.get("daily_activity")
    return (check_in.at if check_in and check_in.at else "07:30"), (act.at if act and act.at else "08:00")


def _topic_key(ctx: JobContext, day_offset: int) -> str:
    """The key of the daily activity's occurrence on another day (to read what it posted)."""
    act = ctx.spec.rhythm.jobs.get("daily_activity")
    hhmm = act.at if act and act.at else "08:00"
    day = ctx.occ.local.date() + timedelta(days=day_offset)
    return f"rhythm:{ctx.spec.name}:{ctx.occ.group.key}:{day:%Y-%m-%d}T{hhmm}:daily_activity"


def _loop_cutoff(ctx: JobContext, day_offset: int) -> datetime:
    pre = ctx.spec.rhythm.jobs.get("activity_preheat")
    hhmm = pre.at if pre and pre.at else "20:00"
    h, m = hhmm.split(":")
    day = ctx.occ.local.date() + timedelta(days=day_offset)
    return datetime.combine(day, time(int(h), int(m)), tzinfo=ctx.tz)


def topic_of_day(ctx: JobContext, day_offset: int = 0) -> TopicPick | None:
    """The topic of the occurrence's day (+offset), with the content loop: a discussion that took off yesterday
    (before the preheat time) is carried on with its follow-up."""
    day = ctx.occ.local.date() + timedelta(days=day_offset)
    yesterday = ctx.data.run_detail(_topic_key(ctx, day_offset - 1))
    speakers = 0
    if yesterday and yesterday.get("at"):
        start = datetime.fromisoformat(str(yesterday["at"]))
        end = _loop_cutoff(ctx, day_offset - 1)
        speakers = _digest(ctx, start, end).speakers if end > start else 0
    return todays_topic(ctx.spec, day, yesterday, speakers)


@register("check_in")
def check_in(ctx: JobContext) -> Sequence[Action] | None:
    """Opens the day's check-in: the operator's wording if the spec has one, else the check-in policy's (with the
    longest current streak), else the rhythm's default."""
    if ctx.spec.rhythm.jobs.get("check_in") is None or not ctx.spec.rhythm.jobs["check_in"].text:
        config = _policy_config(ctx)
        state = ctx.data.community_state(ctx.spec.name)
        if config is not None and state is not None and config.settings["checkin"].enabled:
            return [ctx.post(checkin.announcement(config, state, ctx.occ.at))]
    return [ctx.post(render(ctx.template(_job("check_in").text), **_common(ctx)))]


@register("daily_activity")
def daily_activity(ctx: JobContext) -> Sequence[Action] | None:
    pick = topic_of_day(ctx)
    if pick is None:
        return None
    ctx.detail.update(pick.to_detail(), at=ctx.occ.at.isoformat())
    text = render(ctx.template(_job("daily_activity").text), topic=pick.text, type=pick.type_name, **_common(ctx))
    return [ctx.post(text)]


@register("case_study")
def case_study(ctx: JobContext) -> Sequence[Action] | None:
    case = load_playbook().topics.case_study.text.get(ctx.locale)
    ctx.detail.update(topic=case, type="case_study", follow_up="", is_follow_up=True, at=ctx.occ.at.isoformat())
    return [ctx.post(render(ctx.template(_job("case_study").text), topic=case, type="", **_common(ctx)))]


@register("activity_preheat")
def activity_preheat(ctx: JobContext) -> Sequence[Action] | None:
    check, at = _activity_time(ctx)
    tomorrow = ctx.occ.local.date() + timedelta(days=1)
    if _case_day(ctx.spec, tomorrow):
        topic = load_playbook().topics.case_study.text.get(ctx.locale)
    else:
        pick = topic_of_day(ctx, 1)
        if pick is None:
            return None
        topic = pick.text
    text = render(ctx.template(_job("activity_preheat").text), topic=topic, time=at, check_in=check, **_common(ctx))
    return [ctx.post(text)]


def _upcoming(ctx: JobContext, days: int = 7) -> list[str]:
    start, end = ctx.occ.at, ctx.occ.at + timedelta(days=days)
    out = []
    for a in ctx.data.activities(ctx.spec.name):
        if a.starts and start <= a.starts < end and a.status != "cancelled" and ctx.occ.group.key in a.groups:
            when = a.starts.astimezone(ctx.tz)
            label = f"{when:%m-%d} {ctx.weekday(when)} {when:%H:%M}"
            out.append(ctx.label("event_item", when=label, title=a.title))
    return out


def _sections(ctx: JobContext, d: Digest, *, today: bool) -> list[str]:
    parts = []
    if d.quiet:
        parts.append(ctx.label("quiet_today" if today else "quiet_day"))
    else:
        parts.append(ctx.label("today" if today else "yesterday", messages=d.messages, speakers=d.speakers))
    if d.highlights:
        lines = [ctx.label("item", n=i, name=s.name, text=s.text) for i, s in enumerate(d.highlights, 1)]
        parts.append("\n".join([ctx.label("highlights"), *lines]))
    if d.unanswered:
        lines = [
            ctx.label("item", n=i, name=s.name, text=s.text) for i, s in enumerate(d.unanswered[:_MAX_UNANSWERED], 1)
        ]
        parts.append("\n".join([ctx.label("unanswered"), *lines]))
    if d.top:
        lines = [ctx.label("count_item", n=i, name=name, count=n) for i, (_, name, n) in enumerate(d.top, 1)]
        parts.append("\n".join([ctx.label("contributors"), *lines]))
    if d.newcomers:
        parts.append(
            f"{ctx.label('newcomers')}：{_names(ctx, [n for _, n in d.newcomers[:10]])}"
            if ctx.locale != "en"
            else f"{ctx.label('newcomers')}: {_names(ctx, [n for _, n in d.newcomers[:10]])}"
        )
    return parts


@register("morning_report")
def morning_report(ctx: JobContext) -> Sequence[Action] | None:
    start, end = ctx.day_window(-1)
    d = _digest(ctx, start, end)
    parts = [render(ctx.template(_job("morning_report").text), **_common(ctx)), *_sections(ctx, d, today=False)]
    plan = []
    if _case_day(ctx.spec, ctx.occ.local.date()):
        plan.append(load_playbook().topics.case_study.text.get(ctx.locale))
    elif ctx.spec.rhythm.jobs["daily_activity"].enabled:
        pick = topic_of_day(ctx)
        if pick is not None:
            plan.append(pick.text)
    upcoming = _upcoming(ctx)
    if plan:
        parts.append("\n".join([ctx.label("today_plan"), *plan]))
    if upcoming:
        parts.append("\n".join([ctx.label("upcoming"), *upcoming]))
    ctx.detail.update(
        messages=d.messages, speakers=d.speakers, unanswered=len(d.unanswered), newcomers=len(d.newcomers)
    )
    return [ctx.post("\n\n".join(parts))]


@register("evening_report")
def evening_report(ctx: JobContext) -> Sequence[Action] | None:
    start, _ = ctx.day_window(0)
    d = _digest(ctx, start, ctx.occ.at)
    parts = [render(ctx.template(_job("evening_report").text), **_common(ctx)), *_sections(ctx, d, today=True)]
    topic = ctx.data.run_detail(_topic_key(ctx, 0))
    if topic and topic.get("at"):
        since = datetime.fromisoformat(str(topic["at"]))
        td = _digest(ctx, since, ctx.occ.at)
        parts.append(
            ctx.label("topic_digest", topic=topic.get("topic", ""), messages=td.messages, speakers=td.speakers)
        )
        nxt = topic_of_day(ctx, 1)
        if nxt is not None and nxt.is_follow_up:
            parts.append(ctx.label("follow_up", topic=nxt.text))
    check, at = _activity_time(ctx)
    if ctx.spec.rhythm.jobs["check_in"].enabled or ctx.spec.rhythm.jobs["daily_activity"].enabled:
        parts.append(ctx.label("tomorrow", check_in=check, time=at))
    ctx.detail.update(messages=d.messages, speakers=d.speakers)
    return [ctx.post("\n\n".join(parts))]


@register("games")
def games(ctx: JobContext) -> Sequence[Action] | None:
    lib = load_playbook().topics.games
    n = ctx.occ.local.toordinal()
    picks = [lib[(n * 2) % len(lib)], lib[(n * 2 + 1) % len(lib)]]
    lines = "\n".join(
        ctx.label("item", n=i, name=g.name.get(ctx.locale), text=g.text.get(ctx.locale)) for i, g in enumerate(picks, 1)
    )
    # The post promises a red packet for right answers: the games policy checks them (book 1688).
    config = _policy_config(ctx)
    if config is not None and config.settings["games"].enabled:
        g = ctx.occ.group
        round_id = stable_id("game_round", ctx.occ.key)
        ctx.emitted.append(round_event(round_id, ctx.occ.at, g.platform, g.platform_id, [p.key for p in picks]))
    return [ctx.post(render(ctx.template(_job("games").text), games=lines, **_common(ctx)))]


@register("sales_day")
def sales_day(ctx: JobContext) -> Sequence[Action] | None:
    products = ctx.spec.rhythm.products
    if products:
        week = ctx.occ.local.toordinal() // 7
        text = render(ctx.template(_job("sales_day").text), product=products[week % len(products)], **_common(ctx))
        return [ctx.post(text)]
    # 当没有合适的产品时…改为内容分享 (book 1123): a topic instead of a sale.
    pick = base_topic(ctx.spec, ctx.occ.local.date())
    if pick is None:
        return None
    return [ctx.post(f"{ctx.label('sales_fallback')}\n{pick.text}")]


@register("ad_window")
def ad_window(ctx: JobContext) -> Sequence[Action] | None:
    job = ctx.spec.rhythm.jobs["ad_window"]
    return [ctx.post(render(ctx.template(_job("ad_window").text), start=job.at, until=job.until or "", **_common(ctx)))]


@register("custom")
def custom(ctx: JobContext) -> Sequence[Action] | None:
    return [ctx.post(render(ctx.occ.text or "", **_common(ctx)))]


__all__ = ["Post", "topic_of_day"]


@register("level_bulletin")
def level_bulletin(ctx: JobContext) -> Sequence[Action] | None:
    """The daily level bulletin (book 2371): its text is the levels policy's, so titles and thresholds agree."""
    config = _policy_config(ctx)
    state = ctx.data.community_state(ctx.spec.name)
    if config is None or state is None or not config.settings["levels"].enabled:
        return None
    if not any(m.active and m.level > 0 for m in state.members.values()):
        return None  # nobody has a level yet: nothing to announce
    return [ctx.post(levels.bulletin(config, state, ctx.occ.at))]


def _policy_config(ctx: JobContext) -> CommunityConfig | None:
    """The community's validated policy settings (None if the spec no longer validates: the job stays silent)."""
    try:
        return build_community_config(ctx.spec, source=f"community {ctx.spec.name}")
    except UserError:
        return None
