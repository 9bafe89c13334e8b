"""The sandbox: a local chat where you act as members and watch the policies respond.

The sandbox runs the engine in memory on one community's configuration with a virtual clock, and plays the
platform itself: what shequn decides is carried out by :class:`SandboxConnector` (a removal becomes a ``leave``
event fed back in, as a real platform would report it). Nothing is written to the store. ``--platform wecom``
makes the sandbox refuse what that platform refuses, so the staff tasks it would open show up too.

Commands (one per line; plain text speaks as the current member)::

    /as NAME                 speak as NAME from now on
    /join [NAME] [by INVITER] [via CODE]  NAME (or the current member) joins the current group (CODE: an invite code)
    /leave [NAME]            leave the current group
    /nick NEW                change the current member's nickname
    /image [CAPTION] /link URL /redpacket [AMOUNT] [TEXT]   send other content kinds (a red packet of AMOUNT yuan)
    /reply TEXT              reply to the last message of someone else
    /checkin /coupon ID /order AMOUNT [PRODUCT] /pay AMOUNT [PURPOSE] /form NAME k=v …
    /accept [VERSION]        accept the group rules (the current version by default)
    /label ad|not-ad [NAME]  as the operator: the last message (of NAME) was / was not an ad
    /show bulletin|checkin   what the scheduler would post: the level bulletin, the check-in opening
    /group NAME              switch to (or create) another group of the community
    /time +1h | +30m | +2d | YYYY-MM-DD HH:MM   move the virtual clock forward (time-driven policies run,
                             and the rhythm and every activity's run-of-show post what is due)
    /talk +3d TITLE [GUEST]  plan a guest talk (嘉宾分享) in this group (and the other groups, relayed)
    /guest                   the current member is the guest (what they say is relayed)
    /meetup +7d TITLE [PLACES]  plan an offline event (线下活动) here; members register by typing 报名
    /who  /help
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shequn.connectors.base import Connector, SendResult, StaffReason, describe, route, sends
from shequn.domain import (
    RULES_FORM,
    Action,
    ActionKind,
    CheckIn,
    ContentKind,
    CouponClaim,
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
    UserError,
    VirtualClock,
    group_key,
    stable_id,
)
from shequn.domain.actions import ACTIONS
from shequn.domain.records import iso
from shequn.engine import Engine, WorkspaceConfig
from shequn.policies import CommunityConfig, GroupConfig, Policy
from shequn.schedule.activities import Activity, ActivityKind, new_secret
from shequn.schedule.service import MemoryData, Scheduler

PLATFORM = "sandbox"
# Every action kind the outside world sees (internal ones never leave the engine; staff tasks go to people).
_EXTERNAL = frozenset(
    kind
    for cls in ACTIONS.classes.values()
    if not getattr(cls, "internal", False) and (kind := cls.kind) is not ActionKind.OPEN_STAFF_TASK  # type: ignore[attr-defined]
)


class SandboxConnector(Connector):
    """Carries out every action on the simulated chat and reports what the platform would report back."""

    platform = PLATFORM

    def __init__(self) -> None:
        self.feedback: list[Event] = []
        self.muted: dict[tuple[str, str], datetime | None] = {}
        self.deleted: set[str] = set()
        self.announcements: dict[str, str] = {}

    @sends(ActionKind.POST, ActionKind.REPLY, ActionKind.DIRECT_MESSAGE, ActionKind.WARN, ActionKind.CREATE_INVITE_LINK)
    async def _say(self, action: Action) -> SendResult:
        return SendResult(platform_id=f"out-{action.key}")

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        self.deleted.add(str(getattr(action, "message_id", "")))
        return SendResult()

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        if action.kind is ActionKind.MUTE:
            self.muted[(action.group, action.target)] = getattr(action, "until", None)
        else:
            self.muted.pop((action.group, action.target), None)
        return SendResult()

    @sends(ActionKind.REMOVE, ActionKind.BAN)
    async def _remove(self, action: Action) -> SendResult:
        reason = LeaveReason.BANNED if action.kind is ActionKind.BAN else LeaveReason.REMOVED
        self.feedback.append(
            Leave(
                id=stable_id("sandbox-leave", action.key),
                at=action.at,
                platform=PLATFORM,
                group=action.group,
                actor=action.target,
                reason=reason,
                by="shequn",
            )
        )
        return SendResult()

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        self.announcements[action.group] = action.text_or_empty
        return SendResult()


@dataclass(slots=True)
class Output:
    """One thing that happened in the sandbox, printed as a chat line or one JSON line."""

    at: datetime
    kind: str  # an action kind, "staff_task", "info" or "error"
    group: str = ""
    target: str = ""
    target_name: str = ""
    text: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group": self.group,
            "target": self.target,
            "target_name": self.target_name,
            "text": self.text,
            "time": iso(self.at),
            **self.detail,
        }


_DURATION = re.compile(r"^\+(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """``+1h``, ``+30m``, ``+2d`` … or a local ``YYYY-MM-DD HH:MM`` in the community's time zone."""
    text = text.strip()
    m = _DURATION.match(text)
    if m:
        return now + timedelta(**{_UNITS[m[2]]: int(m[1])})
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: use +30m, +1h, +2d or YYYY-MM-DD HH:MM") from None
    return (local if local.tzinfo else local.replace(tzinfo=tz)).astimezone(now.tzinfo)


class SandboxSession:
    """One community in a local chat.

    Args:
        community: the community's configuration (from the store or a spec file).
        start: where the virtual clock starts.
        platform_capabilities: act as a platform that can only do these (None: the sandbox can do everything).
        emulate: the name of the emulated platform, for staff-task messages.
        tick: how often time-driven policies run while the clock moves.
        policies: the policies to run (default: every policy, as in a live run).
        next_number: the member number the next joiner gets (an existing community's next one).
    """

    def __init__(
        self,
        community: CommunityConfig,
        *,
        start: datetime,
        platform_capabilities: frozenset[ActionKind] | None = None,
        emulate: str = PLATFORM,
        tick: timedelta = timedelta(minutes=1),
        activities: Sequence[Activity] = (),
        policies: Sequence[Policy] | None = None,
        next_number: int = 1,
    ) -> None:
        self.community = community
        self.tz = ZoneInfo(community.spec.timezone)
        self.clock = VirtualClock(start)
        self.connector = SandboxConnector()
        self._loop = asyncio.new_event_loop()
        # What the sandbox connector cannot do (an invitation) goes to staff, as on a platform without it.
        self.capabilities = (
            _EXTERNAL & SandboxConnector.capabilities if platform_capabilities is None else platform_capabilities
        )
        self.emulate = emulate
        self.tick_every = tick
        self.config = WorkspaceConfig()
        self.config.add(community)
        self.engine = Engine(self.config, policies)
        # On an existing community the next joiner gets the next member number, not "member #1".
        self.engine.state.community(community.name).next_number = next_number
        self.group = ""
        self.speaker = ""
        self.ids: dict[str, str] = {}  # member name → platform id
        self.names: dict[str, str] = {}
        self.last_message: dict[str, tuple[str, str]] = {}  # group → (message id, author id)
        self.messages: dict[tuple[str, str], Message] = {}  # (group, author id or "") → the last message
        self.seq = 0
        self.commands: dict[str, Callable[[list[str], str], list[Output]]] = {
            "as": self._as,
            "join": self._join,
            "leave": self._leave,
            "nick": self._nick,
            "image": self._image,
            "link": self._link,
            "redpacket": self._redpacket,
            "reply": self._reply,
            "checkin": self._checkin,
            "coupon": self._coupon,
            "order": self._order,
            "pay": self._pay,
            "form": self._form,
            "group": self._group,
            "time": self._time,
            "talk": self._talk,
            "guest": self._guest,
            "meetup": self._meetup,
            "who": self._who,
            "accept": self._accept,
            "label": self._label,
            "show": self._show,
            "help": self._help,
        }
        self._switch_group(next((g.id for g in community.spec.groups if g.platform == PLATFORM), "main"))
        self.rhythm = MemoryData(lambda: self.engine.state)
        # Activities planned with `shequn event create` happen in this session's current group.
        home = group_key(PLATFORM, self.group)
        self.rhythm.acts = [a.with_(groups=(home,)) for a in activities if a.community == community.name]
        self._scheduled_until = self.clock.now()

    # -- input --------------------------------------------------------------------------------------------------

    def run(self, line: str) -> list[Output]:
        """Act on one line of input; return what happened."""
        line = line.strip()
        if not line or line.startswith("#"):
            return []
        if not line.startswith("/"):
            return self._say(line)
        name, _, rest = line[1:].partition(" ")
        handler = self.commands.get(name)
        if handler is None:
            raise ValueError(f"unknown command /{name}; type /help")
        try:
            args = shlex.split(rest)
        except ValueError as exc:
            raise ValueError(f"cannot read the arguments of /{name}: {exc}") from None
        return handler(args, rest)

    def run_script(self, lines: Sequence[str], *, source: str) -> list[Output]:
        """Run every line; a bad line raises :class:`UserError` naming ``source`` and the line number."""
        out: list[Output] = []
        for n, line in enumerate(lines, 1):
            try:
                out.extend(self.run(line))
            except ValueError as exc:
                raise UserError(f"{source}:{n}: {exc}", exit_code=2) from None
        return out

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _id(self, name: str) -> str:
        pid = self.ids.get(name)
        if pid is None:
            pid = self.ids[name] = f"u{len(self.ids) + 1}"
            self.names[pid] = name
        return pid

    def _next_id(self) -> str:
        self.seq += 1
        return stable_id("sandbox", self.community.name, str(self.seq))

    def _need_speaker(self) -> str:
        if not self.speaker:
            raise ValueError("say who you are first: /as NAME")
        return self.speaker

    def _feed(self, event: Event) -> list[Output]:
        """Hand an event to the engine, carry out what it decides, and feed back what the platform reports."""
        out: list[Output] = []
        pending = [event]
        while pending:
            e = pending.pop(0)
            self.rhythm.log.append(e)
            for action in self.engine.handle(e):
                out.append(self._carry_out(action))
            pending.extend(self.connector.feedback)
            self.connector.feedback.clear()
        return out

    def _carry_out(self, action: Action) -> Output:
        reason = route(action, self.capabilities)
        target_name = self.names.get(action.target, action.target)
        if reason is not None:
            shown = action if reason is not StaffReason.CAPABILITY_MISSING else _as_platform(action, self.emulate)
            return Output(
                at=action.at,
                kind="staff_task",
                group=action.group,
                target=action.target,
                target_name=target_name,
                text=describe(reason, shown, self.community.locale),
                detail={"action": action.kind.value, "reason": reason.value, "action_text": action.text_or_empty},
            )
        self._loop.run_until_complete(self.connector.send(action))
        return Output(
            at=action.at,
            kind=action.kind.value,
            group=action.group,
            target=action.target,
            target_name=target_name,
            text=action.text_or_empty,
        )

    def _switch_group(self, name: str) -> None:
        key = group_key(PLATFORM, name)
        if key not in self.config.groups:
            title = self.community.name if name == "main" else f"{self.community.name}·{name}"
            self.config.bind(GroupConfig(key, PLATFORM, name, self.community.name, name=title))
        self.group = name

    def _message(self, text: str, content: ContentKind = ContentKind.TEXT, **kw: Any) -> list[Output]:
        who = self._need_speaker()
        mid = self._next_id()
        self.last_message[self.group] = (mid, who)
        message = Message(
            id=mid,
            at=self.clock.now(),
            platform=PLATFORM,
            group=self.group,
            actor=who,
            actor_name=self.names[who],
            message_id=mid,
            content=content,
            text=text,
            **kw,
        )
        self.messages[(self.group, who)] = self.messages[(self.group, "")] = message
        return self._feed(message)

    # -- commands -----------------------------------------------------------------------------------------------

    def _say(self, text: str) -> list[Output]:
        return self._message(text, ContentKind.LINK if re.search(r"https?://", text) else ContentKind.TEXT)

    def _as(self, args: list[str], rest: str) -> list[Output]:
        if not rest.strip():
            raise ValueError("usage: /as NAME")
        self.speaker = self._id(rest.strip())
        return []

    def _join(self, args: list[str], rest: str) -> list[Output]:
        inviter = code = ""
        if "via" in args:  # an invite link's code or a live code (referral attribution, issue 9)
            i = args.index("via")
            if i + 1 >= len(args):
                raise ValueError("usage: /join [NAME] [by INVITER] [via CODE]")
            code, args = args[i + 1], args[:i] + args[i + 2 :]
        if "by" in args:
            i = args.index("by")
            if i + 1 >= len(args):
                raise ValueError("usage: /join [NAME] [by INVITER]")
            inviter, args = self._id(args[i + 1]), args[:i]
        who = self._id(" ".join(args)) if args else self._need_speaker()
        if args:
            self.speaker = who
        method = JoinMethod.INVITED if inviter else JoinMethod.SELF
        return self._feed(
            Join(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                method=method,
                inviter=inviter,
                invite_code=code,
            )
        )

    def _leave(self, args: list[str], rest: str) -> list[Output]:
        who = self._id(rest.strip()) if rest.strip() else self._need_speaker()
        return self._feed(
            Leave(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                reason=LeaveReason.VOLUNTARY,
            )
        )

    def _nick(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        new = rest.strip()
        if not new:
            raise ValueError("usage: /nick NEW")
        old, self.names[who] = self.names[who], new
        self.ids[new] = who
        return self._feed(
            NicknameChange(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=new,
                old=old,
                new=new,
            )
        )

    def _image(self, args: list[str], rest: str) -> list[Output]:
        return self._message(rest.strip(), ContentKind.IMAGE, media="image.jpg")

    def _link(self, args: list[str], rest: str) -> list[Output]:
        if not rest.strip():
            raise ValueError("usage: /link URL")
        return self._message(rest.strip(), ContentKind.LINK)

    def _redpacket(self, args: list[str], rest: str) -> list[Output]:
        if args and re.fullmatch(r"\d+(\.\d{1,2})?", args[0]):
            text = rest.strip()[len(args[0]) :].strip()
            return self._message(text, ContentKind.RED_PACKET, extra={"amount": self._amount(args[0])})
        return self._message(rest.strip(), ContentKind.RED_PACKET)

    def _reply(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        last = self.last_message.get(self.group)
        if last is None or last[1] == who:
            raise ValueError("nothing to reply to: /reply answers the last message of someone else")
        return self._message(rest.strip(), reply_to=last[0])

    def _checkin(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        return self._feed(
            CheckIn(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                note=rest.strip(),
            )
        )

    def _coupon(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        if len(args) != 1:
            raise ValueError("usage: /coupon ID")
        return self._feed(
            CouponClaim(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                coupon_id=args[0],
            )
        )

    @staticmethod
    def _amount(text: str) -> int:
        """Yuan as typed (``99`` or ``99.50``) to fen."""
        if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
            raise ValueError(f"amount {text!r} is not a number of yuan such as 99 or 99.50")
        yuan, _, fen = text.partition(".")
        return int(yuan) * 100 + int((fen + "00")[:2])

    def _order(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        if not args:
            raise ValueError("usage: /order AMOUNT [PRODUCT]")
        oid = self._next_id()
        return self._feed(
            Order(
                id=oid,
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                order_id=oid,
                status=OrderStatus.PAID,
                amount=self._amount(args[0]),
                product=" ".join(args[1:]),
            )
        )

    def _pay(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        if not args:
            raise ValueError("usage: /pay AMOUNT [PURPOSE]")
        pid = self._next_id()
        return self._feed(
            Payment(
                id=pid,
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                payment_id=pid,
                amount=self._amount(args[0]),
                purpose=args[1] if len(args) > 1 else "order",
            )
        )

    def _form(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        if not args or any("=" not in a for a in args[1:]):
            raise ValueError("usage: /form NAME key=value …")
        answers = dict(a.split("=", 1) for a in args[1:])
        return self._feed(
            FormAnswer(
                id=self._next_id(),
                at=self.clock.now(),
                platform=PLATFORM,
                group=self.group,
                actor=who,
                actor_name=self.names[who],
                form=args[0],
                answers=answers,
            )
        )

    def _group(self, args: list[str], rest: str) -> list[Output]:
        if not rest.strip():
            raise ValueError("usage: /group NAME")
        self._switch_group(rest.strip())
        return [Output(at=self.clock.now(), kind="info", group=self.group, text=f"→ {self.group}")]

    def _time(self, args: list[str], rest: str) -> list[Output]:
        target = parse_when(rest, self.clock.now(), self.tz)
        if target < self.clock.now():
            raise ValueError("the clock only moves forward")
        out: list[Output] = []
        step = self.clock.now()
        while step + self.tick_every <= target:
            step += self.tick_every
            self.clock.set(step)
            if self.engine.has_tickers:
                _, actions = self.engine.tick(step)
                out.extend(self._carry_out(a) for a in actions)
            out.extend(self._schedule(step))
        self.clock.set(target)
        out.extend(self._schedule(target))
        local = target.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return [*out, Output(at=target, kind="info", text=f"⏱ {local}")]

    def _schedule(self, now: datetime) -> list[Output]:
        """What the rhythm and the activities' run-of-show decide up to ``now``, carried out."""
        if now <= self._scheduled_until:
            return []
        start, self._scheduled_until = self._scheduled_until, now
        scheduler = Scheduler({self.community.name: self.community.spec}, list(self.config.groups.values()))
        out: list[Output] = []
        for d in scheduler.decide(start, now, self.rhythm, self.rhythm.acts, self.rhythm.known):
            self.rhythm.runs[d.key] = d.detail
            for e in d.events:
                self.rhythm.log.append(e)
                self.engine.handle(e)
            if d.status == "sent":
                out.extend(self._carry_out(a) for a in d.actions)
        return out

    def _plan(self, rest: str, kind: ActivityKind) -> tuple[datetime, str, list[str]]:
        parts = rest.split()
        if len(parts) < 2:
            raise ValueError(f"usage: /{'talk' if kind is ActivityKind.GUEST_TALK else 'meetup'} +3d TITLE …")
        return parse_when(parts[0], self.clock.now(), self.tz), parts[1], parts[2:]

    def _talk(self, args: list[str], rest: str) -> list[Output]:
        starts, title, more = self._plan(rest, ActivityKind.GUEST_TALK)
        g = self.community.spec.rhythm.guest_talk
        assert g.start and g.end
        length = (
            timedelta(minutes=_minutes(g.end) - _minutes(g.start))
            if _minutes(g.end) > _minutes(g.start)
            else timedelta(minutes=90)
        )
        here = group_key(PLATFORM, self.group)
        groups = [here, *sorted(k for k in self.config.groups if k != here)]
        key = f"talk-{len(self.rhythm.acts) + 1}"
        self.rhythm.acts.append(
            Activity(
                key=key,
                community=self.community.name,
                kind=ActivityKind.GUEST_TALK,
                title=title,
                topic=title,
                guest=more[0] if more else "",
                starts=starts,
                ends=starts + length,
                groups=tuple(groups),
                created=self.clock.now(),
                hold_chatter=self.community.spec.rhythm.guest_talk.hold_chatter,
                secret=new_secret(),
            )
        )
        local = starts.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return [Output(at=self.clock.now(), kind="info", text=f"📅 {key}: {title} @ {local}")]

    def _guest(self, args: list[str], rest: str) -> list[Output]:
        who = self._need_speaker()
        if not self.rhythm.acts:
            raise ValueError("plan a talk first: /talk +1h TITLE")
        talk = self.rhythm.acts[-1]
        self.rhythm.acts[-1] = talk.with_(guest_id=who, guest=talk.guest or self.names[who])
        return [Output(at=self.clock.now(), kind="info", text=f"🎤 {self.names[who]} → {talk.key}")]

    def _meetup(self, args: list[str], rest: str) -> list[Output]:
        starts, title, more = self._plan(rest, ActivityKind.OFFLINE)
        if more and not more[0].isdigit():
            raise ValueError("usage: /meetup +7d TITLE [PLACES]")
        key = f"meetup-{len(self.rhythm.acts) + 1}"
        self.rhythm.acts.append(
            Activity(
                key=key,
                community=self.community.name,
                kind=ActivityKind.OFFLINE,
                title=title,
                starts=starts,
                ends=starts + timedelta(hours=2),
                groups=(group_key(PLATFORM, self.group),),
                capacity=int(more[0]) if more else 0,
                created=self.clock.now(),
                secret=new_secret(),
            )
        )
        local = starts.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return [Output(at=self.clock.now(), kind="info", text=f"📅 {key}: {title} @ {local}")]

    def _who(self, args: list[str], rest: str) -> list[Output]:
        state = self.engine.state.communities.get(self.community.name)
        lines = []
        for m in sorted(state.members.values(), key=lambda m: m.number) if state else []:
            lines.append(f"#{m.number} {m.name} [{m.status.value}] points={m.points} level={m.level}")
        return [Output(at=self.clock.now(), kind="info", text="\n".join(lines) or "(no members yet)")]

    def _accept(self, args: list[str], rest: str) -> list[Output]:
        if args and not args[0].isdigit():
            raise ValueError("usage: /accept [VERSION]")
        version = args[0] if args else str(self.community.spec.rules.version)
        return self._form([RULES_FORM, f"version={version}"], rest)

    def _label(self, args: list[str], rest: str) -> list[Output]:
        from shequn.policies.moderation import label_for

        if not args:
            raise ValueError("usage: /label ad|not-ad [NAME]")
        author = self.ids.get(" ".join(args[1:]), "") if len(args) > 1 else ""
        if len(args) > 1 and not author:
            raise ValueError(f"nobody called {' '.join(args[1:])!r} has spoken here")
        message = self.messages.get((self.group, author))
        if message is None:
            raise ValueError("no message to label in this group yet")
        return self._feed(label_for(message, args[0], by="sandbox operator", at=self.clock.now()))

    def _show(self, args: list[str], rest: str) -> list[Output]:
        from shequn.policies.checkin import announcement
        from shequn.policies.levels import bulletin

        state = self.engine.state.community(self.community.name)
        shows = {"bulletin": bulletin, "checkin": announcement}
        if len(args) != 1 or args[0] not in shows:
            raise ValueError("usage: /show bulletin|checkin")
        text = shows[args[0]](self.community, state, self.clock.now())
        return [Output(at=self.clock.now(), kind="show", group=self.group, text=text, detail={"show": args[0]})]

    def _help(self, args: list[str], rest: str) -> list[Output]:
        return [Output(at=self.clock.now(), kind="info", text=(__doc__ or "").split("::", 1)[1].strip("\n"))]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _as_platform(action: Action, platform: str) -> Action:
    """The action as the emulated platform would see it (for the staff-task wording)."""
    return dataclasses.replace(action, platform=platform)
