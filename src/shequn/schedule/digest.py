"""The digest of one group over one window (a day for 早报/晚报): counts, highlights, unanswered questions, top
contributors, newcomers. Computed from the event log only, so it is the same live, in the sandbox and in a replay.

How it works:
    One pass over the window's events. A message is a *highlight* by the replies, reactions and mentions it drew
    (ties: the longer text first). A question (the analytics' detector,
    :func:`~shequn.analytics.conversation.is_question`) counts as answered when someone else replies to it, or
    mentions its author afterwards within the window; the rest are unanswered.

    Nothing moderation took back is republished (破窗, book 1735): a deleted message (a ``delete`` event, or an
    offence moderation recorded) is neither counted nor quoted, and a person removed, banned or refused (a
    ``leave`` as removed or banned, a member so recorded, an applicant not admitted) is neither quoted, ranked nor
    welcomed — see :class:`Withdrawn`, built from the community's state by :func:`withdrawn`. What is quoted has its
    contact details masked (:func:`~shequn.policies.moderation.evidence.mask_contacts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shequn.analytics.conversation import is_question
from shequn.domain import ContentKind, Delete, Event, EventKind, Join, Leave, LeaveReason, Message, Reaction
from shequn.domain.state import CommunityState, MemberStatus
from shequn.policies.moderation.evidence import mask_contacts

_GONE = (LeaveReason.REMOVED, LeaveReason.BANNED)


@dataclass(frozen=True, slots=True)
class Said:
    """One message worth quoting: who, what, when, and how much it drew."""

    actor: str
    name: str
    text: str
    at: datetime
    message_id: str
    score: int = 0


@dataclass(slots=True)
class Digest:
    messages: int = 0
    speakers: int = 0
    joins: int = 0
    leaves: int = 0
    questions: int = 0
    highlights: list[Said] = field(default_factory=list)
    unanswered: list[Said] = field(default_factory=list)
    top: list[tuple[str, str, int]] = field(default_factory=list)  # (actor, name, messages)
    newcomers: list[tuple[str, str]] = field(default_factory=list)  # (actor, name)
    asked: list[Said] = field(default_factory=list)  # every question, in order

    @property
    def quiet(self) -> bool:
        return self.messages == 0


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What moderation and admission took back: message ids deleted, people (``platform:id``) removed, banned,
    refused or not admitted yet."""

    messages: frozenset[str] = frozenset()
    people: frozenset[str] = frozenset()


NOTHING_WITHDRAWN = Withdrawn()


def withdrawn(state: CommunityState | None) -> Withdrawn:
    """What the community's state says was taken back: members removed or banned (also when the platform has not
    reported it yet, as in imported history), applicants never admitted (no member number), and the messages of
    the offences moderation recorded, with their authors when the offence led to removal."""
    if state is None:
        return NOTHING_WITHDRAWN
    people: set[str] = set()
    for key, m in state.members.items():
        if m.status in (MemberStatus.REMOVED, MemberStatus.BANNED) or m.number == 0:
            people.add(key)
    messages: set[str] = set()
    for name, record in state.policy.get("moderation", {}).items():
        if not name.startswith("o:") or not isinstance(record, dict):
            continue
        for entry in record.get("log", ()):
            # [at, violation, message id, step, why]
            if entry[1] in ("ad", "forbidden") and entry[2]:
                messages.add(str(entry[2]))
            if entry[3] == "remove":
                people.add(name[2:])
    return Withdrawn(frozenset(messages), frozenset(people))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(mask_contacts(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compute_digest(
    events: Sequence[Event],
    start: datetime,
    end: datetime,
    *,
    question: Callable[[str], bool] = is_question,
    bots: frozenset[str] = frozenset(),
    top: int = 3,
    taken_back: Withdrawn = NOTHING_WITHDRAWN,
) -> Digest:
    """The digest of ``events`` (one group's, any order) in ``[start, end)``; ``bots`` are left out of the counts,
    and so is what was taken back (``taken_back``, and the deletions and removals among the events)."""
    d = Digest()
    if not events:
        return d
    gone_msgs = set(taken_back.messages)
    gone = set(taken_back.people)
    for e in events:
        if e.kind is EventKind.DELETE:
            assert isinstance(e, Delete)
            gone_msgs.add(e.message_id)
        elif e.kind is EventKind.LEAVE:
            assert isinstance(e, Leave)
            if e.reason in _GONE:
                gone.add(f"{e.platform}:{e.actor}")
    names: dict[str, str] = {}
    per: Counter[str] = Counter()
    drew: Counter[str] = Counter()  # message id → replies, reactions, mentions
    said: dict[str, Said] = {}
    questions: list[Said] = []
    answered: set[str] = set()
    mentioned_after: dict[str, list[datetime]] = {}
    order = sorted((e for e in events if start <= e.at < end), key=lambda e: e.at)
    by_id: dict[str, Message] = {}
    for e in order:
        if e.actor and e.actor_name:
            names[e.actor] = e.actor_name
        if e.kind is EventKind.MESSAGE:
            assert isinstance(e, Message)
            if e.from_bot or e.actor in bots or e.content is ContentKind.SYSTEM:
                continue
            mid = e.message_id or e.id
            if mid in gone_msgs or f"{e.platform}:{e.actor}" in gone:
                continue
            d.messages += 1
            per[e.actor] += 1
            by_id[mid] = e
            if e.reply_to:
                drew[e.reply_to] += 1
                parent = by_id.get(e.reply_to)
                if parent is not None and parent.actor != e.actor:
                    answered.add(e.reply_to)
            for m in e.mentions:
                mentioned_after.setdefault(m, []).append(e.at)
            if e.text.strip():
                s = Said(e.actor, e.actor_name or e.actor, _short(e.text), e.at, mid)
                said[mid] = s
                if question(e.text):
                    questions.append(s)
        elif e.kind is EventKind.REACTION:
            assert isinstance(e, Reaction)
            if not e.removed:
                drew[e.message_id] += 1
        elif e.kind is EventKind.JOIN:
            assert isinstance(e, Join)
            if f"{e.platform}:{e.actor}" in gone:
                continue
            d.joins += 1
            if e.actor not in {a for a, _ in d.newcomers}:
                d.newcomers.append((e.actor, e.actor_name or e.actor))
        elif e.kind is EventKind.LEAVE:
            assert isinstance(e, Leave)
            d.leaves += 1
    d.speakers = len(per)
    d.questions = len(questions)
    d.asked = questions
    for q in questions:
        if q.message_id in answered:
            continue
        if any(t > q.at for t in mentioned_after.get(q.actor, ())):
            continue
        d.unanswered.append(q)
    ranked = sorted(said.values(), key=lambda s: (-drew[s.message_id], -len(s.text), s.at))
    d.highlights = [
        Said(s.actor, s.name, s.text, s.at, s.message_id, drew[s.message_id]) for s in ranked if drew[s.message_id] > 0
    ][:top]
    d.top = [(a, names.get(a, a), n) for a, n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    d.newcomers = [(a, names.get(a, n)) for a, n in d.newcomers]
    return d
