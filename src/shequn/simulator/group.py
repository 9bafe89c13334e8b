"""One group's activity, day by day (群内活动生成).

Owns: :class:`GroupSim`, which turns a :class:`~shequn.simulator.plan.GroupPlan` into events for one local day at a
time: roster, joins (invited by scouts, live codes, self), greetings by greeters, self-introductions, nickname changes,
leaves, ads and their removal, conversation scenes (chat, questions and answers with ``reply_to``, topics, shares,
stories, red packets), reactions, edits and recalls, check-ins, guest talks, clean-ups, coupons and orders, renewals,
course purchases and entry fees. Events are buffered with a sort key; events that fall on a later day wait in the
buffer. Truth-relevant events carry a tag that :mod:`shequn.simulator.simulation` reads when it emits them.
May import: :mod:`shequn.domain`, the other simulator modules and the standard library.
"""

from __future__ import annotations

import dataclasses
import math
import random
from bisect import bisect, bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from hashlib import blake2b as _blake2b
from typing import Any, Final, TypeVar

from shequn.domain.events import (
    CheckIn,
    ContentKind,
    CouponClaim,
    Delete,
    Edit,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Order,
    OrderStatus,
    Payment,
    Reaction,
    stable_id,
)
from shequn.simulator import texts
from shequn.simulator.plan import (
    COLD_START,
    DAY_MS,
    DEAD,
    DECLINE,
    DORMANT,
    GROWTH,
    MATURE,
    PLATFORM,
    STAGE_JOINS,
    STAGE_LEAVE,
    STAGE_RATE,
    TYPE_PROFILES,
    GroupPlan,
    uid,
)

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Event)
HOUR_MS: Final = 3_600_000
MIN_MS: Final = 60_000

# Tags of truth-relevant events (read by the run loop when the event is emitted).
T_NONE: Final = 0
T_JOIN: Final = 1
T_LEAVE: Final = 2
T_AD: Final = 3
T_HARDNEG: Final = 4
T_CLAIM: Final = 5
T_ORDER: Final = 6
T_DUE: Final = 7
T_RENEW: Final = 8
T_GUEST: Final = 9
T_CLEANUP: Final = 10
T_ADJOIN: Final = 11

# Messages by local hour (Asia/Shanghai): a morning bump, lunch, and the evening peak.
_HOUR_WEIGHTS: Final = (
    0.3, 0.15, 0.08, 0.05, 0.05, 0.1, 0.5, 1.2, 2.0, 2.0, 1.6, 1.5,
    2.0, 1.5, 1.2, 1.2, 1.3, 1.4, 1.6, 2.0, 2.6, 2.8, 2.2, 1.0,
)  # fmt: skip
_HOUR_CUM: Final = tuple(sum(_HOUR_WEIGHTS[: i + 1]) for i in range(24))
_HOUR_TOTAL: Final = _HOUR_CUM[-1]

# Conversation scenes per type: (scene, weight).
_SCENES: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "consumption": (("chat", 0.35), ("qa", 0.45), ("share", 0.05), ("redpacket", 0.05), ("photo", 0.10)),
    "growth": (("chat", 0.40), ("qa", 0.30), ("share", 0.12), ("story", 0.12), ("redpacket", 0.06)),
    "ip": (("chat", 0.50), ("qa", 0.20), ("share", 0.10), ("story", 0.05), ("redpacket", 0.08), ("photo", 0.07)),
    "money": (("chat", 0.30), ("qa", 0.25), ("resource", 0.28), ("share", 0.07), ("story", 0.05), ("redpacket", 0.05)),
    "interest": (("chat", 0.55), ("qa", 0.22), ("share", 0.08), ("redpacket", 0.05), ("photo", 0.10)),
    "industry": (("chat", 0.35), ("qa", 0.28), ("resource", 0.15), ("news", 0.10), ("share", 0.07), ("story", 0.05)),
}

Entry = tuple[int, int, int, Event, int, Any]  # (ms, group index, sequence, event, tag, payload)


@dataclass(slots=True)
class RunContext:
    """What every group of one run shares: the clock origin, the window and the person counter."""

    seed: int
    base: datetime  # UTC instant of the first local midnight; event times are ms after it
    lo: int  # window start, ms after base
    hi: int  # window end (exclusive), ms after base
    first_date: date
    salt: int
    next_person: int

    def new_person(self) -> int:
        n = self.next_person
        self.next_person += 1
        return n


def maker(cls: type[_E], args: tuple[str, ...]) -> Callable[..., _E]:
    """A positional constructor for the frozen event dataclass ``cls`` taking ``args``; other fields get defaults.

    It sets the slots directly, as the generated ``__init__`` does, without keyword parsing and the frozen-class
    ``__setattr__`` detour: about three times faster, which matters at a million events. The result is equal to
    ``cls(**kwargs)`` (tested); classes with a ``__post_init__`` use the ordinary constructor.
    """
    fs = dataclasses.fields(cls)
    unknown = set(args) - {f.name for f in fs}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    if hasattr(cls, "__post_init__"):

        def slow(*values: Any) -> _E:
            return cls(**dict(zip(args, values, strict=True)))

        return slow
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = []
    for f in fs:
        ns[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.name in args:
            value = f.name
        elif f.default is not dataclasses.MISSING:
            ns[f"_d_{f.name}"] = f.default
            value = f"_d_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"_f_{f.name}"] = f.default_factory
            value = f"_f_{f.name}()"
        else:
            raise TypeError(f"{cls.__name__}.{f.name} has no default; pass it")
        body.append(f"    _set_{f.name}(o, {value})")
    src = f"def make({', '.join(args)}):\n    o = _new(_cls)\n" + "\n".join(body) + "\n    return o\n"
    exec(src, ns)  # the same technique dataclasses uses to build __init__
    made: Callable[..., _E] = ns["make"]
    return made


_BASE = ("id", "at", "platform", "group", "actor", "actor_name")
new_text = maker(Message, (*_BASE, "message_id", "content", "text"))
new_message = maker(Message, (*_BASE, "message_id", "content", "text", "reply_to", "mentions", "media"))
new_reaction = maker(Reaction, (*_BASE, "message_id", "emoji"))
new_join = maker(Join, (*_BASE, "method", "inviter", "invite_code", "extra"))
new_checkin = maker(CheckIn, (*_BASE, "note"))


def _pick(rng: random.Random, seq: Sequence[_T]) -> _T:
    """``rng.choice`` without its overhead (the hot path picks from tuples millions of times)."""
    return seq[int(rng.random() * len(seq))]


def _ri(rng: random.Random, a: int, b: int) -> int:
    """A uniform int in [a, b], like ``rng.randint`` but cheaper."""
    return a + int(rng.random() * (b - a + 1))


def _rr(rng: random.Random, n: int) -> int:
    """A uniform int in [0, n)."""
    return int(rng.random() * n)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class GroupSim:
    """Generates the events of one group. Call :meth:`day` for each local day in order, then :meth:`take`."""

    def __init__(self, plan: GroupPlan, ctx: RunContext) -> None:
        p = plan
        self.p = p
        self.ctx = ctx
        self.rng = random.Random(f"shequn-sim/{ctx.seed}/{p.index}/events")
        self.gid = p.gid
        self.gi = p.index
        self.ct = p.type
        self.id_prefix = "\x1f".join((PLATFORM, str(ctx.seed), p.gid, "")).encode()
        assert _blake2b(self.id_prefix + b"1", digest_size=12).hexdigest() == stable_id(
            PLATFORM, str(ctx.seed), p.gid, "1"
        )
        self.base = ctx.base
        self.salt = ctx.salt
        self.lo = ctx.lo
        self.hi = ctx.hi
        self.stages = p.stages
        self.ndays = len(p.stages)
        self.buf: list[Entry] = []
        self.n = 0
        self.names: dict[int, str] = dict(p.names)
        self.organizer = p.organizer
        self.staff = {p.organizer} | ({p.assistant} if p.assistant is not None else set())
        self.core = list(p.core)
        self.big = list(p.big_names)
        self.regulars = list(p.regulars)
        self.reg_weights = [1.0 / (i + 1) for i in range(len(self.regulars))]
        self.lurkers = list(p.lurkers)
        self.storytellers = set(p.storytellers)
        self.ads: set[int] = set()
        self.size = p.size0
        self.spk: list[int] = []
        self.cum: list[float] = []
        self._rebuild_speakers()
        self.ad_credit = self.rng.random()
        self.due_credit = self.rng.random()
        self.dued: set[int] = set()
        self.silent_days = 0
        self.scene_names = [s for s, _ in _SCENES[self.ct]]
        self.scene_cum: list[float] = []
        acc = 0.0
        for _, w in _SCENES[self.ct]:
            acc += w
            self.scene_cum.append(acc)
        self.checkin: dict[int, list[float]] = {}
        if p.checkin_share:
            k = max(3, round(p.size0 * p.checkin_share))
            talkers = self.core + self.regulars
            chosen = self.rng.sample(talkers, min(len(talkers), (k + 1) // 2))
            chosen += self.rng.sample(self.lurkers, min(len(self.lurkers), k - len(chosen)))
            for who in chosen:
                self.checkin[who] = [self.rng.uniform(0.35, 0.95), float(_ri(self.rng, 0, 40))]
        self.speaker_set = set(self.core) | set(self.regulars) | set(self.big)
        self.checkin_morning = self.ct == "growth"
        chat = texts.CHAT_POOL[self.ct]
        self.topic_replies = chat + texts.STORY_TAILS
        self.share_replies = texts.THANKS + chat[:20]
        self.react_p = {o: 0.06 for o in self.staff}
        for s in self.storytellers:
            self.react_p[s] = 0.15
        for b in self.big:
            self.react_p[b] = 0.15

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _rebuild_speakers(self) -> None:
        p = self.p
        w: list[tuple[int, float]] = []
        org_w = TYPE_PROFILES[self.ct].organizer_share
        if not p.organizer_active:
            org_w = 0.02
        w.append((p.organizer, org_w))
        if p.assistant is not None:
            w.append((p.assistant, 0.05))
        for who, cw in zip(self.core, p.core_weights, strict=True):
            w.append((who, 0.70 * cw))
        for b in self.big:
            w.append((b, 0.035))
        total_r = sum(self.reg_weights) or 1.0
        for who, rw in zip(self.regulars, self.reg_weights, strict=True):
            w.append((who, 0.17 * rw / total_r))
        self.spk = [x for x, _ in w]
        acc = 0.0
        self.cum = []
        for _, x in w:
            acc += x
            self.cum.append(acc)

    def _speaker(self) -> int:
        return self.spk[bisect(self.cum, self.rng.random() * self.cum[-1])]

    def _member(self) -> int:
        """Anyone in the group, lurkers included (for reactions, claims, check-ins)."""
        if self.lurkers and self.rng.random() < 0.6:
            return self.lurkers[_rr(self.rng, len(self.lurkers))]
        return self._speaker()

    def name(self, who: int) -> str:
        n = self.names.get(who)
        return n if n is not None else texts.person_name(who, self.salt)

    def _td(self, d: int) -> int:
        """A time on local day ``d`` following the daily rhythm."""
        rng = self.rng
        h = bisect(_HOUR_CUM, rng.random() * _HOUR_TOTAL)
        ms = d * DAY_MS + min(h, 23) * HOUR_MS + int(rng.random() * HOUR_MS)
        return ms if ms >= self.lo else self._clamp(d, ms)

    def _t(self, d: int, h0: float, h1: float) -> int:
        return self._clamp(d, d * DAY_MS + int(h0 * HOUR_MS) + int(self.rng.random() * (h1 - h0) * HOUR_MS))

    def _clamp(self, d: int, ms: int) -> int:
        if ms < self.lo:  # the window starts mid-day: move to the part of the day inside it
            day_end = (d + 1) * DAY_MS
            ms = self.lo + _rr(self.rng, max(1, day_end - self.lo))
        return ms

    def _gap(self, mean_s: float = 40.0) -> int:
        return int(self.rng.expovariate(1.0 / (mean_s * 1000))) + 3000

    def _live(self, ms: int) -> bool:
        if ms < self.lo or ms >= self.hi:
            return False
        d = ms // DAY_MS
        return d < self.ndays and self.stages[d] != DEAD

    def _next(self) -> tuple[str, int]:
        # Same value as stable_id(PLATFORM, seed, gid, str(n)), without re-joining the constant prefix each time.
        self.n += 1
        n = self.n
        return _blake2b(self.id_prefix + str(n).encode(), digest_size=12).hexdigest(), n

    def _at(self, ms: int) -> datetime:
        return self.base + timedelta(milliseconds=ms)

    def _push(self, ms: int, ev: Event, n: int, tag: int = T_NONE, payload: Any = None) -> None:
        self.buf.append((ms, self.gi, n, ev, tag, payload))

    def msg(
        self,
        ms: int,
        who: int,
        text: str,
        content: ContentKind = ContentKind.TEXT,
        reply_to: str = "",
        mentions: tuple[str, ...] = (),
        media: str = "",
        tag: int = T_NONE,
        payload: Any = None,
        plain: bool = True,
    ) -> str:
        """Add a message; returns its message id, or "" when it falls outside the window or on a dead day."""
        if ms < self.lo or ms >= self.hi or self.stages[ms // DAY_MS] == DEAD:
            return ""
        self.n += 1
        n = self.n
        mid = f"{self.gid}-{n}"
        name = self.names.get(who)
        eid = _blake2b(self.id_prefix + str(n).encode(), digest_size=12).hexdigest()
        at = self.base + timedelta(milliseconds=ms)
        actor_name = name if name is not None else texts.person_name(who, self.salt)
        if reply_to or mentions or media:
            ev = new_message(
                eid, at, PLATFORM, self.gid, f"u{who:06d}", actor_name, mid, content, text, reply_to, mentions, media
            )
        else:
            ev = new_text(eid, at, PLATFORM, self.gid, f"u{who:06d}", actor_name, mid, content, text)
        self.buf.append((ms, self.gi, n, ev, tag, payload))
        if plain:
            r = self.rng.random()
            if r > 0.994 or r < self.react_p.get(who, 0.012):
                self._after(ms, mid, who, text, r)
        return mid

    def _after(self, ms: int, mid: str, who: int, text: str, r: float) -> None:
        """Reactions, edits and recalls (撤回) that follow a message; ``r`` is the message's draw."""
        rng = self.rng
        if r < self.react_p.get(who, 0.012):
            self._reaction(ms + 5_000 + int(rng.random() * 40 * MIN_MS), mid)
            if r < 0.04:
                self._reaction(ms + 5_000 + int(rng.random() * 40 * MIN_MS), mid)
        elif r > 0.997 and text:
            t = ms + _ri(rng, 10_000, 120_000)
            if self._live(t):
                eid, n = self._next()
                ev: Event = Edit(
                    id=eid, at=self._at(t), platform=PLATFORM, group=self.gid, actor=uid(who),
                    actor_name=self.name(who), message_id=mid, text=text + texts.EDIT_SUFFIX,
                )  # fmt: skip
                self._push(t, ev, n)
        elif r > 0.994:
            t = ms + _ri(rng, 5_000, 110_000)
            if self._live(t):
                eid, n = self._next()
                ev = Delete(
                    id=eid, at=self._at(t), platform=PLATFORM, group=self.gid, actor=uid(who),
                    actor_name=self.name(who), message_id=mid, by=uid(who),
                )  # fmt: skip
                self._push(t, ev, n)

    def _reaction(self, ms: int, mid: str) -> None:
        if ms >= self.hi:
            return
        who = self._member()
        eid, n = self._next()
        ev = new_reaction(
            eid, self._at(ms), PLATFORM, self.gid, f"u{who:06d}", self.name(who), mid, _pick(self.rng, texts.REACTIONS)
        )
        self.buf.append((ms, self.gi, n, ev, T_NONE, None))

    def _event(self, ms: int, ev_cls: type[Event], who: int, tag: int = T_NONE, payload: Any = None, **kw: Any) -> bool:
        if ms < self.lo or ms >= self.hi:
            return False
        eid, n = self._next()
        ev = ev_cls(
            id=eid, at=self._at(ms), platform=PLATFORM, group=self.gid, actor=uid(who), actor_name=self.name(who), **kw
        )
        self._push(ms, ev, n, tag, payload)
        return True

    def take(self, day_end: int, out: list[Entry]) -> None:
        """Move the buffered events before ``day_end`` to ``out`` (sorted); later ones stay buffered."""
        buf = self.buf
        if not buf:
            return
        buf.sort()
        if buf[-1][0] < day_end:
            out.extend(buf)
            self.buf = []
            return
        i = bisect_left(buf, day_end, key=_ms)
        out.extend(buf[:i])
        self.buf = buf[i:]

    # -- a day ---------------------------------------------------------------------------------------------------

    def day(self, d: int) -> None:
        st = self.stages[d]
        if d == 0:
            self._roster()
        if st != DEAD:
            self._joins(d, st)
        self._leaves(d, st)
        if st == DEAD:
            return
        if self.checkin:
            self._checkins(d, st)
        if self.p.renewal_rate is not None:
            self._renewals(d, st)
        if st == DORMANT:
            self._dormant(d)
            return
        self.silent_days = 0
        ct = self.ct
        rng = self.rng
        if ct == "consumption":
            self._deals(d, st)
        elif ct in ("growth", "ip"):
            if self.p.guest_period and st in (GROWTH, MATURE) and d % self.p.guest_period == self.p.guest_phase:
                self._guest_talk(d)
            if ct == "ip" and rng.random() < 0.25:
                self._merch(d)
        if ct == "industry" and rng.random() < 0.5:
            self._news(d)
        if self.p.organizer_active and st in (GROWTH, MATURE):
            topic_p = {"growth": 0.8, "ip": 0.4, "interest": 0.3, "industry": 0.3, "money": 0.2}.get(ct, 0.0)
            if rng.random() < topic_p:
                self._topic(d)
            offline_p = {"interest": 0.2, "ip": 0.1, "growth": 0.05, "industry": 0.05, "money": 0.05}.get(ct, 0.01)
            if rng.random() < offline_p:
                self._offline(d)
        if rng.random() < 0.03 and self.p.organizer_active:
            self.msg(self._td(d), self.organizer, _pick(rng, texts.RULE_REMINDER), tag=T_HARDNEG, payload="rule")
        if self.p.cleanup_day == d:
            self._cleanup(d)
        if rng.random() < 0.1:
            self._nickname(self._td(d), self._member())
        weekday = (self.ctx.first_date + timedelta(days=d)).weekday()
        wk = TYPE_PROFILES[ct].weekend if weekday >= 5 else 1.0
        budget = poisson(rng, self.p.base_rate * STAGE_RATE[st] * wk * rng.lognormvariate(0, 0.3))
        while budget > 0:
            budget -= self._scene(d)

    def _roster(self) -> None:
        """Day 0: members who were already in the group (a roster snapshot), or the founding of a new group."""
        p = self.p
        everyone = [p.organizer]
        if p.assistant is not None:
            everyone.append(p.assistant)
        everyone += self.core + self.big + self.regulars + self.lurkers
        rng = self.rng
        if not p.created_in_window:
            t = self.lo + 1000
            buf, gid, gi, roster = self.buf, self.gid, self.gi, JoinMethod.ROSTER
            for who in everyone:
                eid, n = self._next()
                ev = new_join(eid, self._at(t), PLATFORM, gid, f"u{who:06d}", self.name(who), roster, "", "", {})
                buf.append((t, gi, n, ev, T_JOIN, True))
                t += 20
            return
        t = self._t(0, 9, 11)
        self._event(t, Join, p.organizer, T_JOIN, method=JoinMethod.ADDED_BY_STAFF, extra={"creator": True})
        for who in everyone[1:]:
            t += _ri(rng, 5_000, 15 * MIN_MS)
            self._event(t, Join, who, T_JOIN, method=JoinMethod.INVITED, inviter=uid(p.organizer))
        self.msg(t + 60_000, p.organizer, "欢迎大家加入！先看一下群公告，互相认识一下吧～")

    # -- membership -----------------------------------------------------------------------------------------------

    def _joins(self, d: int, st: str) -> None:
        rng = self.rng
        p = self.p
        k = poisson(rng, p.join_rate * STAGE_JOINS[st])
        k = min(k, max(0, 500 - self.size))
        while k > 0:
            wave = min(k, 1 + int(rng.expovariate(0.9)))
            k -= wave
            t = self._td(d)
            r = rng.random()
            inviter: int | None = None
            if r < 0.5 and self.spk:
                inviter = _pick(rng, p.scouts) if rng.random() < 0.75 else self._speaker()
                method = JoinMethod.INVITED
            elif r < 0.75:
                method = JoinMethod.LIVE_CODE
            elif p.paid_entry or self.ct in ("money", "industry"):
                method = JoinMethod.APPROVED
            else:
                method = JoinMethod.SELF
            t = max(t, d * DAY_MS + 31 * MIN_MS)  # an application or a fee comes first, on the same day
            newcomers: list[int] = []
            for _ in range(wave):
                t += _ri(rng, 2_000, 5 * MIN_MS)
                self.ad_credit += p.ad_rate
                if self.ad_credit >= 1.0 and st != DORMANT:
                    self.ad_credit -= 1.0
                    self._ad_account(t, d)
                    continue
                who = self.ctx.new_person()
                if method is JoinMethod.APPROVED:
                    self._event(
                        t - _ri(rng, MIN_MS, 30 * MIN_MS), FormAnswer, who, form="入群申请",
                        answers={"城市": _pick(rng, texts.CITIES), "职业": _pick(rng, texts.JOBS),
                                 "为什么加入": _pick(rng, texts.JOIN_REASONS)},
                    )  # fmt: skip
                if p.paid_entry:
                    pid, _ = self._next()
                    self._event(
                        t - _ri(rng, 20_000, 10 * MIN_MS), Payment, who, payment_id=f"pay-{pid[:12]}",
                        amount=p.paid_entry, purpose="entry_fee",
                    )  # fmt: skip
                code = ""
                if method is JoinMethod.LIVE_CODE:
                    code = f"lc-{self.gid}-{d // 7 + 1}"
                elif inviter is not None:
                    code = f"ref-{uid(inviter)}"
                if self._event(
                    t,
                    Join,
                    who,
                    T_JOIN,
                    method=method,
                    inviter=uid(inviter) if inviter is not None else "",
                    invite_code=code,
                ):
                    newcomers.append(who)
                    self.size += 1
            if newcomers:
                self._welcome(t, newcomers, st)

    def _welcome(self, t: int, newcomers: list[int], st: str) -> None:
        rng = self.rng
        p = self.p
        greet = ""
        tg = t + _ri(rng, MIN_MS, 20 * MIN_MS)
        if rng.random() < (0.9 if st in (COLD_START, GROWTH, MATURE) else 0.3):
            greeter = _pick(rng, p.greeters)
            names = " ".join(f"@{self.name(w)}" for w in newcomers)
            text = f"欢迎新朋友{names}，{_pick(rng, texts.GREETING_PROMPTS)}"
            greet = self.msg(tg, greeter, text, mentions=tuple(uid(w) for w in newcomers))
        for w in newcomers:
            tw = tg + _ri(rng, MIN_MS, 90 * MIN_MS)
            if greet and rng.random() < 0.3:
                intro = _pick(rng, texts.SELF_INTROS).format(
                    name=self.name(w), city=_pick(rng, texts.CITIES), job=_pick(rng, texts.JOBS),
                    hobby=_pick(rng, texts.HOBBIES),
                )  # fmt: skip
                self.msg(tw, w, intro, reply_to=greet)
            if p.nickname_rule and rng.random() < 0.55:
                self._nickname(tw + _ri(rng, MIN_MS, 60 * MIN_MS), w, formatted=True)
            if rng.random() < 0.07:
                self.regulars.append(w)
                self.reg_weights.append(0.3 / (len(self.reg_weights) + 1))
                self.speaker_set.add(w)
                self._rebuild_speakers()
            else:
                self.lurkers.append(w)
                if self.p.checkin_share and rng.random() < self.p.checkin_share:
                    self.checkin[w] = [rng.uniform(0.3, 0.9), 0.0]

    def _nickname(self, t: int, who: int, formatted: bool = False) -> None:
        if who in self.ads or who in self.staff or who in self.big:
            return
        old = self.name(who)
        if formatted or self.rng.random() < 0.5:
            new = texts.formatted_nick(self.rng, "job" if self.ct == "industry" else "hobby")
        else:
            new = texts.person_name(_rr(self.rng, 1 << 30), 0)
        if new != old and self._event(t, NicknameChange, who, old=old, new=new):
            self.names[who] = new

    def _leaves(self, d: int, st: str) -> None:
        rng = self.rng
        k = poisson(rng, len(self.lurkers) * self.p.leave_rate * STAGE_LEAVE[st])
        for _ in range(min(k, len(self.lurkers))):
            i = _rr(rng, len(self.lurkers))
            who = self.lurkers[i]
            if self._event(self._td(d), Leave, who, T_LEAVE, reason=LeaveReason.VOLUNTARY):
                self.lurkers[i] = self.lurkers[-1]
                self.lurkers.pop()
                self.checkin.pop(who, None)
                self.size -= 1

    def _ad_account(self, t: int, d: int) -> None:
        """An ad account joins, posts ads in evasive forms and never chats; about half are removed within a day."""
        rng = self.rng
        who = self.ctx.new_person()
        self.ads.add(who)
        self.names[who] = _pick(rng, texts.AD_NAMES) if rng.random() < 0.5 else texts.person_name(who, self.ctx.salt)
        method = _pick(rng, (JoinMethod.SELF, JoinMethod.SELF, JoinMethod.LIVE_CODE, JoinMethod.INVITED))
        inviter = ""
        if method is JoinMethod.INVITED and self.regulars:
            inviter = uid(_pick(rng, self.regulars))
        elif method is JoinMethod.INVITED:
            method = JoinMethod.SELF
        if not self._event(t, Join, who, T_ADJOIN, method=method, inviter=inviter):
            return
        self.size += 1
        handle, tel = texts.ad_handle(rng), texts.phone(rng)
        ta = t + _ri(rng, 2 * MIN_MS, 90 * MIN_MS)
        posted: list[str] = []
        last = ta
        for i in range(_ri(rng, 1, 3)):
            if i:
                ta += _ri(rng, MIN_MS, 3 * HOUR_MS)
            text, image = texts.ad_text(rng, handle, tel)
            kind = ContentKind.IMAGE if image else (ContentKind.LINK if "http" in text else ContentKind.TEXT)
            media = f"qr_{handle}.jpg" if image else ""
            mid = self.msg(ta, who, text, content=kind, media=media, tag=T_AD, plain=False)
            if mid:
                posted.append(mid)
                last = ta
        r = rng.random()
        if r < 0.5:
            tr = last + _ri(rng, 3 * MIN_MS, 20 * HOUR_MS)
            for mid in posted:
                self._event(tr, Delete, self.organizer, message_id=mid, by=uid(self.organizer))
                tr += _ri(rng, 1_000, 5_000)
            if self._event(tr, Leave, who, T_LEAVE, reason=LeaveReason.REMOVED, by=uid(self.organizer)):
                self.size -= 1
            if rng.random() < 0.5:
                self.msg(tr + 30_000, self.organizer, texts.RULE_REMINDER[1], tag=T_HARDNEG, payload="rule")
        elif r < 0.65 and self._event(
            last + _ri(rng, HOUR_MS, 5 * 24 * HOUR_MS), Leave, who, T_LEAVE, reason=LeaveReason.VOLUNTARY
        ):
            self.size -= 1

    # -- scenes ---------------------------------------------------------------------------------------------------

    def _scene(self, d: int) -> int:
        name = self.scene_names[bisect(self.scene_cum, self.rng.random() * self.scene_cum[-1])]
        if name == "chat":
            return self._chat(d)
        if name == "qa":
            return self._qa(d)
        if name == "share":
            return self._share(d)
        if name == "story":
            return self._story(d)
        if name == "redpacket":
            return self._redpacket(d)
        if name == "photo":
            return self._photo(d)
        if name == "resource":
            return self._resource(d)
        return self._news(d)

    def _chat(self, d: int) -> int:
        rng = self.rng
        t = self._td(d)
        k = 2 + int(rng.random() * 3)
        parts = [self._speaker() for _ in range(k)]
        m = 2 + int(rng.random() * 8)
        pool = texts.CHAT_POOL[self.ct]
        prev, prev_who = "", -1
        for i in range(m):
            who = parts[i % k] if rng.random() < 0.7 else parts[int(rng.random() * k)]
            r = rng.random()
            reply = prev if prev and rng.random() < (0.45 if prev_who in self.storytellers else 0.15) else ""
            if r < 0.08:
                prev = self.msg(t, who, "", ContentKind.STICKER, reply, media=_pick(rng, texts.STICKERS))
            elif r < 0.13:
                prev = self.msg(t, who, "", ContentKind.IMAGE, reply, media=f"IMG_{_rr(rng, 10000):04d}.jpg")
            elif r < 0.16:
                prev = self.msg(t, who, "", ContentKind.VOICE, reply, media=f"voice {_ri(rng, 2, 59)}s")
            else:
                prev = self.msg(t, who, pool[int(rng.random() * len(pool))], reply_to=reply)
            prev_who = who
            t += self._gap()
        return m

    def _asker(self) -> int:
        """A member who asks: anyone but the staff."""
        for _ in range(4):
            who = self._speaker()
            if who not in self.staff:
                return who
        return self.core[0]

    def _qa(self, d: int) -> int:
        rng = self.rng
        asker = self._asker()
        t = self._td(d)
        q = self.msg(t, asker, _pick(rng, texts.QUESTION_POOL[self.ct]))
        if not q:
            return 1
        count = 1
        if rng.random() < 0.85:
            ta = t
            a = ""
            for _ in range(_ri(rng, 1, 3)):
                ta += int(rng.expovariate(1 / (8 * MIN_MS))) + 15_000
                who = self._answerer(asker)
                a = self.msg(ta, who, _pick(rng, texts.ANSWER_POOL[self.ct]), reply_to=q) or a
                count += 1
            if a and rng.random() < 0.45:
                self.msg(ta + self._gap(60), asker, _pick(rng, texts.THANKS), reply_to=a)
                count += 1
        return count

    def _answerer(self, asker: int) -> int:
        rng = self.rng
        if rng.random() < 0.3 and (self.p.organizer_active or self.p.assistant is not None):
            return self.p.assistant if self.p.assistant is not None and rng.random() < 0.5 else self.organizer
        for _ in range(3):
            who = self._speaker()
            if who != asker:
                return who
        return self.organizer

    def _replies(self, t: int, target: str, n: int, pool: tuple[str, ...], exclude: int, p_reply: float = 0.6) -> int:
        rng = self.rng
        for _ in range(n):
            t += self._gap(90)
            who = self._speaker()
            if who == exclude:
                who = self._speaker()
            self.msg(t, who, pool[_rr(rng, len(pool))], reply_to=target if rng.random() < p_reply else "")
        return n

    def _sharer(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return _pick(rng, self.p.storytellers)
        if r < 0.7 and self.big:
            return _pick(rng, self.big)
        return self._speaker()

    def _share(self, d: int) -> int:
        rng = self.rng
        who = self._sharer()
        t = self._td(d)
        title = _pick(rng, texts.SHARE_TITLES[self.ct])
        mid = self.msg(
            t, who, f"{title}，推荐大家看看 {texts.share_url(rng)}", ContentKind.LINK, tag=T_HARDNEG, payload="link"
        )
        if not mid:
            return 1
        n = _ri(rng, 1, 4)
        return 1 + self._replies(t, mid, n, self.share_replies, who)

    def _story(self, d: int) -> int:
        rng = self.rng
        who = self._sharer()
        t = self._td(d)
        mid = self.msg(t, who, _pick(rng, texts.STORY_POOL[self.ct]))
        if not mid:
            return 1
        return 1 + self._replies(t, mid, _ri(rng, 2, 6), texts.CHAT_POOL[self.ct], who, 0.7)

    def _redpacket(self, d: int) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.5 and self.p.organizer_active:
            who = self.organizer
        else:
            who = _pick(rng, self.big) if self.big and r < 0.65 else self._speaker()
        t = self._td(d)
        mid = self.msg(t, who, _pick(rng, texts.RED_PACKET_TEXTS), ContentKind.RED_PACKET, media="红包")
        if not mid:
            return 1
        n = _ri(rng, 2, 6)
        for _ in range(n):
            t += _ri(rng, 3_000, 90_000)
            self.msg(t, self._speaker(), _pick(rng, texts.RED_PACKET_THANKS))
        return 1 + n

    def _photo(self, d: int) -> int:
        rng = self.rng
        who = self._speaker()
        t = self._td(d)
        mid = self.msg(t, who, "", ContentKind.IMAGE, media=f"IMG_{_rr(rng, 10000):04d}.jpg")
        if not mid:
            return 1
        cap = _pick(rng, texts.CHAT_POOL[self.ct])
        self.msg(t + _ri(rng, 2_000, 20_000), who, cap)
        return 2 + self._replies(t + 20_000, mid, _ri(rng, 0, 3), texts.CHAT_POOL[self.ct], who)

    def _resource(self, d: int) -> int:
        rng = self.rng
        who = _pick(rng, self.big) if self.big and rng.random() < 0.6 else self._speaker()
        t = self._td(d)
        mid = self.msg(t, who, _pick(rng, texts.RESOURCE_POOL))
        if not mid:
            return 1
        n = self._replies(t, mid, _ri(rng, 1, 4), texts.RESOURCE_REPLIES, who, 0.8)
        if rng.random() < 0.25:
            tel = texts.phone(rng)
            text = f"有需要的加我微信详聊，微信同手机号 {tel}"
            self.msg(t + 10 * MIN_MS, who, text, tag=T_HARDNEG, payload="wechat_exchange")
            n += 1
        return 1 + n

    def _news(self, d: int) -> int:
        rng = self.rng
        who = self.organizer if rng.random() < 0.5 else self._sharer()
        t = self._t(d, 7.5, 10)
        mid = self.msg(t, who, _pick(rng, texts.NEWS_POOL))
        if not mid:
            return 1
        return 1 + self._replies(t, mid, _ri(rng, 0, 4), texts.CHAT_POOL[self.ct], who)

    def _topic(self, d: int) -> int:
        rng = self.rng
        t = self._t(d, 8, 9) if rng.random() < 0.5 else self._t(d, 20, 21)
        mid = self.msg(t, self.organizer, _pick(rng, texts.TOPIC_POOL[self.ct]))
        if not mid:
            return 1
        return 1 + self._replies(t, mid, _ri(rng, 3, 12), self.topic_replies, -1, 0.4)

    def _offline(self, d: int) -> None:
        rng = self.rng
        t = self._t(d, 10, 21)
        mid = self.msg(t, self.organizer, _pick(rng, texts.OFFLINE_POOL[self.ct]))
        if not mid:
            return
        for _ in range(_ri(rng, 3, 10)):
            t += self._gap(300)
            who = self._speaker()
            self.msg(t, who, _pick(rng, texts.SIGNUPS).format(name=self.name(who)), reply_to=mid)
        if rng.random() < 0.4:
            who = self._speaker()
            tel = texts.phone(rng)
            if rng.random() < 0.5:
                tel = f"{tel[:3]} {tel[3:7]} {tel[7:]}"
            text = f"@{self.name(self.organizer)} 我报名，电话 {tel}，到时候联系"
            self.msg(t + self._gap(600), who, text, mentions=(uid(self.organizer),), tag=T_HARDNEG, payload="phone")

    def _dormant(self, d: int) -> None:
        rng = self.rng
        n = poisson(rng, self.p.base_rate * STAGE_RATE[DORMANT])
        self.silent_days += 1
        if n == 0 and self.silent_days >= 3:
            n = 1
        if n:
            self.silent_days = 0
        for _ in range(n):
            t = self._td(d)
            if self.ct == "consumption" or rng.random() < 0.3:
                self.msg(t, self.organizer, _pick(rng, texts.TOPIC_POOL[self.ct]))
            else:
                who = self._member() if rng.random() < 0.3 else self._speaker()
                if who in self.ads:
                    who = self.organizer
                self.msg(t, who, _pick(rng, texts.DORMANT_PINGS))

    # -- programmes -----------------------------------------------------------------------------------------------

    def _checkins(self, d: int, st: str) -> None:
        rng = self.rng
        factor = {COLD_START: 0.5, GROWTH: 1.0, MATURE: 0.9, DECLINE: 0.4, DORMANT: 0.05}.get(st, 0.0)
        notes = texts.CHECKIN_NOTES.get(self.ct, texts.CHECKIN_NOTES["growth"])
        h0, h1 = (6.0, 9.5) if self.checkin_morning else (18.5, 22.5)
        for who, state in self.checkin.items():
            if rng.random() >= state[0] * factor:
                continue
            state[1] += 1
            t = self._t(d, h0, h1)
            note = f"打卡第{int(state[1])}天"
            if t < self.lo or t >= self.hi:
                continue
            eid, n = self._next()
            self.buf.append(
                (
                    t,
                    self.gi,
                    n,
                    new_checkin(eid, self._at(t), PLATFORM, self.gid, uid(who), self.name(who), note),
                    0,
                    None,
                )
            )
            if who in self.speaker_set and rng.random() < 0.4:
                self.msg(t + _ri(rng, 2_000, 30_000), who, f"{note} {_pick(rng, notes)}")

    def _renewals(self, d: int, st: str) -> None:
        """Growth communities: members whose membership ends soon are reminded; some renew (会员续费)."""
        rng = self.rng
        p = self.p
        assert p.renewal_rate is not None
        self.due_credit += self.size * 0.8 / 365
        k = int(self.due_credit)
        if not k:
            return
        self.due_credit -= k
        cands = [w for w in rng.sample(self.lurkers, min(len(self.lurkers), 3 * k)) if w not in self.dued]
        cands += [w for w in self.core + self.regulars if w not in self.dued and rng.random() < 0.02]
        due = cands[:k]
        if not due:
            return
        t = self._t(d, 10, 12)
        when = (self.ctx.first_date + timedelta(days=d + 3)).strftime("%m月%d日")
        text = texts.RENEWAL_REMINDER.format(date=when) + " ".join(f"@{self.name(w)}" for w in due)
        mention = tuple(uid(w) for w in due)
        if not self.msg(t, self.organizer, text, mentions=mention, tag=T_DUE, payload=len(due), plain=False):
            return
        self.dued.update(due)
        rate = p.renewal_rate * {DECLINE: 0.7, DORMANT: 0.4}.get(st, 1.0)
        for w in due:
            if rng.random() < rate:
                tp = t + _ri(rng, 10 * MIN_MS, 3 * 24 * HOUR_MS)
                pid, _ = self._next()
                self._event(
                    tp, Payment, w, T_RENEW, p.community_index, payment_id=f"pay-{pid[:12]}", amount=p.renewal_price,
                    purpose="renewal",
                )  # fmt: skip

    def _deals(self, d: int, st: str) -> None:
        """Consumption groups: deal posts, coupon claims (领券) and paid orders at the group's conversion rate."""
        rng = self.rng
        p = self.p
        assert p.conversion is not None
        factor = {COLD_START: 0.5, GROWTH: 1.0, MATURE: 1.0, DECLINE: 0.5}.get(st, 0.0)
        if rng.random() < 0.8 * factor:
            product, price = _pick(rng, texts.PRODUCTS)
            t = self._t(d, 10, 11) if rng.random() < 0.5 else self._t(d, 19.5, 20.5)
            disc = _pick(rng, (5, 10, 20, 30))
            if rng.random() < 0.2:
                text = _pick(rng, texts.DEALS_FREE).format(product=product, d=disc)
                mid = self.msg(t, self.organizer, text, ContentKind.MINI_PROGRAM, tag=T_HARDNEG, payload="promo")
            else:
                text = _pick(rng, texts.DEALS).format(
                    product=product, p=price // 100, q=max(1, price // 100 - disc), d=disc
                )
                mid = self.msg(t, self.organizer, text, ContentKind.MINI_PROGRAM, media="小程序·福利商城")
            if mid:
                self._campaign(d, t, product, price, factor)
                for _ in range(_ri(rng, 0, 3)):
                    q = texts.QUESTION_POOL["consumption"]
                    self.msg(t + _ri(rng, MIN_MS, 2 * HOUR_MS), self._asker(), q[_rr(rng, len(q))])
        for _ in range(poisson(rng, 0.3 * factor * max(1.0, self.size / 150))):
            product, price = _pick(rng, texts.PRODUCTS)
            self._order(self._td(d), self._member(), product, price)

    def _campaign(self, d: int, t: int, product: str, price: int, factor: float) -> None:
        rng = self.rng
        p = self.p
        assert p.conversion is not None
        coupon = f"C{self.gid}-{d + 1:02d}"
        date_s = (self.ctx.first_date + timedelta(days=d)).strftime("%m月%d日")
        campaign = f"{date_s}{product}券"
        pool = self.lurkers + self.core + self.regulars
        k = min(len(pool), poisson(rng, len(pool) * rng.uniform(0.03, 0.1) * factor))
        for who in rng.sample(pool, k):
            tc = t + int(rng.expovariate(1 / (90 * MIN_MS))) + 10_000
            if not self._event(tc, CouponClaim, who, T_CLAIM, coupon_id=coupon, campaign=campaign):
                continue
            if rng.random() < p.conversion:
                self._order(tc + int(rng.expovariate(1 / (5 * HOUR_MS))) + MIN_MS, who, product, price)

    def _order(self, t: int, who: int, product: str, price: int) -> None:
        rng = self.rng
        qty = rng.choices((1, 2, 3), weights=(70, 20, 10))[0]
        oid, _ = self._next()
        self._event(
            t, Order, who, T_ORDER, order_id=f"o-{oid[:12]}", status=OrderStatus.PAID, amount=price * qty,
            currency="CNY", product=product, quantity=qty,
        )  # fmt: skip

    def _merch(self, d: int) -> None:
        product, price = _pick(self.rng, texts.MERCH)
        who = self._member()
        oid, _ = self._next()
        self._event(
            self._td(d), Order, who, order_id=f"o-{oid[:12]}", status=OrderStatus.PAID, amount=price, product=product
        )

    def _guest_talk(self, d: int) -> None:
        """A guest talk (嘉宾分享, methodology 2.O): notices, the guest's burst, Q&A, thanks, course sales."""
        rng = self.rng
        start = self._t(d, 20.5, 20.52)
        if start < self.lo or start + 3 * HOUR_MS >= self.hi:
            return
        org = self.organizer
        guest = self.ctx.new_person()
        gname = _pick(rng, texts.GUEST_TITLES).format(s=_pick(rng, texts.SURNAMES))
        self.names[guest] = gname
        topic = _pick(rng, texts.GUEST_TOPICS[self.ct])
        self.msg(
            self._t(d, 10, 12), org, texts.ANNOUNCE_TEXTS[0].format(guest=gname, topic=topic), ContentKind.TEXT,
            plain=False,
        )  # fmt: skip
        self._event(start - _ri(rng, HOUR_MS, 2 * HOUR_MS), Join, guest, T_JOIN, method=JoinMethod.ADDED_BY_STAFF,
                    inviter=uid(org))  # fmt: skip
        self.size += 1
        self.msg(start - HOUR_MS, org, texts.ANNOUNCE_TEXTS[1].format(topic=topic), tag=T_HARDNEG, payload="rule")
        t = start
        self.msg(t, org, texts.GUEST_INTRO.format(guest=gname, topic=topic), plain=False)
        lines = texts.GUEST_LINE_POOL
        for _ in range(_ri(rng, 15, 30)):
            t += _ri(rng, 60_000, 200_000)
            r = rng.random()
            if r < 0.2:
                mid = self.msg(t, guest, "", ContentKind.IMAGE, media=f"slide_{_ri(rng, 1, 40):02d}.png", plain=False)
            elif r < 0.35:
                mid = self.msg(t, guest, "", ContentKind.VOICE, media=f"voice {_ri(rng, 20, 60)}s", plain=False)
            else:
                mid = self.msg(t, guest, lines[_rr(rng, len(lines))], plain=False)
            if mid and rng.random() < 0.3:
                for _ in range(_ri(rng, 1, 3)):
                    self._reaction(t + _ri(rng, 3_000, 120_000), mid)
            if rng.random() < 0.15:
                self.msg(t + _ri(rng, 5_000, 30_000), self._speaker(), _pick(rng, texts.GUEST_CLAPS))
        t += 60_000
        self.msg(t, org, "下面进入答疑环节，有问题的小伙伴可以提问了", plain=False)
        asked: list[int] = []
        for _ in range(_ri(rng, 4, 10)):
            t += _ri(rng, 30_000, 180_000)
            who = self._speaker() if rng.random() < 0.8 else self._member()
            if who in self.ads or who == org:
                continue
            q = self.msg(t, who, _pick(rng, texts.GUEST_QUESTIONS), plain=False)
            asked.append(who)
            t += _ri(rng, 60_000, 240_000)
            self.msg(t, guest, lines[_rr(rng, len(lines))], reply_to=q, mentions=(uid(who),), plain=False)
        t += _ri(rng, 60_000, 180_000)
        info = {"group": f"{PLATFORM}:{self.gid}", "start": start, "end": t, "guest": uid(guest), "guest_name": gname,
                "topic": topic, "questions": len(asked)}  # fmt: skip
        self.msg(t, org, texts.GUEST_THANKS.format(guest=gname), tag=T_GUEST, payload=info, plain=False)
        if rng.random() < 0.5:
            self.msg(t + 30_000, org, "感谢老师", ContentKind.RED_PACKET, media="红包", plain=False)
        if self.ct == "growth":
            for who in set(asked):
                if rng.random() < 0.3:
                    pid, _ = self._next()
                    self._event(
                        t + _ri(rng, 10 * MIN_MS, 20 * HOUR_MS), Payment, who, payment_id=f"pay-{pid[:12]}",
                        amount=_pick(rng, (9900, 19900, 29900, 59900)), purpose="course",
                    )  # fmt: skip

    def _cleanup(self, d: int) -> None:
        """A clean-up of lurkers (定时清理, methodology 2.I6): roll call at 19:00, removal after 21:00."""
        rng = self.rng
        org = self.organizer
        t = self._t(d, 19, 19.3)
        if not self.msg(t, org, texts.CLEANUP_CALL, plain=False):
            return
        replied: set[int] = set()
        responders = self.core + [w for w in self.regulars if rng.random() < 0.6]
        lurk_resp = rng.sample(self.lurkers, round(len(self.lurkers) * rng.uniform(0.06, 0.15)))
        for who in responders + lurk_resp:
            if self.msg(self._t(d, 19.1, 20.4), who, "1", plain=False):
                replied.add(who)
        silent = [w for w in self.lurkers if w not in replied and w not in self.dued]
        removed = rng.sample(silent, round(len(silent) * rng.uniform(0.1, 0.25)))
        tr = self._t(d, 21, 21.5)
        gone = set()
        for who in removed:
            tr += _ri(rng, 2_000, 20_000)
            if self._event(tr, Leave, who, T_LEAVE, reason=LeaveReason.REMOVED, by=uid(org)):
                gone.add(who)
                self.checkin.pop(who, None)
        self.lurkers = [w for w in self.lurkers if w not in gone]
        self.size -= len(gone)
        info = {"group": f"{PLATFORM}:{self.gid}", "at": t, "replies": len(replied), "removed": len(gone)}
        self.msg(tr + 5 * MIN_MS, org, texts.CLEANUP_DONE.format(n=len(gone)), tag=T_CLEANUP, payload=info, plain=False)


def _ms(e: Entry) -> int:
    return e[0]
