"""Activities (活动): guest talks (嘉宾分享) and offline events (线下活动), and their run-of-show.

How it works:
    An activity is a plan kept in the store (``shequn event create``). :func:`run_of_show` turns it into timed
    steps (an :class:`Step` each: when, which step of the playbook, to which groups); the planner offers them to the
    scheduler like any rhythm job, so they get deterministic keys and are sent once. What happens *during* a talk
    (the question queue, latecomers' catch-up, relaying the guest into the other groups, registrations typed in the
    chat) is read from the event log on every scheduler pass (see :mod:`shequn.schedule.live`).

Things to keep in mind:
    * Times are aware UTC datetimes; the playbook's clock times (09:00 notices …) are in the community's zone.
    * A step that would fall in the quiet hours moves to their end (the summary of a late talk goes out next
      morning), never into the night.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from shequn.domain.records import iso, parse_iso
from shequn.playbook import load_playbook
from shequn.playbook.spec import QuietHoursSpec, in_window


class ActivityKind(StrEnum):
    GUEST_TALK = "guest_talk"  # 嘉宾分享
    OFFLINE = "offline"  # 线下活动


class FeeMode(StrEnum):
    FREE = "free"
    AA = "aa"  # AA制: the budget split among those who come
    COLLECT = "collect"  # 群收款: a fixed amount per person


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity of a community.

    Attributes:
        key: unique in the workspace (used in every action key and event of the activity).
        groups: group keys (``platform:id``); the first is where it happens, the others get the relay and notices.
        guest_id: the guest's platform id in the first group (what they say there is relayed).
        checklist: preparation items (the playbook's keys) → done.
        poll_options: the time poll's options (offline events, before the time is fixed).
        agenda: (minutes, title) parts; a break is added after the first hour when it is missing.
        capacity: places (0: unlimited); fee in minor units (fen).
        secret: signs the QR tickets, so a code cannot be guessed.
    """

    key: str
    community: str
    kind: ActivityKind
    title: str
    starts: datetime | None = None
    ends: datetime | None = None
    groups: tuple[str, ...] = ()
    topic: str = ""
    guest: str = ""
    guest_id: str = ""
    bio: str = ""
    perk: str = ""
    summary: str = ""
    hold_chatter: bool = True
    catch_up: bool = True
    checklist: dict[str, bool] = field(default_factory=dict)
    venue: str = ""
    capacity: int = 0
    fee_mode: FeeMode = FeeMode.FREE
    fee: int = 0  # per person (collect) or the whole budget (aa), in fen
    currency: str = "CNY"
    poll_options: tuple[str, ...] = ()
    agenda: tuple[tuple[int, str], ...] = ()
    created: datetime | None = None
    status: str = "scheduled"  # planning (poll open) | scheduled | done | cancelled
    secret: str = ""

    @property
    def home(self) -> str:
        return self.groups[0] if self.groups else ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("starts", "ends", "created"):
            d[k] = iso(d[k]) if d[k] else None
        d["kind"] = self.kind.value
        d["fee_mode"] = self.fee_mode.value
        d["groups"] = list(self.groups)
        d["poll_options"] = list(self.poll_options)
        d["agenda"] = [list(a) for a in self.agenda]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Activity:
        return cls(
            key=d["key"],
            community=d["community"],
            kind=ActivityKind(d["kind"]),
            title=d.get("title", ""),
            starts=parse_iso(d["starts"]) if d.get("starts") else None,
            ends=parse_iso(d["ends"]) if d.get("ends") else None,
            groups=tuple(d.get("groups", ())),
            topic=d.get("topic", ""),
            guest=d.get("guest", ""),
            guest_id=d.get("guest_id", ""),
            bio=d.get("bio", ""),
            perk=d.get("perk", ""),
            summary=d.get("summary", ""),
            hold_chatter=d.get("hold_chatter", True),
            catch_up=d.get("catch_up", True),
            checklist=dict(d.get("checklist", {})),
            venue=d.get("venue", ""),
            capacity=d.get("capacity", 0),
            fee_mode=FeeMode(d.get("fee_mode", "free")),
            fee=d.get("fee", 0),
            currency=d.get("currency", "CNY"),
            poll_options=tuple(d.get("poll_options", ())),
            agenda=tuple((int(m), str(t)) for m, t in d.get("agenda", ())),
            created=parse_iso(d["created"]) if d.get("created") else None,
            status=d.get("status", "scheduled"),
            secret=d.get("secret", ""),
        )

    def with_(self, **changes: Any) -> Activity:
        return replace(self, **changes)

    # -- guest talks ------------------------------------------------------------------------------------------

    @property
    def qa_start(self) -> datetime | None:
        if self.starts is None or self.ends is None:
            return None
        qa = timedelta(minutes=load_playbook().activities.guest_talk.qa_minutes)
        return max(self.ends - qa, self.starts + (self.ends - self.starts) / 2)

    def segments(self) -> list[tuple[str, datetime, datetime]]:
        """The talk's segments with their times: warm-up, talk, Q&A (guest talks with a time only)."""
        if self.kind is not ActivityKind.GUEST_TALK or self.starts is None or self.ends is None:
            return []
        qa = self.qa_start
        assert qa is not None
        return [
            ("warm_up", self.starts - timedelta(minutes=10), self.starts),
            ("talk", self.starts, qa),
            ("qa", qa, self.ends),
        ]

    def missing(self) -> list[str]:
        """Preparation items not done yet (keys of the playbook's checklist)."""
        keys = [checklist_key(i) for i in range(len(load_playbook().activities.guest_talk.checklist))]
        return [k for k in keys if not self.checklist.get(k)]

    # -- offline events ---------------------------------------------------------------------------------------

    def ticket(self, member: str) -> str:
        """The check-in code of ``member``'s ticket (what the QR code carries)."""
        digest = hashlib.blake2b(f"{self.key}\x1f{member}".encode(), key=self.secret.encode()[:64], digest_size=6)
        return digest.hexdigest()

    def ticket_uri(self, member: str) -> str:
        return f"shequn:checkin:{self.key}:{member}:{self.ticket(member)}"


def checklist_key(i: int) -> str:
    return ("guest", "confirmed", "poster", "team", "announcement", "extra")[min(i, 5)]


def new_secret() -> str:
    return secrets.token_hex(16)


def default_agenda(minutes: int, *, locale: str) -> tuple[tuple[int, str], ...]:
    """Two parts with a break after the first hour when longer than an hour (book 1418), else one part."""
    book = load_playbook().activities
    brk, after = book.offline.break_minutes.value, book.offline.break_after_minutes.value
    name = book.labels["break"].get(locale)
    if minutes <= after:
        return ((minutes, "1"),)
    return ((after, "1"), (brk, name), (max(minutes - after - brk, 5), "2"))


def agenda_problems(agenda: tuple[tuple[int, str], ...], *, locale: str) -> list[str]:
    """What the book would say about an agenda: longer than two hours, or no break after the first hour."""
    book = load_playbook().activities.offline
    brk_name = load_playbook().activities.labels["break"].get(locale)
    total = sum(m for m, _ in agenda)
    problems = []
    if total > book.max_minutes.value:
        problems.append(f"agenda: {total} min is longer than {book.max_minutes.value} min ({book.max_minutes.source})")
    elapsed = 0
    for m, title in agenda:
        if title == brk_name or "break" in title.lower() or "休息" in title or "茶歇" in title:
            break
        elapsed += m
        if elapsed > book.break_after_minutes.value and total > book.break_after_minutes.value:
            problems.append(
                f"agenda: no break in the first {book.break_after_minutes.value} min "
                f"({book.break_after_minutes.source})"
            )
            break
    return problems


@dataclass(frozen=True, slots=True)
class Step:
    """A timed step of an activity: which playbook step, when, and which part (``n``) when a step repeats."""

    activity: str
    step: str
    at: datetime
    n: int = 0

    @property
    def job(self) -> str:
        return f"activity:{self.activity}:{self.step}" + (f":{self.n}" if self.n else "")


def _local(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    h, m = hhmm.split(":")
    return datetime.combine(day, time(int(h), int(m)), tzinfo=tz)


def out_of_quiet(at: datetime, quiet: QuietHoursSpec, tz: ZoneInfo) -> datetime:
    """``at``, or the end of the quiet hours it falls in."""
    local = at.astimezone(tz)
    if not in_window(local.hour * 60 + local.minute, quiet.start, quiet.end):
        return at
    end = _local(local.date(), quiet.end, tz)
    if end <= local:
        end = _local(local.date() + timedelta(days=1), quiet.end, tz)
    return end.astimezone(at.tzinfo)


def run_of_show(a: Activity, tz: ZoneInfo, quiet: QuietHoursSpec) -> list[Step]:
    """Every timed step of ``a``, in time order."""
    steps: list[Step] = []
    if a.status == "cancelled":
        return steps
    if a.kind is ActivityKind.GUEST_TALK and a.starts and a.ends:
        book = load_playbook().activities.guest_talk
        s, e = a.starts, a.ends
        day = s.astimezone(tz).date()
        qa = a.qa_start
        assert qa is not None
        steps.append(Step(a.key, "prepare", _local(day - timedelta(days=3), "10:00", tz)))
        steps.append(Step(a.key, "notice", s - timedelta(days=book.notice_days_before), 0))
        for i, hhmm in enumerate(book.same_day_notices, 1):
            at = _local(day, hhmm, tz)
            if at < s - timedelta(minutes=30):
                steps.append(Step(a.key, "notice", at, i))
        steps += [
            Step(a.key, "rules", s - timedelta(minutes=10)),
            Step(a.key, "warm_up", s - timedelta(minutes=5)),
            Step(a.key, "introduce", s),
            Step(a.key, "questions", qa),
        ]
        every = timedelta(minutes=book.queue_every_minutes)
        n, at = 1, qa + every
        while at < e:
            steps.append(Step(a.key, "queue", at, n))
            n, at = n + 1, at + every
        steps += [
            Step(a.key, "wrap_up", e),
            Step(a.key, "summary", _local(day + timedelta(days=1), "09:00", tz)),
        ]
        for name, _start, end in a.segments():
            steps.append(Step(a.key, f"report_{name}", end))
    elif a.kind is ActivityKind.OFFLINE:
        created = a.created or a.starts
        if a.poll_options and created:
            steps.append(Step(a.key, "poll", created))
        if a.starts:
            announce = max(created or a.starts, a.starts - timedelta(days=14))
            if a.poll_options and created and announce <= created:
                announce = created + timedelta(minutes=1)
            steps.append(Step(a.key, "announce", announce))
            first = announce.astimezone(tz).date() + timedelta(days=1)
            last = (a.starts - timedelta(days=1)).astimezone(tz).date()
            day, n = first, 1
            while day <= last:
                steps.append(Step(a.key, "invite_contest", _local(day, "12:00", tz), n))
                day, n = day + timedelta(days=1), n + 1
            reminder = _local(a.starts.astimezone(tz).date() - timedelta(days=1), "20:00", tz)
            if reminder > announce:
                steps.append(Step(a.key, "reminder", reminder))
            end = a.ends or a.starts + timedelta(hours=2)
            steps.append(Step(a.key, "survey", _local(end.astimezone(tz).date() + timedelta(days=1), "10:00", tz)))
    return sorted(
        (Step(st.activity, st.step, out_of_quiet(st.at, quiet, tz), st.n) for st in steps), key=lambda st: st.at
    )
