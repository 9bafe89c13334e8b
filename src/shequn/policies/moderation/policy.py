"""Moderation (群规执行, book 752-802, 1659, 1862-1876): detection, the ladder, paid ads and the operators' labels.

How it works:
    For each message (and each edit) of a member who does not run the group, the policy looks for flooding (刷屏),
    forbidden topics and ads. An ad is what the :class:`~.detect.Detector`'s evidence, the poster's history
    (newcomer or established) and the classifier learned from the operators' labels score at or above the
    community's threshold. What passes is the community's one ad rule (``ads``, :func:`ad_rule`): nothing where
    ads are forbidden (792); after a red packet of the configured amount or the per-character fee in the last hour
    (790); or only inside the rhythm's weekly ad window (``rhythm.jobs.ad_window``, the one the scheduler
    announces), with its red packet per member (1858). Anything else is an offence: the message is deleted
    and the member climbs the ladder (remind → private warning → public notice with the evidence → removal with
    the workspace-wide blacklist and an announcement). The event stops there: a removed ad earns no points.

    A :class:`~shequn.domain.Label` event is an operator's correction: the classifier learns from it, and "not an
    ad" withdraws the offence the message caused (and the blacklisting, if it led there); "an ad" records the
    offence the detection missed and takes the ladder's next step.

Things to keep in mind:
    * Nobody is exempt but the people who run the group (``exempt_roles``); opinion leaders get no privilege.
    * State: ``o:<member>`` offences, ``f:<member>`` the flood window, ``c:<member>`` paid-ad credit (community);
      ``blacklist`` and ``moderation.learned`` are workspace-wide.
    * Cases (处理记录): every step of the ladder is a numbered case, ``case:<n>`` (when, who, which message, the
      offence, the step, the evidence and its score, ``standing`` or ``reversed``, the operators' notes), numbered
      by the community's counter ``case`` and found by message through ``cm:<message id>``. The numbers come from
      the log's order, so a replay gives the same ones; the message itself stays in the log (the console reads it
      there). A ``not_ad`` label reverses the cases of its message; a ``case.note`` operator action adds a note.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import (
    Action,
    Ban,
    ContentKind,
    DeleteMessage,
    DirectMessage,
    Edit,
    EventKind,
    Label,
    Message,
    Mute,
    OperatorAction,
    Payment,
    Post,
    Remove,
    SetState,
    Warn,
    stable_id,
)
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.playbook import load_lexicon, load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    BookSettings,
    PerSettings,
    RoleHolders,
    book,
    check_texts,
    display,
    local,
    money,
    say,
)
from shequn.policies.moderation import classifier, evidence
from shequn.policies.moderation.detect import COMMON_WORDS, WEIGHTS, Detector, Evidence, Verdict, normalize

NAME = "moderation"
BLACKLIST = "blacklist"  # workspace-wide scope: member key → why and when
Step = Literal["remind", "warn", "public", "mute", "remove"]
AD_PURPOSES = frozenset({"red_packet", "ad", "ad_fee", "红包", "广告费"})
NEWCOMER_MESSAGES = 3
NEWCOMER_DAYS = 7
ESTABLISHED_MESSAGES = 20
ESTABLISHED_DAYS = 14
_LOG_KEEP = 10
CASE_NOTES_KEPT = 50  # notes kept on a case


class Flood(BaseModel):
    """Flooding (刷屏): more than ``messages`` in ``seconds``, or one text ``repeats`` times in ``repeat_minutes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: int = Field(ge=2)
    seconds: int = Field(ge=1)
    repeats: int = Field(ge=2)
    repeat_minutes: int = Field(ge=1)


AdRule = Literal["forbid", "red_packet", "window"]


class ModerationSettings(BookSettings):
    """``policies.moderation``: the ladder, the detection threshold, paid ads, flooding, word lists, weights."""

    ladder: list[Step] = book(NAME, "ladder")
    threshold: float = Field(default_factory=lambda: load_playbook().default(NAME, "threshold"), gt=0)
    severe: float = Field(default_factory=lambda: load_playbook().default(NAME, "severe"), gt=0)
    delete: bool = book(NAME, "delete")
    blacklist: bool = book(NAME, "blacklist")
    announce_removal: bool = book(NAME, "announce_removal")
    exempt_roles: list[str] = book(NAME, "exempt_roles")
    red_packet_fen: int = Field(default_factory=lambda: load_playbook().default(NAME, "red_packet_fen"), ge=0)
    per_char_fen: int = Field(default_factory=lambda: load_playbook().default(NAME, "per_char_fen"), ge=0)
    paid_ad_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "paid_ad_minutes"), ge=1)
    ads: AdRule | None = book(NAME, "ads")
    ad_fee_per_member_fen: int = Field(
        default_factory=lambda: load_playbook().default(NAME, "ad_fee_per_member_fen"), ge=0
    )
    flood: Flood = book(NAME, "flood")
    forbidden: list[str] = book(NAME, "forbidden")
    words: list[str] = book(NAME, "words")
    lexicon: bool = book(NAME, "lexicon")
    mute_hours: int = Field(default_factory=lambda: load_playbook().default(NAME, "mute_hours"), ge=1)
    weights: dict[str, float] = book(NAME, "weights")
    learn_min_labels: int = Field(default_factory=lambda: load_playbook().default(NAME, "learn_min_labels"), ge=1)

    ad_window: Any = Field(default=None, exclude=True)  # moved to rhythm.jobs.ad_window: refused with the way

    @field_validator("ad_window")
    @classmethod
    def _moved(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError(
                "the weekly ad window is one setting, rhythm.jobs.ad_window (days, at, until), which the scheduler "
                "announces and moderation enforces: set ads: window here, and the red packet per member as "
                "ad_fee_per_member_fen"
            )
        return v

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("the ladder needs at least one step")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - WEIGHTS.keys())
        if unknown:
            raise ValueError(f"unknown evidence {unknown}; kinds are {sorted(WEIGHTS)}")
        return v

    @field_validator("forbidden")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"{p!r} is not a valid pattern: {exc}") from None
        return v

    @property
    def detector(self) -> Detector:
        """The evidence finder for these settings (built once)."""
        return _compiled(self)[0]

    def forbidden_match(self, norm: str) -> str:
        pattern = _compiled(self)[1]
        m = pattern.search(norm) if pattern is not None else None
        return m.group(0) if m else ""


def ad_rule(settings: ModerationSettings, spec: CommunitySpec) -> AdRule:
    """What the community does about members' ads: ``forbid`` (792: 禁止一切广告, nothing passes), ``red_packet``
    (790: a red packet first, the alternative to forbidding) or ``window`` (1858: only in the weekly ad window,
    with a red packet per member). Left out, it follows the rhythm: ``window`` when the ad-window job is on."""
    if settings.ads is not None:
        return settings.ads
    return "window" if spec.rhythm.job("ad_window").enabled else "red_packet"


def _compile(s: ModerationSettings) -> tuple[Detector, re.Pattern[str] | None]:
    lexicon = load_lexicon("cn_advertisement.bin") if s.lexicon else ()
    detector = Detector(lexicon, s.words, s.weights, COMMON_WORDS)
    forbidden = re.compile("|".join(f"(?:{normalize(p)})" for p in s.forbidden)) if s.forbidden else None
    return detector, forbidden


_compiled: PerSettings[tuple[Detector, re.Pattern[str] | None]] = PerSettings(_compile)


class _Exempt:
    """The people moderation leaves alone, per community (settings and spec go together)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, Any, RoleHolders]] = {}

    def __call__(self, s: ModerationSettings, spec: CommunitySpec) -> RoleHolders:
        entry = self._cache.get(id(s))
        if entry is None or entry[0] is not s or entry[1] is not spec:
            if len(self._cache) > 512:
                self._cache.clear()
            entry = self._cache[id(s)] = (s, spec, RoleHolders(spec, s.exempt_roles))
        return entry[2]


_EXEMPT = _Exempt()


def _credit_of(ctx: Context, member: MemberState) -> tuple[int, int]:
    """(credit in fen, ad permits) still valid for ``member``."""
    old = ctx.scope.get(f"c:{member.key}")
    if not old or parse_iso(old[1]) <= ctx.now:
        return 0, 0
    return int(old[0]), int(old[2]) if len(old) > 2 else 0


def history_weight(member: MemberState | None, now: datetime) -> tuple[str, float]:
    """What the poster's history says, as (kind, weight): a newcomer who has hardly spoken, an established member,
    or nothing ("", 0)."""
    if member is None:
        return "", 0.0
    joined = member.joined_at
    if member.via == "roster":
        joined = None  # in the group when the record began: when they joined is not known
    n = member.messages
    if joined is not None and n <= NEWCOMER_MESSAGES and now - joined <= timedelta(days=NEWCOMER_DAYS):
        return "newcomer", WEIGHTS["newcomer"]
    if n >= ESTABLISHED_MESSAGES and (joined is None or now - joined >= timedelta(days=ESTABLISHED_DAYS)):
        return "established", WEIGHTS["established"]
    return "", 0.0


def member_evidence(member: MemberState | None, now: datetime) -> list[Evidence]:
    """What the poster's history says, as evidence."""
    kind, weight = history_weight(member, now)
    return [Evidence(kind, f"{member.messages} msg", weight)] if kind and member is not None else []


NO_EVIDENCE = Verdict(())
_KEEP = object()  # the flood record stays as it is


def judge(
    settings: ModerationSettings,
    text: str,
    content: ContentKind,
    media: str,
    member: MemberState | None,
    now: datetime,
    learned: Any,
    *,
    qr: bool = False,
) -> Verdict:
    """The verdict on one message: rule evidence, the poster's history, and what was learned from labels."""
    detector = settings.detector
    ready = bool(learned) and classifier.ready(learned, settings.learn_min_labels)
    kind, weight = history_weight(member, now)
    if (
        kind == "established"
        and not ready
        and content is ContentKind.TEXT
        and not qr
        and weight + detector.plain_ceiling < settings.threshold
        and not detector.worth_a_closer_look(text)
    ):
        # An established member's plain text (no digits, Latin letters or disguised contact words): even every
        # phrase the detector knows could not lift it to the threshold, so it is not read any further.
        return NO_EVIDENCE
    evidence = detector.inspect(text, content, media, qr)
    if not evidence and not ready and detector.weights["newcomer"] < settings.threshold:
        return NO_EVIDENCE  # the common case: nothing in the message, and history alone can't make an ad
    if kind and member is not None:
        evidence.append(Evidence(kind, f"{member.messages} msg", weight))
    if ready:
        toks = classifier.tokens(text, (e.kind for e in evidence))
        w = classifier.weight(classifier.log_odds(learned, toks))
        if w:
            evidence.append(Evidence("learned", f"{w:+.2f}", w))
    return Verdict(tuple(evidence))


class Moderation(Policy):
    """Enforce the group rules on messages; learn from the operators' labels."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = ModerationSettings
    kinds = frozenset(
        {EventKind.MESSAGE, EventKind.EDIT, EventKind.LABEL, EventKind.PAYMENT, EventKind.OPERATOR_ACTION}
    )

    def decide(self, ctx: Context) -> Decision:
        e = ctx.event
        s = ctx.settings
        assert isinstance(s, ModerationSettings)
        if isinstance(e, Label):
            return self._label(ctx, s, e)
        if isinstance(e, OperatorAction):
            return _case_note(ctx, e)
        member = ctx.member
        if member is None or e is None:
            return NOTHING
        rule = ad_rule(s, ctx.config.spec)
        if isinstance(e, Payment):
            if e.purpose in AD_PURPOSES and rule != "forbid":
                return Decision((self._credit(ctx, s, member, e.amount, rule),))
            return NOTHING
        if _EXEMPT(s, ctx.config.spec).holds(member, e.actor):
            return NOTHING
        if isinstance(e, Message):
            if e.content is ContentKind.RED_PACKET:
                if rule == "forbid":
                    return NOTHING  # a red packet buys no ad where ads are forbidden (792)
                amount = e.extra.get("amount")
                fen = int(amount) if isinstance(amount, int | str) and str(amount).isdigit() else s.red_packet_fen
                return Decision((self._credit(ctx, s, member, fen, rule),))
            text, content, media, mid = e.text, e.content, e.media, e.message_id or e.id
            qr = bool(e.extra.get("qr"))
        elif isinstance(e, Edit):
            text, content, media, mid, qr = e.text, ContentKind.TEXT, "", e.message_id, False
        else:
            return NOTHING
        actions: list[Action] = []
        changes: dict[str, Any] | None = None
        violation = ""
        if isinstance(e, Message):
            flood, record = self._flood(ctx, s, member, text)
            if record is not _KEEP:
                changes = {f"f:{member.key}": record}
            if flood:
                violation = "flood"
        verdict: Verdict | None = None
        if text and s.forbidden and (hit := s.forbidden_match(normalize(text))):
            violation = "forbidden"
            verdict = Verdict((Evidence("forbidden", hit, 0.0),))
        if not violation or violation == "flood":
            v = judge(s, text, content, media, member, ctx.now, ctx.shared(classifier.SCOPE), qr=qr)
            if v.score >= s.threshold:
                paid = self._paid(ctx, s, rule, member, text) if rule != "forbid" else None
                if paid is not None:
                    actions.extend(paid)
                    return Decision(tuple(actions), True, changes)
                violation, verdict = "ad", v
        if not violation:
            return Decision(tuple(actions), False, changes) if actions or changes else NOTHING
        actions.extend(self._offence(ctx, s, member, violation, mid, text, verdict))
        return Decision(tuple(actions), True, changes)

    # -- flooding and paid ads -----------------------------------------------------------------------------------

    @staticmethod
    def _flood(ctx: Context, s: ModerationSettings, member: MemberState, text: str) -> tuple[bool, Any]:
        """(flooding?, the new flood record: a list, None to forget it, or ``_KEEP`` to leave it as it is).

        A record is kept only while the member posts in quick succession: a message with nothing from them in the
        last ``repeat_minutes`` (or ``seconds``, if longer) starts nothing, so ordinary chat writes no state. The
        record then counts from the message before (the rate) and from this one (repeats).
        """
        f = s.flood
        t = int(ctx.now.timestamp())
        prev = ctx.previous_active_at
        horizon = max(f.seconds, f.repeat_minutes * 60)
        old = ctx.scope.get(f"f:{member.key}")
        if prev is None or t - int(prev.timestamp()) >= horizon:
            return False, (None if old is not None else _KEEP)
        p = int(prev.timestamp())
        if old is None or old[5] < p:
            ws, count, h, rs, reps = p, 1, 0, p, 0  # the record starts with the message before
        else:
            ws, count, h, rs, reps = old[:5]
        if t - ws >= f.seconds:
            ws, count = t, 0
        count += 1
        stripped = text.strip()
        hh = zlib.crc32(stripped.encode()) if len(stripped) >= 2 else 0
        if hh and hh == h and t - rs < f.repeat_minutes * 60:
            reps += 1
        else:
            h, rs, reps = hh, t, 1
        flood = count > f.messages or reps >= f.repeats
        if flood:
            ws, count, reps = t, 0, 0
        return flood, [ws, count, h, rs, reps, t]

    @staticmethod
    def _credit(ctx: Context, s: ModerationSettings, member: MemberState, fen: int, rule: AdRule) -> SetState:
        """Record a red packet or an ad fee.

        Under ``red_packet``, one of at least ``red_packet_fen`` permits one ad (book 790: 先发100元红包) and smaller
        amounts are credit for the per-character fee (按字数每个字1元); under ``window`` it all is credit for the
        window's red packet per member. Both last ``paid_ad_minutes``.
        """
        until = ctx.now + timedelta(minutes=s.paid_ad_minutes)
        money_, permits = _credit_of(ctx, member)
        if rule == "red_packet" and s.red_packet_fen and fen >= s.red_packet_fen:
            permits += 1
        else:
            money_ += fen
        return ctx.act(SetState, "credit", scope=NAME, name=f"c:{member.key}", value=[money_, iso(until), permits])

    def _paid(
        self, ctx: Context, s: ModerationSettings, rule: AdRule, member: MemberState, text: str
    ) -> list[Action] | None:
        """The actions of a paid ad that may pass (credit used, thanks posted), or None when it isn't paid.

        ``red_packet``: a permit (a big enough red packet) pays for any ad, credit pays ``per_char_fen`` per
        character. ``window``: only inside the ad window (``rhythm.jobs.ad_window``, the one the scheduler
        announces), for a red packet of ``ad_fee_per_member_fen`` per member (possibly nothing); outside it no
        payment makes an ad acceptable (其他时间请勿发广告).
        """
        e = ctx.event
        assert e is not None
        fen, permits = _credit_of(ctx, member)
        old = ctx.scope.get(f"c:{member.key}")
        price: int | None = None
        if rule == "window":
            if not ctx.config.spec.rhythm.ad_window_open(local(ctx.now, ctx.config.spec)):
                return None
            price, permits = s.ad_fee_per_member_fen * (len(ctx.group.members) if ctx.group else 0), 0
        elif s.per_char_fen:
            price = s.per_char_fen * len(text)
        if permits:
            permits -= 1
        elif price is not None and fen >= price:
            fen -= price
        else:
            return None
        out: list[Action] = []
        if old:
            value = [fen, old[1], permits] if fen or permits else None
            out.append(ctx.act(SetState, "credit", scope=NAME, name=f"c:{member.key}", value=value))
        name = display(member, e.actor)
        out.append(ctx.act(Post, "paid", text=say(ctx, NAME, "paid_ad", name=name), mentions=(e.actor,)))
        return out

    @staticmethod
    def _ad_rule_text(ctx: Context, s: ModerationSettings) -> str:
        """How an ad may be posted here, for the reminder (nothing where ads are forbidden)."""
        rule = ad_rule(s, ctx.config.spec)
        if rule == "window":
            window = ctx.config.spec.rhythm.ad_window_words(ctx.locale)
            return say(ctx, NAME, "ad_window_rule", window=window, fee=money(s.ad_fee_per_member_fen))
        if rule == "red_packet" and (s.red_packet_fen or s.per_char_fen):
            return say(ctx, NAME, "ad_rule", red_packet=money(s.red_packet_fen), per_char=money(s.per_char_fen))
        return ""

    # -- the ladder ------------------------------------------------------------------------------------------------

    def _offence(
        self,
        ctx: Context,
        s: ModerationSettings,
        member: MemberState,
        violation: str,
        mid: str,
        text: str,
        verdict: Verdict | None,
        *,
        suffix: str = "",
    ) -> list[Action]:
        """The ladder's next step for ``member`` (and the record of the offence)."""
        e = ctx.event
        assert e is not None
        platform = e.platform
        group = e.group
        pid = member.key.partition(":")[2]
        record = ctx.scope.get(f"o:{member.key}") or {"n": 0, "log": []}
        n = int(record["n"]) + 1
        step_i = min(n - 1, len(s.ladder) - 1)
        ad_account = verdict is not None and (verdict.score >= s.severe or "newcomer" in verdict.kinds())
        if violation == "ad" and member.messages <= 1 and ad_account:
            # Broken windows (book 1735): an ad as a newcomer's first word, or one this blatant as anyone's first,
            # is an ad account, cleared at once.
            step_i = len(s.ladder) - 1
        step = s.ladder[step_i]
        name = display(member, pid)
        what = say(ctx, NAME, f"v_{violation}")
        # What is posted or kept names the offence, its time and what was found, never the ad's text.
        excerpt = evidence.summary(verdict, violation, local(ctx.now, ctx.config.spec), ctx.locale)
        why = verdict.describe() if verdict is not None else violation
        log = [*record["log"], [iso(ctx.now), violation, mid, step, why]][-_LOG_KEEP:]
        p = f"{suffix}:" if suffix else ""
        number = int(ctx.scope.get("case") or 0) + 1  # the case's number, told to the member with the warning
        out: list[Action] = [
            ctx.act(SetState, f"{p}offence", scope=NAME, name=f"o:{member.key}", value={"n": n, "log": log}),
            *self._case(ctx, number, member, violation, mid, step, why, verdict, p),
        ]
        if s.delete and mid and violation in ("ad", "forbidden"):
            out.append(ctx.act(DeleteMessage, f"{p}delete", platform=platform, group=group, message_id=mid, reason=why))
        if step == "remind":
            ad_rule = self._ad_rule_text(ctx, s) if violation == "ad" else ""
            out.append(
                ctx.act(
                    Post,
                    f"{p}remind",
                    platform=platform,
                    group=group,
                    target=pid,
                    text=say(ctx, NAME, "remind", name=name, violation=what, ad_rule=ad_rule),
                    mentions=(pid,),
                )
            )
        elif step == "warn":
            group_name = (ctx.group_config.name if ctx.group_config else "") or ctx.config.name
            out.append(
                ctx.act(
                    Warn,
                    f"{p}warn",
                    platform=platform,
                    group=group,
                    target=pid,
                    level=2,
                    text=say(ctx, NAME, "warn", name=name, violation=what, group=group_name, case=number),
                    evidence=excerpt,
                )
            )
        elif step == "public":
            out.append(
                ctx.act(
                    Warn,
                    f"{p}public",
                    platform=platform,
                    group=group,
                    target=pid,
                    level=3,
                    public=True,
                    text=say(ctx, NAME, "public", name=name, violation=what, evidence=excerpt),
                    evidence=excerpt,
                )
            )
        elif step == "mute":
            out.append(
                ctx.act(
                    Mute,
                    f"{p}mute",
                    platform=platform,
                    group=group,
                    target=pid,
                    until=ctx.now + timedelta(hours=s.mute_hours),
                    reason=why,
                )
            )
        else:
            if s.blacklist:
                out.append(ctx.act(Ban, f"{p}ban", platform=platform, group=group, target=pid, scope="workspace"))
                entry = {
                    "at": iso(ctx.now),
                    "community": ctx.config.name,
                    "violation": violation,
                    "message": mid,
                    "evidence": excerpt,
                }
                out.append(
                    ctx.act(SetState, f"{p}blacklist", scope=BLACKLIST, name=member.key, value=entry, shared=True)
                )
            else:
                out.append(ctx.act(Remove, f"{p}remove", platform=platform, group=group, target=pid, reason=why))
            if s.announce_removal:
                out.append(
                    ctx.act(
                        Post,
                        f"{p}announce",
                        platform=platform,
                        group=group,
                        text=say(ctx, NAME, "removed", name=name, violation=what),
                    )
                )
        return out

    @staticmethod
    def _case(
        ctx: Context,
        n: int,
        member: MemberState,
        violation: str,
        mid: str,
        step: str,
        why: str,
        verdict: Verdict | None,
        p: str,
    ) -> list[Action]:
        """Case ``n`` of this step (the community's next number; found again by its message)."""
        e = ctx.event
        assert e is not None
        case = {
            "n": n,
            "at": iso(ctx.now),
            "member": member.key,
            "name": display(member, member.key.partition(":")[2]),
            "group": e.group,
            "violation": violation,
            "message_id": mid,
            "step": step,
            # what was found; a forbidden topic's match or an operator's label weighs nothing but is the evidence
            "why": why or ", ".join(f"{x.kind}({x.detail})" for x in (verdict.evidence if verdict else ())),
            "score": round(verdict.score, 2) if verdict is not None else None,
            "status": "standing",
            "notes": [],
        }
        return [
            ctx.act(SetState, f"{p}case", scope=NAME, name="case", value=n),
            ctx.act(SetState, f"{p}case:{n}", scope=NAME, name=f"case:{n}", value=case),
            ctx.act(SetState, f"{p}cm", scope=NAME, name=f"cm:{mid}", value=[*(ctx.scope.get(f"cm:{mid}") or []), n]),
        ]

    # -- the operators' labels --------------------------------------------------------------------------------

    def _label(self, ctx: Context, s: ModerationSettings, e: Label) -> Decision:
        if e.label not in ("ad", "not_ad"):
            return NOTHING
        learned = ctx.shared(classifier.SCOPE)
        author = ctx.member_of(e.platform, e.author) if e.author else None
        prev = learned.get(f"m:{e.message_id}")
        if prev is not None and prev[0] == e.label:
            return NOTHING  # labelled so before: nothing to learn
        evidence = s.detector.inspect(e.text, e.content)
        toks = classifier.tokens(e.text, (ev.kind for ev in evidence))
        changes: dict[str, Any] = {}
        view = _Overlay(learned, changes)
        if prev is not None:
            changes.update(classifier.update(view, list(prev[1]), add=False, ad=prev[0] == "ad"))
        changes.update(classifier.update(view, toks, add=True, ad=e.label == "ad"))
        changes[f"m:{e.message_id}"] = [e.label, toks]
        actions: list[Action] = [
            ctx.act(SetState, f"learn:{i}", scope=classifier.SCOPE, name=k, value=v, shared=True)
            for i, (k, v) in enumerate(sorted(changes.items()))
        ]
        if e.label == "not_ad":
            for n in ctx.scope.get(f"cm:{e.message_id}") or []:
                case = ctx.scope.get(f"case:{n}")
                if case and case["status"] != "reversed":
                    done = {**case, "status": "reversed", "reversed_at": iso(ctx.now), "reversed_by": e.by}
                    actions.append(ctx.act(SetState, f"reverse:{n}", scope=NAME, name=f"case:{n}", value=done))
        if author is None:
            return Decision(tuple(actions))
        record = ctx.scope.get(f"o:{author.key}") or {"n": 0, "log": []}
        caused = [x for x in record["log"] if x[2] == e.message_id]
        if e.label == "not_ad" and caused:
            log = [x for x in record["log"] if x[2] != e.message_id]
            n = max(int(record["n"]) - len(caused), 0)
            value = {"n": n, "log": log} if n or log else None
            actions.append(ctx.act(SetState, "unflag", scope=NAME, name=f"o:{author.key}", value=value))
            listed = ctx.shared(BLACKLIST).get(author.key)
            if listed is not None and listed.get("message") == e.message_id:
                actions.append(ctx.act(SetState, "unlist", scope=BLACKLIST, name=author.key, value=None, shared=True))
            group_name = (ctx.group_config.name if ctx.group_config else "") or ctx.config.name
            actions.append(
                ctx.act(
                    DirectMessage,
                    "sorry",
                    target=e.author,
                    text=say(ctx, NAME, "unflagged", name=display(author, e.author), group=group_name),
                )
            )
        elif e.label == "ad" and not caused:
            actions.extend(
                self._offence(
                    ctx,
                    s,
                    author,
                    "ad",
                    e.message_id,
                    e.text,
                    Verdict((Evidence("label", e.by, 0.0),)),
                    suffix="labelled",
                )
            )
        return Decision(tuple(actions))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, ModerationSettings)
        problems = check_texts(NAME, settings)
        roles = {r.key for r in load_playbook().roles.roles}
        for i, r in enumerate(settings.exempt_roles):
            if r not in roles:
                problems.append((f"exempt_roles.{i}", f"unknown role {r!r}; roles are {sorted(roles)}"))
        window = spec.rhythm.job("ad_window")
        if settings.ads == "window" and not window.enabled:
            problems.append(("ads", "window needs the ad window: turn on rhythm.jobs.ad_window (days, at, until)"))
        if settings.ads in ("forbid", "red_packet") and window.enabled:
            problems.append(
                (
                    "ads",
                    f"{settings.ads}, but rhythm.jobs.ad_window is on and announces an ad window: set ads: window or "
                    "turn the job off (rhythm.jobs.ad_window.enabled: false)",
                )
            )
        return problems


def _case_note(ctx: Context, e: OperatorAction) -> Decision:
    """An operator's note on a case (``case.note``: target the case number, value the note)."""
    if e.op != "case.note" or not e.value:
        return NOTHING
    case = ctx.scope.get(f"case:{e.target}")
    if case is None:
        return NOTHING
    notes = [*case.get("notes", []), [iso(ctx.now), e.by, e.value]][-CASE_NOTES_KEPT:]
    return Decision(state={f"case:{e.target}": {**case, "notes": notes}})


LABELS = {"ad": "ad", "not_ad": "not_ad", "not-ad": "not_ad", "notad": "not_ad", "spam": "ad", "ham": "not_ad"}


def label_for(message: Message | Edit, label: str, *, by: str, at: datetime) -> Label:
    """The operator's correction of ``message`` as an event for the log (its id is stable for the same label given
    at the same moment, so a retried command is logged once)."""
    value = LABELS.get(label.strip().lower())
    if value is None:
        raise ValueError(f"unknown label {label!r}: use ad or not-ad")
    content = message.content if isinstance(message, Message) else ContentKind.TEXT
    return Label(
        id=stable_id("label", message.id, value, iso(at)),
        at=at,
        platform=message.platform,
        group=message.group,
        message_id=message.message_id or message.id,  # as the offence and its case name it (the platform's id)
        label=value,
        text=message.text,
        author=message.actor,
        content=content,
        by=by,
    )


class _Overlay(Mapping[str, Any]):
    """A read view of ``base`` with ``changes`` applied on top (``None`` in changes reads as missing)."""

    def __init__(self, base: Mapping[str, Any], changes: dict[str, Any]) -> None:
        self.base = base
        self.changes = changes

    def __getitem__(self, key: str) -> Any:
        if key in self.changes:
            v = self.changes[key]
            if v is None:
                raise KeyError(key)
            return v
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        seen = set(self.changes)
        yield from (k for k, v in self.changes.items() if v is not None)
        yield from (k for k in self.base if k not in seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)
