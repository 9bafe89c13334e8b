"""The operator's inbox (收件箱): open an item for what needs a person, route it to staff, keep its status and timers.

How it works:
    An item opens for a question nobody answered within ``question_minutes`` (the question detector of
    :mod:`shequn.policies.signals`; answered = someone else replies to it or @mentions its author, or the FAQ
    answers it), an @mention of a linked staff identity, a private message to the bot (a message event with
    ``extra.direct``, routed here by the engine), a complaint (:func:`shequn.policies.sentiment.is_complaint`), an
    appeal (``appeal_words`` from a member with a moderation record; the item carries the step and, as ``case_n``,
    the number of the moderation case) and an admission staff must verify (the
    admission policy's task). A member's next message of the same kind while their item is open joins that item.

    Staff are linked to chat identities and communities by the operators (``staff`` operator actions); what staff
    do is logged as operator actions too (``inbox.assign``, ``inbox.reply``, ``inbox.status``, ``inbox.note``), and
    a linked staff identity replying in the group to an item's message counts as its first response. So the inbox,
    its timers included, is rebuilt by replaying the log.

    State (scope ``inbox`` of the community): ``staff:<platform>:<id>`` → console user name; ``seq`` the last item
    number; ``i:<n>`` the item; ``open:<kind>:<member key>`` the member's open item of a kind; ``q`` the questions
    waiting for an answer; ``rr`` the round-robin position.

Things to keep in mind:
    * Pure, like every policy: the complaint detector is the pure :mod:`shequn.policies.sentiment`.
    * It runs after moderation: a message moderation stopped (an ad) opens nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from shequn.domain import ContentKind, EventKind, FormAnswer, Message, OperatorAction
from shequn.domain.records import iso
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, book
from shequn.policies.faq import FaqSettings
from shequn.policies.sentiment import is_complaint
from shequn.policies.signals import is_question

NAME = "inbox"
KINDS = ("question", "mention", "direct", "complaint", "appeal", "admission")
STATUSES = ("open", "pending", "resolved")
EXCERPT = 500  # characters of a message kept on its item
WAITING_CAP = 200  # questions waiting per community (the oldest give way)
OPS = frozenset({"staff", "inbox.assign", "inbox.reply", "inbox.status", "inbox.note"})
NOTES_KEPT = 50  # notes kept on an item


class InboxSettings(BookSettings):
    """``policies.inbox``: the times, the triggers and the routing."""

    question_minutes: float = Field(default_factory=lambda: _default("question_minutes"), gt=0)
    first_response_minutes: int = Field(default_factory=lambda: _default("first_response_minutes"), ge=1)
    resolution_hours: int = Field(default_factory=lambda: _default("resolution_hours"), ge=1)
    complaints: bool = book(NAME, "complaints")
    appeal_words: list[str] = book(NAME, "appeal_words")
    assign: Literal["round_robin", "group", "language"] = book(NAME, "assign")
    groups: dict[str, list[str]] = book(NAME, "groups")
    languages: dict[str, list[str]] = book(NAME, "languages")


def _default(key: str) -> Any:
    return load_playbook().default(NAME, key)


def language_of(text: str) -> str:
    """``zh`` when the text has Chinese characters, else ``en`` (what routing by language needs, no more)."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def staff_of(scope: Mapping[str, Any]) -> list[str]:
    """The console users linked to this community (sorted, each once)."""
    return sorted({str(v) for k, v in scope.items() if k.startswith("staff:")})


class Inbox(Policy):
    """Open inbox items for what needs a person; keep their status, assignee and timers."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = InboxSettings
    kinds = frozenset({EventKind.MESSAGE, EventKind.FORM_ANSWER, EventKind.OPERATOR_ACTION})
    ticks = True
    direct: ClassVar[bool] = True

    def decide(self, ctx: Context) -> Decision:
        e = ctx.event
        if isinstance(e, Message):
            return self._message(ctx, e)
        if isinstance(e, OperatorAction):
            return self._operator(ctx, e)
        if isinstance(e, FormAnswer):
            return self._admission(ctx, e)
        return NOTHING

    # -- messages ---------------------------------------------------------------------------------------------

    def _message(self, ctx: Context, e: Message) -> Decision:
        s = ctx.settings
        assert isinstance(s, InboxSettings)
        if e.from_bot or not e.actor or e.content is ContentKind.SYSTEM:
            return NOTHING
        scope = ctx.scope
        changes: dict[str, Any] = {}
        direct = bool(e.extra.get("direct"))
        if f"staff:{e.platform}:{e.actor}" in scope:
            if not direct:
                self._staff_spoke(ctx, e, changes)
            return Decision(state=changes) if changes else NOTHING
        gkey = "" if direct else f"{e.platform}:{e.group}"
        text = e.text or ""
        low = text.lower()
        member_key = f"{e.platform}:{e.actor}"
        if not direct:
            self._answered(ctx, e, changes)
        case = self._case(ctx, member_key) if any(w.lower() in low for w in s.appeal_words if w) else None
        staff_mentioned = [
            str(scope[f"staff:{e.platform}:{m}"]) for m in e.mentions if f"staff:{e.platform}:{m}" in scope
        ]
        kind: str | None = None
        if case is not None:
            kind = "appeal"
        elif direct:
            kind = "direct"
        elif staff_mentioned:
            kind = "mention"
        elif s.complaints and text and is_complaint(text):
            kind = "complaint"
        elif text and is_question(text) and not _faq_answers(ctx, text):
            waiting = list(changes.get("q", scope.get("q")) or [])
            due = ctx.now + timedelta(minutes=s.question_minutes)
            entry = [iso(due), gkey, e.actor, e.message_id or e.id, e.id, text[:EXCERPT], iso(ctx.now), e.actor_name]
            changes["q"] = [*waiting, entry][-WAITING_CAP:]
        if kind is not None:
            item = {
                "platform": e.platform,
                "group": "" if direct else e.group,
                "direct": direct,
                "actor": e.actor,
                "name": e.actor_name or (ctx.member.name if ctx.member else ""),
                "message_id": e.message_id or e.id,
                "event": e.id,
                "text": text[:EXCERPT],
                "lang": language_of(text),
            }
            if case is not None:
                item["case"] = case
                numbers = (ctx.community.policy.get("moderation") or {}).get(f"cm:{case[2]}") if case[2] else None
                if numbers:
                    item["case_n"] = numbers[-1]  # the numbered moderation case the appeal is about
            self._open(ctx, s, kind, item, changes, assignee=staff_mentioned[0] if staff_mentioned else "")
        return Decision(state=changes) if changes else NOTHING

    def _answered(self, ctx: Context, e: Message, changes: dict[str, Any]) -> None:
        """Take the questions this message answers off the waiting list."""
        waiting = ctx.scope.get("q")
        if not waiting:
            return
        gkey = f"{e.platform}:{e.group}"
        keep = [
            q for q in waiting if not (q[1] == gkey and q[2] != e.actor and (e.reply_to == q[3] or q[2] in e.mentions))
        ]
        if len(keep) != len(waiting):
            changes["q"] = keep or None

    def _staff_spoke(self, ctx: Context, e: Message, changes: dict[str, Any]) -> None:
        """A linked staff identity answering in the group: the first response of the items it replies to."""
        self._answered(ctx, e, changes)
        if not e.reply_to and not e.mentions:
            return
        user = str(ctx.scope[f"staff:{e.platform}:{e.actor}"])
        actors = {*e.mentions, *self._authors(ctx, e)}
        for kind in KINDS:
            for actor in actors:
                n = ctx.scope.get(f"open:{kind}:{e.platform}:{actor}")
                if n is None:
                    continue
                item = ctx.scope.get(f"i:{n}")
                if item and item["group"] == e.group and (e.reply_to == item["message_id"] or actor in e.mentions):
                    changes[f"i:{n}"] = _responded(item, user, iso(ctx.now))

    @staticmethod
    def _authors(ctx: Context, e: Message) -> list[str]:
        """Authors of the open items whose message ``e`` replies to (found through the item's message id)."""
        if not e.reply_to:
            return []
        seq = int(ctx.scope.get("seq") or 0)
        out = []
        for n in range(seq, max(seq - 200, 0), -1):  # recent items only: a reply to an old message is rare
            item = ctx.scope.get(f"i:{n}")
            if item and item["status"] != "resolved" and item["message_id"] == e.reply_to:
                out.append(str(item["actor"]))
        return out

    @staticmethod
    def _case(ctx: Context, member_key: str) -> list[Any] | None:
        """The member's latest moderation step (what an appeal is about), or None when there is none."""
        record = (ctx.community.policy.get("moderation") or {}).get(f"o:{member_key}")
        if record and record.get("log"):
            return list(record["log"][-1])
        listed = ctx.shared("blacklist").get(member_key)
        if listed:
            return [listed.get("at", ""), "blacklist", listed.get("message", ""), "remove", listed.get("why", "")]
        return None

    # -- admissions -------------------------------------------------------------------------------------------

    def _admission(self, ctx: Context, e: FormAnswer) -> Decision:
        s = ctx.settings
        assert isinstance(s, InboxSettings)
        # The applicant's proof (their form) or staff's verification of it (the ``verify`` form names the member).
        who = str(e.answers.get("member", "")) if e.form == "verify" else e.actor
        member_key = f"{e.platform}:{who}"
        task = (ctx.community.policy.get("admission") or {}).get(f"task:{member_key}")
        if not task:
            return NOTHING
        changes: dict[str, Any] = {}
        n = ctx.scope.get(f"open:admission:{member_key}")
        if task.get("ok"):
            if n is not None and (item := ctx.scope.get(f"i:{n}")):
                changes[f"i:{n}"] = {**item, "status": "resolved", "resolved_at": iso(ctx.now), "resolved_by": ""}
                changes[f"open:admission:{member_key}"] = None
        elif e.form != "verify" and task.get("at") == iso(ctx.now) and n is None:
            item = {
                "platform": e.platform,
                "group": e.group,
                "direct": False,
                "actor": e.actor,
                "name": e.actor_name or (ctx.member.name if ctx.member else ""),
                "message_id": "",
                "event": e.id,
                "text": str(task.get("proof", ""))[:EXCERPT],
                "lang": ctx.locale.split("-")[0],
            }
            self._open(ctx, s, "admission", item, changes)
        return Decision(state=changes) if changes else NOTHING

    # -- ticks: questions past their time -----------------------------------------------------------------

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, InboxSettings)
        waiting = ctx.scope.get("q")
        if not waiting:
            return NOTHING
        now = iso(ctx.now)
        due = [q for q in waiting if q[0] <= now]
        if not due:
            return NOTHING
        changes: dict[str, Any] = {"q": [q for q in waiting if q[0] > now] or None}
        for q in due:
            _, gkey, actor, mid, eid, text, at, name = q
            platform, _, group = gkey.partition(":")
            item = {
                "platform": platform,
                "group": group,
                "direct": False,
                "actor": actor,
                "name": name,
                "message_id": mid,
                "event": eid,
                "text": text,
                "lang": language_of(text),
            }
            self._open(ctx, s, "question", item, changes, at=at)
        return Decision(state=changes)

    # -- items ------------------------------------------------------------------------------------------------

    def _open(
        self,
        ctx: Context,
        s: InboxSettings,
        kind: str,
        item: dict[str, Any],
        changes: dict[str, Any],
        *,
        assignee: str = "",
        at: str = "",
    ) -> None:
        """Open an item (or add the message to the member's open item of the same kind)."""
        view = _Overlay(ctx.scope, changes)
        member_key = f"{item['platform']}:{item['actor']}"
        open_key = f"open:{kind}:{member_key}"
        n = view.get(open_key)
        if n is not None and (old := view.get(f"i:{n}")) and old["status"] != "resolved":
            changes[f"i:{n}"] = {
                **old,
                "status": "open",
                "follow": int(old.get("follow", 0)) + 1,
                "last": item["text"],
                "last_at": iso(ctx.now),
                "last_message_id": item["message_id"],
            }
            return
        n = int(view.get("seq") or 0) + 1
        changes["seq"] = n
        if not assignee:
            assignee = self._route(view, s, item, changes)
        changes[f"i:{n}"] = {
            "n": n,
            "kind": kind,
            "status": "open",
            "at": at or iso(ctx.now),
            "opened_at": iso(ctx.now),
            **item,
            "assignee": assignee,
            "first_response_at": "",
            "responder": "",
            "resolved_at": "",
            "resolved_by": "",
            "follow": 0,
        }
        changes[open_key] = n

    @staticmethod
    def _route(view: Mapping[str, Any], s: InboxSettings, item: Mapping[str, Any], changes: dict[str, Any]) -> str:
        """The staff member an item goes to by the community's rule (empty: nobody is linked yet)."""
        staff = staff_of(view)
        if not staff:
            return ""
        pool = staff
        if s.assign == "group":
            pool = [u for u in s.groups.get(str(item["group"]), []) if u in staff] or staff
        elif s.assign == "language":
            lang = str(item.get("lang", ""))
            pool = [u for u in staff if any(lang.startswith(x[:2]) for x in s.languages.get(u, []))] or staff
        turn = int(view.get("rr") or 0)
        changes["rr"] = turn + 1
        return pool[turn % len(pool)]

    # -- what operators do ------------------------------------------------------------------------------------

    def _operator(self, ctx: Context, e: OperatorAction) -> Decision:
        if e.op not in OPS:
            return NOTHING
        if e.op == "staff":
            key = f"staff:{e.platform}:{e.target}"
            return Decision(state={key: e.value or None})
        n = e.target
        item = ctx.scope.get(f"i:{n}")
        if item is None:
            return NOTHING
        now = iso(ctx.now)
        if e.op == "inbox.assign":
            new = {**item, "assignee": e.value}
        elif e.op == "inbox.reply":
            new = _responded(item, e.by, now)
        elif e.op == "inbox.note":
            new = {**item, "notes": [*item.get("notes", []), [now, e.by, e.value]][-NOTES_KEPT:]}
        else:
            if e.value not in STATUSES:
                return NOTHING
            new = {**item, "status": e.value}
            if e.value == "resolved":
                new.update(resolved_at=now, resolved_by=e.by)
            else:
                new.update(resolved_at="", resolved_by="")
        changes: dict[str, Any] = {f"i:{n}": new}
        open_key = f"open:{item['kind']}:{item['platform']}:{item['actor']}"
        if new["status"] == "resolved" and ctx.scope.get(open_key) == item["n"]:
            changes[open_key] = None
        elif new["status"] != "resolved" and ctx.scope.get(open_key) is None:
            changes[open_key] = item["n"]
        return Decision(state=changes)

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, InboxSettings)
        problems: list[tuple[str, str]] = []
        groups = {g.id for g in spec.groups}
        for gid in settings.groups:
            if gid not in groups:
                problems.append((f"groups.{gid}", f"no group {gid!r} in this community's groups"))
        return problems


def _responded(item: Mapping[str, Any], user: str, now: str) -> dict[str, Any]:
    """The item after a staff reply: the first one sets the first-response time; an open item becomes pending."""
    new = dict(item)
    if not new.get("first_response_at"):
        new.update(first_response_at=now, responder=user)
    if new["status"] == "open":
        new["status"] = "pending"
    return new


def _faq_answers(ctx: Context, text: str) -> bool:
    """Whether the community's FAQ answers this question (then nobody is waiting for a person)."""
    faq = ctx.config.settings.get("faq")
    return isinstance(faq, FaqSettings) and faq.enabled and faq.match(text) is not None


class _Overlay(Mapping[str, Any]):
    """The scope as it will be once ``changes`` are applied (a removed name reads as absent)."""

    def __init__(self, base: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
        self.base, self.changes = base, changes

    def __getitem__(self, k: str) -> Any:
        if k in self.changes:
            if self.changes[k] is None:
                raise KeyError(k)
            return self.changes[k]
        return self.base[k]

    def __iter__(self) -> Any:
        yield from (k for k in self.base if k not in self.changes)
        yield from (k for k, v in self.changes.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
