"""Activities in the groups: the run-of-show's steps, and what happens live while a talk or a registration is on.

How it works:
    Each step of :func:`~shequn.schedule.activities.run_of_show` has a builder here (``activity.<step>``): the
    notices, the rules reminder, warm-up, the guest's introduction (with the group muted while the guest talks:
    "chatter is held"), the call for questions (unmuted), the question queue every few minutes, the wrap-up with
    the next-topic survey and perks, the summary the next morning, the offline event's poll, announcement,
    invitation contest, reminder and survey. At the end of each segment the engagement of every group is recorded
    as a :class:`~shequn.domain.SegmentReport` and each member who spoke as :class:`~shequn.domain.Attendance`.

    :func:`live` runs on every scheduler pass while an activity is on and reads the new messages: latecomers get a
    private catch-up, the guest's words are relayed into the other groups, and "报名" typed in the chat registers
    (within the capacity, else on the waiting list).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shequn.analytics.conversation import is_question
from shequn.domain import (
    Action,
    Attendance,
    AttendanceStatus,
    CommunityState,
    DirectMessage,
    Event,
    EventKind,
    Join,
    Message,
    Mute,
    OpenStaffTask,
    Post,
    SegmentReport,
    SetAnnouncement,
    Unmute,
    stable_id,
)
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies import GroupConfig
from shequn.policies.moderation.evidence import mask_contacts
from shequn.schedule.activities import Activity, ActivityKind, FeeMode, checklist_key
from shequn.schedule.content import JobContext, render
from shequn.schedule.digest import Digest, Said, Withdrawn, compute_digest, withdrawn

_REGISTER = re.compile(r"^\s*(?:报名|接龙|\+1|join)\s*(?:[+＋]\s*(\d{1,2}))?", re.IGNORECASE)
_RATE = re.compile(r"^\s*(?:评分|rate)\s*([1-5])\b", re.IGNORECASE)
_VOTE = re.compile(r"^\s*#?\s*(\d{1,2})\s*$")


def _step(key: str, *, offline: bool = False):  # type: ignore[no-untyped-def]
    book = load_playbook().activities
    steps = book.offline.steps if offline else book.guest_talk.steps
    return next(s for s in steps if s.key == key)


def _money(fen: int, currency: str) -> str:
    yuan = fen / 100
    return f"{yuan:.0f}" if fen % 100 == 0 else f"{yuan:.2f}"


def _values(ctx: JobContext, a: Activity) -> dict[str, str]:
    tz = ctx.tz
    s = a.starts.astimezone(tz) if a.starts else None
    e = a.ends.astimezone(tz) if a.ends else None
    qa = a.qa_start.astimezone(tz) if a.qa_start else None
    agenda = ""
    if a.kind is ActivityKind.GUEST_TALK and s and e and qa:
        agenda = ctx.label(
            "agenda_talk",
            "activities",
            time=f"{s - timedelta(minutes=10):%H:%M}",
            talk=f"{s:%H:%M}",
            qa=f"{qa:%H:%M}",
            end=f"{e:%H:%M}",
        )
    elif a.agenda and s:
        lines, t = [], s
        for minutes, title in a.agenda:
            lines.append(f"{t:%H:%M}-{t + timedelta(minutes=minutes):%H:%M} {title}")
            t += timedelta(minutes=minutes)
        agenda = "\n".join(lines)
    if a.fee_mode is FeeMode.AA:
        fee = ctx.label("fee_aa", "activities", share="?", total=_money(a.fee, a.currency))
    elif a.fee_mode is FeeMode.COLLECT:
        fee = ctx.label("fee_collect", "activities", amount=_money(a.fee, a.currency))
    else:
        fee = ctx.label("fee_free", "activities")
    when = f"{s:%Y-%m-%d} {ctx.weekday(s)} {s:%H:%M}" + (f"-{e:%H:%M}" if e else "") if s else ""
    return {
        "title": a.title,
        "topic": a.topic or a.title,
        "guest": a.guest,
        "bio": a.bio,
        "perk": a.perk,
        "date": f"{s:%m-%d} {ctx.weekday(s)}" if s else "",
        "time": f"{s:%H:%M}" if s else "",
        "end": f"{e:%H:%M}" if e else "",
        "agenda": agenda,
        "venue": a.venue,
        "capacity": str(a.capacity) if a.capacity else ctx.label("unlimited", "activities"),
        "fee": fee,
        "when": when,
    }


def _text(ctx: JobContext, a: Activity, key: str, *, offline: bool = False, **more: str) -> str:
    step = _step(key, offline=offline)
    assert step.text is not None
    return render(step.text.get(ctx.locale), **{**_values(ctx, a), **more})


def _activity(ctx: JobContext) -> Activity:
    assert ctx.activity is not None
    return ctx.activity


def _window_events(ctx: JobContext, a: Activity, start: datetime, end: datetime) -> list[Event]:
    out: list[Event] = []
    for g in a.groups:
        out.extend(ctx.data.events(g, start, end))
    return sorted(out, key=lambda e: e.at)


# -- guest talks ----------------------------------------------------------------------------------------------


def prepare(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    missing = a.missing()
    if not missing:
        return None
    names = {
        checklist_key(i): item.text.get(ctx.locale)
        for i, item in enumerate(load_playbook().activities.guest_talk.checklist)
    }
    sep = ctx.label("missing_sep", "activities")
    title = _text(ctx, a, "prepare", missing=sep.join(names[m] for m in missing))
    return [ctx.act(OpenStaffTask, title=title, instructions=f"shequn event check {a.key} ITEM")]


def notice(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    text = _text(ctx, a, "notice")
    actions: list[Action] = [ctx.post(text)]
    if ctx.occ.n == 0:  # two days ahead: also the group announcement (book 2634: 提前两天发布群公告)
        actions.append(ctx.act(SetAnnouncement, "announcement", text=text))
    return actions


def rules(ctx: JobContext) -> Sequence[Action] | None:
    return [ctx.post(_text(ctx, _activity(ctx), "rules"))]


def warm_up(ctx: JobContext) -> Sequence[Action] | None:
    return [ctx.post(_text(ctx, _activity(ctx), "warm_up"))]


def introduce(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    actions: list[Action] = [ctx.post(_text(ctx, a, "introduce"))]
    if a.hold_chatter:
        actions.append(ctx.act(Mute, "hold", until=a.qa_start, reason="guest talk"))
    return actions


def questions(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    actions: list[Action] = []
    if a.hold_chatter:
        actions.append(ctx.act(Unmute, "release"))
    actions.append(ctx.post(_text(ctx, a, "questions")))
    return actions


def queue(ctx: JobContext) -> Sequence[Action] | None:
    """The questions asked in any of the activity's groups since the last queue, numbered on from there."""
    a = _activity(ctx)
    qa = a.qa_start
    assert qa is not None
    every = timedelta(minutes=load_playbook().activities.guest_talk.queue_every_minutes)
    since = qa if ctx.occ.n <= 1 else ctx.occ.at - every
    asked = []
    gone = _taken_back(ctx)
    for e in _window_events(ctx, a, since, ctx.occ.at):
        if isinstance(e, Message) and e.actor != a.guest_id and e.text and is_question(e.text):
            if (e.message_id or e.id) in gone.messages or f"{e.platform}:{e.actor}" in gone.people:
                continue  # an ad dressed as a question, deleted: not for the guest to read out
            asked.append(e)
    before = 0
    if ctx.occ.n > 1:
        prev = ctx.data.run_detail(ctx.occ.key.replace(f":queue:{ctx.occ.n}:", f":queue:{ctx.occ.n - 1}:"))
        before = int((prev or {}).get("total", 0))
    ctx.detail.update(total=before + len(asked), new=len(asked))
    if not asked:
        return None
    lines = [
        f"{before + i}. {e.actor_name or e.actor}：{' '.join(mask_contacts(e.text).split())[:120]}"
        for i, e in enumerate(asked, 1)
    ]
    return [ctx.post(ctx.label("queue", "activities", questions="\n".join(lines)))]


def wrap_up(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    actions: list[Action] = [ctx.post(_text(ctx, a, "wrap_up"))]
    if a.perk:
        actions.append(ctx.post(_text(ctx, a, "perks"), "perks"))
    return actions


def summary(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    if a.starts is None or a.ends is None:
        return None
    events = _window_events(ctx, a, a.starts, a.ends)
    d = compute_digest(events, a.starts, a.ends, bots=frozenset({"shequn"}), taken_back=_taken_back(ctx))
    asked = _members_asked(d, a)
    lines = [ctx.label("summary_stats", "activities", messages=d.messages, speakers=d.speakers, questions=len(asked))]
    if a.summary:
        lines.insert(0, a.summary)
    if asked:
        lines.append(ctx.label("summary_questions", "activities"))
        lines += [f"· {q.text}" for q in asked[:10]]
    actions: list[Action] = [ctx.post(_text(ctx, a, "summary", summary="\n".join(lines)))]
    if ctx.occ.group.key == a.home:  # 上传群文件 and the channels outside the group: a person's job
        title = render(load_playbook().activities.guest_talk.steps[-2].name.get(ctx.locale)) + f" · {a.title}"
        actions.append(ctx.act(OpenStaffTask, "files", title=title, instructions=_text(ctx, a, "summary", summary="")))
    return actions


def segment_report(ctx: JobContext) -> Sequence[Action] | None:
    """Engagement in the segment that just ended, in this group, and who took part (recorded as events)."""
    a = _activity(ctx)
    name = ctx.occ.step.removeprefix("report_")
    seg = next((s for s in a.segments() if s[0] == name), None)
    if seg is None:
        return None
    _, start, end = seg
    g = ctx.occ.group
    events = ctx.data.events(g.key, start, end)
    d = compute_digest(events, start, end, bots=frozenset({"shequn"}), taken_back=_taken_back(ctx))
    ctx.emitted.append(
        SegmentReport(
            id=stable_id("segment", a.key, name, g.key),
            at=end,
            platform=g.platform,
            group=g.platform_id,
            activity=a.key,
            segment=name,
            started=start,
            ended=end,
            messages=d.messages,
            speakers=d.speakers,
            questions=len(_members_asked(d, a)),
            joins=d.joins,
        )
    )
    spoke: dict[str, str] = {}
    for e in events:
        if isinstance(e, Message) and e.actor and not e.from_bot and e.actor != "shequn":
            spoke.setdefault(e.actor, e.actor_name)
    for actor, nm in spoke.items():
        ctx.emitted.append(
            Attendance(
                id=stable_id("present", a.key, name, g.key, actor),
                at=end,
                platform=g.platform,
                group=g.platform_id,
                actor=actor,
                actor_name=nm,
                activity=a.key,
                status=AttendanceStatus.PRESENT,
                segment=name,
                via="chat",
            )
        )
    ctx.detail.update(
        messages=d.messages, speakers=d.speakers, questions=len(_members_asked(d, a)), attendees=len(spoke)
    )
    return None


# -- offline events -------------------------------------------------------------------------------------------


def poll(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    options = "\n".join(f"{i}. {o}" for i, o in enumerate(a.poll_options, 1))
    return [ctx.post(_text(ctx, a, "poll", offline=True, options=options))]


def announce(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    text = _text(ctx, a, "announce", offline=True)
    return [ctx.post(text), ctx.act(SetAnnouncement, "announcement", text=text)]


def invite_contest(ctx: JobContext) -> Sequence[Action] | None:
    a = _activity(ctx)
    regs = registrations(_window_events(ctx, a, a.created or ctx.occ.at - timedelta(days=30), ctx.occ.at), a)
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    for r in regs.values():
        if r.inviter and r.status is AttendanceStatus.REGISTERED:
            counts[r.inviter] = counts.get(r.inviter, 0) + r.seats
    for r in regs.values():
        names.setdefault(r.actor, r.actor_name or r.actor)
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    lines = [
        ctx.label("rank_item", "activities", n=i, name=names.get(who, who), count=n)
        for i, (who, n) in enumerate(ranked, 1)
    ]
    return [ctx.post(_text(ctx, a, "invite_contest", offline=True, ranking="\n".join(lines)))]


def reminder(ctx: JobContext) -> Sequence[Action] | None:
    return [ctx.post(_text(ctx, _activity(ctx), "reminder", offline=True))]


def survey(ctx: JobContext) -> Sequence[Action] | None:
    return [ctx.post(_text(ctx, _activity(ctx), "survey", offline=True))]


def registrations(events: Iterable[Event], a: Activity) -> dict[str, Attendance]:
    """Each person's latest registration state for ``a``, from the log."""
    out: dict[str, Attendance] = {}
    for e in sorted(events, key=lambda e: e.at):
        if (
            isinstance(e, Attendance)
            and e.activity == a.key
            and e.status
            in (
                AttendanceStatus.REGISTERED,
                AttendanceStatus.WAITLISTED,
                AttendanceStatus.CANCELLED,
            )
        ):
            out[e.actor] = e
    return out


def seats_taken(regs: dict[str, Attendance]) -> int:
    return sum(r.seats for r in regs.values() if r.status is AttendanceStatus.REGISTERED)


@dataclass(slots=True)
class LiveItem:
    """One thing decided live: its key (the run's and the actions'), the actions, the facts to log."""

    key: str
    group: GroupConfig
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _in_before(state: CommunityState | None, gkey: str, when: datetime) -> set[str]:
    """The members (platform ids) who were in the group before ``when``: present, even if silent, so not late."""
    if state is None:
        return set()
    return {
        key.partition(":")[2]
        for key, m in state.members.items()
        if gkey in m.groups and (m.joined_at is None or m.joined_at < when)
    }


def _taken_back(ctx: JobContext) -> Withdrawn:
    return withdrawn(ctx.data.community_state(ctx.spec.name))


def _members_asked(d: Digest, a: Activity) -> list[Said]:
    """The questions members asked (the guest's own lines are the talk, not questions)."""
    return [q for q in d.asked if not a.guest_id or q.actor != a.guest_id]


def live(
    spec: CommunitySpec,
    a: Activity,
    groups: dict[str, GroupConfig],
    events_of: dict[str, Sequence[Event]],
    start: datetime,
    end: datetime,
    *,
    label: JobContext,
) -> list[LiveItem]:
    """What the new events of ``(start, end]`` call for while ``a`` is on (see the module docstring)."""
    out: list[LiveItem] = []
    home = groups.get(a.home)
    if home is None:
        return out
    if a.kind is ActivityKind.GUEST_TALK and a.starts and a.ends:
        talk_start, talk_end = a.starts, a.ends
        early = talk_start - timedelta(minutes=30)
        state = label.data.community_state(spec.name)
        gone = withdrawn(state).people
        for gkey in a.groups:
            g = groups.get(gkey)
            if g is None:
                continue
            evs = events_of.get(gkey, ())
            seen_before = {e.actor for e in evs if e.at < talk_start + timedelta(minutes=5) and e.at >= early}
            seen_before |= _in_before(state, gkey, talk_start)
            for e in evs:
                if not (start < e.at <= end) or not e.actor or e.actor == "shequn":
                    continue
                # Relay: the guest speaks in the first group; every other group hears it.
                if (
                    gkey == a.home
                    and isinstance(e, Message)
                    and e.actor == a.guest_id
                    and talk_start - timedelta(minutes=10) <= e.at <= talk_end
                    and e.text
                ):
                    for other in a.groups[1:]:
                        og = groups.get(other)
                        if og is None:
                            continue
                        key = f"activity:{a.key}:relay:{e.message_id or e.id}:{og.key}"
                        text = label.label("relay", "activities", guest=a.guest or e.actor_name, text=e.text)
                        out.append(
                            LiveItem(
                                key,
                                og,
                                [
                                    Post(
                                        key=key,
                                        at=e.at,
                                        community=spec.name,
                                        platform=og.platform,
                                        group=og.platform_id,
                                        policy="schedule.activity.relay",
                                        text=text,
                                    )
                                ],
                            )
                        )
                # Latecomers: joined after the talk began, or first spoke during the talk itself (not in the
                # Q&A, where speaking up is what is asked for).
                late = talk_start + timedelta(minutes=5)
                qa_start = a.qa_start or talk_end
                if (
                    a.catch_up
                    and e.actor not in seen_before
                    and f"{e.platform}:{e.actor}" not in gone
                    and e.actor != a.guest_id
                    and (
                        (isinstance(e, Join) and late <= e.at < talk_end)
                        or (isinstance(e, Message) and late <= e.at < qa_start)
                    )
                ):
                    seen_before.add(e.actor)
                    key = f"activity:{a.key}:catchup:{g.key}:{e.actor}"
                    qa = a.qa_start
                    segment = _step("questions" if qa and e.at >= qa else "introduce").name.get(spec.locale)
                    text = render(
                        _step("live_control").text.get(spec.locale),
                        name=e.actor_name or e.actor,
                        topic=a.topic or a.title,
                        time=f"{talk_start.astimezone(label.tz):%H:%M}",
                        segment=segment,
                        intro=a.bio or a.guest,
                    )
                    out.append(
                        LiveItem(
                            key,
                            g,
                            [
                                DirectMessage(
                                    key=key,
                                    at=e.at,
                                    community=spec.name,
                                    platform=g.platform,
                                    group=g.platform_id,
                                    target=e.actor,
                                    policy="schedule.activity.live_control",
                                    text=text,
                                )
                            ],
                        )
                    )
    if a.kind is ActivityKind.OFFLINE and a.starts and a.status != "cancelled":
        evs = events_of.get(a.home, ())
        regs = registrations(evs, a)
        taken = seats_taken(regs)
        for e in evs:
            if not (start < e.at <= end) or not isinstance(e, Message) or e.actor == "shequn" or e.at >= a.starts:
                continue
            m = _REGISTER.match(e.text or "")
            if not m:
                continue
            seats = 1 + int(m[1] or 0)
            current = regs.get(e.actor)
            if current is not None and current.status is AttendanceStatus.REGISTERED:
                continue
            full = bool(a.capacity) and taken + seats > a.capacity
            status = AttendanceStatus.WAITLISTED if full else AttendanceStatus.REGISTERED
            inviter = e.mentions[0] if e.mentions else ""
            att = Attendance(
                id=stable_id("register", a.key, e.id),
                at=e.at,
                platform=home.platform,
                group=home.platform_id,
                actor=e.actor,
                actor_name=e.actor_name,
                activity=a.key,
                status=status,
                seats=seats,
                inviter=inviter,
                via="chat",
            )
            regs[e.actor] = att
            if not full:
                taken += seats
            left = str(a.capacity - taken) if a.capacity else label.label("unlimited", "activities")
            name = e.actor_name or e.actor
            text = (
                label.label("waitlisted", "activities", name=name)
                if full
                else label.label("registered", "activities", name=name, seats=seats, n=taken, left=left)
            )
            key = f"activity:{a.key}:register:{e.message_id or e.id}"
            out.append(
                LiveItem(
                    key,
                    home,
                    [
                        Post(
                            key=key,
                            at=e.at,
                            community=spec.name,
                            platform=home.platform,
                            group=home.platform_id,
                            policy="schedule.activity.register",
                            text=text,
                        )
                    ],
                    [att],
                )
            )
    return out


def tally_votes(events: Iterable[Event], a: Activity, since: datetime) -> list[int]:
    """Votes per poll option: each member's last number typed after the poll (1-based options)."""
    last: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.at):
        if isinstance(e, Message) and e.at >= since and e.actor != "shequn":
            m = _VOTE.match(e.text or "")
            if m and 1 <= int(m[1]) <= len(a.poll_options):
                last[e.actor] = int(m[1])
    counts = [0] * len(a.poll_options)
    for v in last.values():
        counts[v - 1] += 1
    return counts


def tally_ratings(events: Iterable[Event], a: Activity, since: datetime) -> list[int]:
    """Each member's last rating (1-5) typed after the survey."""
    last: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.at):
        if isinstance(e, Message) and e.at >= since:
            m = _RATE.match(e.text or "")
            if m:
                last[e.actor] = int(m[1])
    return list(last.values())


_STEP_BUILDERS = {
    "prepare": prepare,
    "notice": notice,
    "rules": rules,
    "warm_up": warm_up,
    "introduce": introduce,
    "questions": questions,
    "queue": queue,
    "wrap_up": wrap_up,
    "summary": summary,
    "report_warm_up": segment_report,
    "report_talk": segment_report,
    "report_qa": segment_report,
    "poll": poll,
    "announce": announce,
    "invite_contest": invite_contest,
    "reminder": reminder,
    "survey": survey,
}


def _register_all() -> None:
    from shequn.schedule.content import register

    for step, fn in _STEP_BUILDERS.items():
        register(f"activity.{step}")(fn)


_register_all()

__all__ = ["EventKind", "LiveItem", "live", "registrations", "seats_taken", "tally_ratings", "tally_votes"]
