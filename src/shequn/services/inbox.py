"""The operator's inbox (收件箱) as the console, the API and the command line use it: staff, items, replies, times.

How it works:
    Items are the ``inbox`` policy's state, opened live by the engine (:mod:`shequn.policies.inbox`). What staff do
    is logged as :class:`~shequn.domain.OperatorAction` events (``inbox.assign``, ``inbox.reply``, ``inbox.status``,
    ``staff``) through the console's write path, so a replay rebuilds the inbox with its timers. A reply itself is an
    action in the outbox: a reply to the member's message in the group, or a private message through the bot; where
    the platform forbids the bot that, :func:`shequn.connectors.route` makes it a staff task with the text ready to
    paste, in the same transaction. Every change is audited with who did it.

    Staff are console users linked to chat identities per platform and to the communities they serve (tables
    ``staff_identity`` and ``staff_community``); each link is also told to the engine (a ``staff`` operator action
    per served community), which is how an @mention of a staff identity opens an item and their replies in a group
    count as responses.

    Moderation cases are the ``moderation`` policy's numbered ``case:<n>`` state; here they get their status
    (``appealed`` when an appeal item is about them), the message as the log has it, notes (``case.note``) and the
    reversal (a ``not_ad`` label, as granting an appeal does, then the appeals resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import yaml

from shequn.analytics.inbox import by_staff, load_of, times_of
from shequn.domain import (
    Action,
    ContentKind,
    DirectMessage,
    Invite,
    Label,
    OperatorAction,
    Reply,
    UserError,
    stable_id,
)
from shequn.domain.logrow import to_ms
from shequn.domain.records import parse_iso
from shequn.engine import build_community_config
from shequn.i18n import t
from shequn.policies import CommunityConfig
from shequn.policies.faq import FaqSettings
from shequn.policies.inbox import KINDS, STATUSES, InboxSettings
from shequn.services.console import NotFoundError, Operations
from shequn.store import StaffRecord

Status = Literal["open", "pending", "resolved"]
CASE_STATUSES = ("standing", "appealed", "reversed")


class CaseNotFoundError(NotFoundError):
    """No moderation case of that number (said in the user's language; a 404 on the API, exit 2 on the CLI)."""

    def __init__(self, ref: str) -> None:
        UserError.__init__(self, t("inbox.err.no_case", ref=ref), exit_code=2)
        self.what, self.name = "case", ref


class Inbox:
    """The inbox of one workspace, on top of the console's operations (its write lock and group commit)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.app = ops.app
        self.store = ops.store
        self.ws = ops.ws
        self._configs: dict[str, tuple[str, CommunityConfig]] = {}  # community → (spec hash, its configuration)

    # -- staff ------------------------------------------------------------------------------------------------

    def staff(self) -> list[StaffRecord]:
        with self.store.transaction() as conn:
            return self.store.inbox.staff(conn, self.ws)

    def _user_id(self, conn: Any, username: str) -> int:
        user = self.store.auth.user(conn, self.ws, username=username)
        if user is None:
            raise NotFoundError("user", username)
        return user.id

    def _staff_of(self, username: str) -> StaffRecord:
        found = next((s for s in self.staff() if s.username == username), None)
        if found is None:
            raise NotFoundError("user", username)
        return found

    def link(self, username: str, platform: str, platform_id: str, *, actor: str) -> None:
        """Link a chat identity (``platform``, its id there) to a console user."""
        platform, platform_id = platform.strip(), platform_id.strip()
        if not platform or not platform_id:
            raise UserError(t("inbox.err.identity"), exit_code=2)
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            uid = self._user_id(conn, username)
            previous = self.store.inbox.link_identity(conn, self.ws, uid, platform, platform_id, now_ms=now)
            self._audit(conn, actor, "staff.link", username, {"platform": platform, "platform_id": platform_id})
        if previous == uid:
            return
        me = self._staff_of(username)
        self._tell([(c, platform, platform_id, username) for c in me.communities], actor)

    def unlink(self, username: str, platform: str, platform_id: str, *, actor: str) -> None:
        me = self._staff_of(username)
        if (platform, platform_id) not in me.identities:
            raise NotFoundError("identity", f"{platform}:{platform_id}")
        with self.store.transaction() as conn:
            self.store.inbox.unlink_identity(conn, self.ws, platform, platform_id)
            self._audit(conn, actor, "staff.unlink", username, {"platform": platform, "platform_id": platform_id})
        self._tell([(c, platform, platform_id, "") for c in me.communities], actor)

    def serve(self, username: str, community: str, *, actor: str, stop: bool = False) -> None:
        """Make a user serve a community (``stop``: no longer): items there are routed to them."""
        record = self.ops.community(community)
        with self.store.transaction() as conn:
            uid = self._user_id(conn, username)
            now = self.app.now_ms()
            if stop:
                changed = self.store.inbox.unserve(conn, uid, record.id)
            else:
                changed = self.store.inbox.serve(conn, uid, record.id, now_ms=now)
            self._audit(conn, actor, "staff.unserve" if stop else "staff.serve", username, {"community": community})
        if changed:
            me = self._staff_of(username)
            self._tell([(community, p, i, "" if stop else username) for p, i in me.identities], actor)

    def _tell(self, links: Sequence[tuple[str, str, str, str]], actor: str) -> None:
        """Log a ``staff`` operator action per (community, platform, identity, user or "" to unlink)."""
        if not links:
            return
        at = self.app.clock.now()
        stamp = str(self.app.now_ms())
        self.ops.commit.ingest(
            [
                OperatorAction(
                    id=stable_id("staff", c, p, i, u, stamp),
                    at=at,
                    platform=p,
                    community=c,
                    op="staff",
                    target=i,
                    value=u,
                    by=actor,
                )
                for c, p, i, u in links
            ]
        )

    # -- items ------------------------------------------------------------------------------------------------

    def _config(self, community: str) -> CommunityConfig:
        record = self.ops.community(community)
        cached = self._configs.get(community)
        if cached is None or cached[0] != record.spec_hash:
            cached = self._configs[community] = (record.spec_hash, build_community_config(record.spec))
        return cached[1]

    def settings(self, community: str) -> InboxSettings:
        s = self._config(community).settings.get("inbox")
        return s if isinstance(s, InboxSettings) else InboxSettings()

    def items(
        self,
        *,
        community: str | None = None,
        status: str | None = None,
        assignee: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Items, newest first, each with ``waiting`` (minutes since it was asked, until resolved) and ``overdue``."""
        if status is not None and status not in (*STATUSES, "active"):
            raise UserError(t("inbox.err.status", status=status), exit_code=2)
        if kind is not None and kind not in KINDS:
            raise UserError(t("inbox.err.kind", kind=kind, kinds=", ".join(KINDS)), exit_code=2)
        if community is not None:
            self.ops.community(community)
        with self.store.transaction() as conn:
            items = self.store.inbox.items(conn, self.ws, community=community)
        now = self.app.clock.now()
        out = []
        for it in items:
            if status == "active" and it["status"] == "resolved":
                continue
            if status not in (None, "active") and it["status"] != status:
                continue
            if assignee is not None and it.get("assignee", "") != assignee:
                continue
            if kind is not None and it["kind"] != kind:
                continue
            out.append(self._timed(it, now))
        return out

    def _timed(self, it: dict[str, Any], now: datetime) -> dict[str, Any]:
        s = self.settings(it["community"])
        end = parse_iso(it["resolved_at"]) if it.get("resolved_at") else now
        waiting = round((end - parse_iso(it["at"])).total_seconds() / 60, 1)
        if it.get("resolved_at"):
            overdue = waiting > s.resolution_hours * 60
        elif not it.get("first_response_at"):
            overdue = waiting > s.first_response_minutes
        else:
            overdue = waiting > s.resolution_hours * 60
        return {**it, "waiting_minutes": waiting, "overdue": overdue}

    def item(self, community: str, n: int, *, around: int = 5) -> dict[str, Any]:
        """One item with the messages around it, the member's card and, for an appeal, its moderation case."""
        record = self.ops.community(community)
        with self.store.transaction() as conn:
            it = self.store.inbox.item(conn, self.ws, community, n)
            if it is None:
                raise NotFoundError("item", f"{community}#{n}")
            it["messages"] = self.store.inbox.around(
                conn, self.ws, it, to_ms(parse_iso(it["at"])), before=around, after=around
            )
            key = f"{it['platform']}:{it['actor']}"
            member = self.store.console.membership(conn, self.ws, record.id, key)
            violations = self.store.console.violations(conn, record.id, key) or {}
            orders = self.store.commerce.orders(conn, self.ws, community_id=record.id, member=key, limit=10)
        card: dict[str, Any] = {"key": key, "name": it.get("name", "")}
        if member is not None:
            card.update(
                name=member.name or card["name"], number=member.number, status=member.status, level=member.level,
                points=member.points, tags=list(member.tags), roles=list(member.roles), messages=member.messages,
                groups=list(member.groups), person_id=member.person_id, joined_ms=member.joined_ms,
            )  # fmt: skip
            with self.store.transaction() as conn:
                others = self.store.console.memberships_of(conn, self.ws, member.person_id) if member.person_id else []
            card["memberships"] = [{"community": m.community, "level": m.level, "points": m.points} for m in others]
        card["offences"] = [
            {"at": a, "violation": v, "message_id": mid, "step": step, "why": why}
            for a, v, mid, step, why in (violations.get("log") or [])[::-1]
        ]
        card["orders"] = [
            {"order_id": o.order_id, "status": o.status, "amount": o.amount, "currency": o.currency, "product": o.sku}
            for o in orders
        ]
        it["member"] = card
        group = next((g.name for g in self.ops.community_groups(record) if g.platform_id == it["group"]), "")
        it["group_name"] = group
        it["canned"] = self.canned(community, name=card["name"], group=group)
        return self._timed(it, self.app.clock.now())

    def canned(self, community: str, *, name: str = "", group: str = "") -> list[dict[str, str]]:
        """The community's FAQ answers to answer with (the ``faq`` policy's entries in the community's language),
        filled in for the member ``name`` in ``group`` as the FAQ policy fills them."""
        cfg = self._config(community)
        faq = cfg.settings.get("faq")
        if not isinstance(faq, FaqSettings):
            return []
        spec = cfg.spec
        values = {
            "name": name,
            "group": group or spec.name,
            "community": spec.name,
            "rules": "\n".join(v for v in spec.rules.sections.values() if v),
        }
        return [
            {"keys": ", ".join(e.keys) or e.pattern[:40], "answer": e.text(cfg.locale).format(**values)}
            for e in faq.entries
        ]

    # -- what staff do ----------------------------------------------------------------------------------------

    def _get(self, community: str, n: int) -> dict[str, Any]:
        self.ops.community(community)
        with self.store.transaction() as conn:
            it = self.store.inbox.item(conn, self.ws, community, n)
        if it is None:
            raise NotFoundError("item", f"{community}#{n}")
        return it

    def _op(self, it: dict[str, Any], op: str, value: str, actor: str, key: str) -> None:
        event = OperatorAction(
            id=stable_id("inbox", it["community"], str(it["n"]), op, value, key), at=self.app.clock.now(),
            platform="shequn", community=it["community"], op=op, target=str(it["n"]), value=value, by=actor,
        )  # fmt: skip
        self.ops.commit.ingest([event])

    def reply(
        self, community: str, n: int, text: str, *, actor: str, private: bool = False, key: str = ""
    ) -> dict[str, int]:
        """Answer an item through the bot: in the group as a reply to the member's message, or privately (always
        privately for a private message). Returns ``queued`` (outbox) and ``staff_tasks`` (the platform forbids it)."""
        body = text.strip()
        if not 1 <= len(body) <= 4000:
            raise UserError(t("inbox.err.text"), exit_code=2)
        it = self._get(community, n)
        key = key or str(self.app.now_ms())
        private = private or bool(it.get("direct")) or not it.get("group")
        common: dict[str, Any] = dict(
            key=f"inbox:{community}:{n}:{key}", at=self.app.clock.now(), community=community,
            platform=it["platform"], target=it["actor"], policy="inbox",
            extra={"by": actor, "item": n, "member_name": it.get("name", "")},
        )  # fmt: skip
        action: Action
        if private:
            action = DirectMessage(text=body, **common)
        else:
            mid = it.get("last_message_id") or it["message_id"]
            action = Reply(group=it["group"], message_id=mid, text=body, **common)
        with self.ops.write(), self.store.transaction() as conn:
            report = self.app.enqueue_actions(conn, [action])
            self._audit(conn, actor, "inbox.reply", f"{community}#{n}", {"private": private, "chars": len(body)})
        self._op(it, "inbox.reply", "private" if private else "group", actor, key)
        return {"queued": report.actions, "staff_tasks": report.staff_tasks}

    def assign(self, community: str, n: int, username: str, *, actor: str) -> None:
        it = self._get(community, n)
        if username:
            with self.store.transaction() as conn:
                self._user_id(conn, username)
        with self.store.transaction() as conn:
            self._audit(conn, actor, "inbox.assign", f"{community}#{n}", {"to": username})
        self._op(it, "inbox.assign", username, actor, str(self.app.now_ms()))

    def set_status(self, community: str, n: int, status: str, *, actor: str) -> None:
        if status not in STATUSES:
            raise UserError(t("inbox.err.status", status=status), exit_code=2)
        it = self._get(community, n)
        with self.store.transaction() as conn:
            self._audit(conn, actor, f"inbox.{status}", f"{community}#{n}", {})
        self._op(it, "inbox.status", status, actor, str(self.app.now_ms()))

    def reverse(self, community: str, n: int, *, actor: str) -> dict[str, int]:
        """Grant an appeal: the moderation step is undone as ``shequn moderation label … not-ad`` does (a ``label``
        event: the offence withdrawn, the case reversed, the blacklisting lifted, the classifier taught, the member
        told), a member who was removed is invited back (a staff task where the bot may not), and the item is
        resolved."""
        it = self._get(community, n)
        case = it.get("case")
        if it["kind"] != "appeal" or not case:
            raise UserError(t("inbox.err.not_appeal", ref=f"{community}#{n}"), exit_code=2)
        if it.get("case_n"):
            if self.case(community, int(it["case_n"]))["status"] != "reversed":
                return self.reverse_case(community, int(it["case_n"]), actor=actor)
            if it["status"] != "resolved":  # reversed already (by its number, or by a label): only the item is left
                self._op(it, "inbox.status", "resolved", actor, f"reverse:{case[2]}")
            return {"actions": 0, "staff_tasks": 0, "invited": 0}
        at, _, mid, _, _ = case
        out = self._undo(community, it["platform"], it["actor"], at, mid, f"{community}#{n}", actor=actor)
        self._op(it, "inbox.status", "resolved", actor, f"reverse:{mid}")
        return out

    def _undo(
        self, community: str, platform: str, who: str, at: str, mid: str, ref: str, *, actor: str
    ) -> dict[str, int]:
        """Undo the moderation step of message ``mid`` (said by ``who`` at ``at``): a ``not_ad`` label, and an
        invitation back for a member who was removed."""
        with self.store.transaction() as conn:
            said = self.store.inbox.said_at(conn, self.ws, platform, who, to_ms(parse_iso(at)))
        message = next((m for m in said if mid in (m.get("message_id"), m.get("id"))), None)
        if message is None:
            raise UserError(t("inbox.err.no_case_message", ref=ref), exit_code=2)
        now = self.app.clock.now()
        label = Label(
            id=stable_id("appeal", ref, mid), at=now, platform=platform,
            group=str(message.get("group", "")), message_id=mid, label="not_ad", text=str(message.get("text", "")),
            author=who, content=ContentKind(message.get("content", "text")), by=actor,
        )  # fmt: skip
        report = self.ops.commit.ingest([label])
        out = {"actions": report.actions, "staff_tasks": report.staff_tasks, "invited": 0}
        record = self.ops.community(community)
        with self.store.transaction() as conn:
            member = self.store.console.membership(conn, self.ws, record.id, f"{platform}:{who}")
        if member is not None and member.status in ("removed", "banned") and message.get("group"):
            invite = Invite(
                key=f"inbox:{ref}:restore", at=now, community=community, platform=platform,
                group=str(message["group"]), target=who, policy="inbox",
                text=t("inbox.restored", record.spec.locale), extra={"by": actor, "member_name": member.name},
            )  # fmt: skip
            with self.ops.write(), self.store.transaction() as conn:
                sent = self.app.enqueue_actions(conn, [invite])
            out["invited"] = sent.actions + sent.staff_tasks
        with self.store.transaction() as conn:
            self._audit(conn, actor, "inbox.reverse", ref, {"message": mid, **out})
        return out

    # -- moderation cases -------------------------------------------------------------------------------------

    def cases(self, *, community: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Moderation cases, newest first, each with its ``status`` (standing, appealed, reversed) and the inbox
        items appealing it (``appeals``: item numbers)."""
        if status is not None and status not in CASE_STATUSES:
            raise UserError(t("inbox.err.case_status", status=status, statuses=", ".join(CASE_STATUSES)), exit_code=2)
        if community is not None:
            self.ops.community(community)
        with self.store.transaction() as conn:
            cases = self.store.inbox.cases(conn, self.ws, community=community)
        appeals = self._appeals(community)
        out = [self._cased(k, appeals) for k in cases]
        return [k for k in out if status is None or k["status"] == status]

    def _appeals(self, community: str | None) -> dict[tuple[str, int], list[tuple[int, bool]]]:
        """(community, case number) → the appeal items about it, oldest first, as (item number, still open)."""
        with self.store.transaction() as conn:
            items = self.store.inbox.items(conn, self.ws, community=community)
        out: dict[tuple[str, int], list[tuple[int, bool]]] = {}
        for it in reversed(items):
            if it["kind"] == "appeal" and it.get("case_n"):
                entry = (int(it["n"]), it["status"] != "resolved")
                out.setdefault((it["community"], int(it["case_n"])), []).append(entry)
        return out

    @staticmethod
    def _cased(case: dict[str, Any], appeals: dict[tuple[str, int], list[tuple[int, bool]]]) -> dict[str, Any]:
        """The case with its status: reversed, appealed (an appeal about it is still open; one resolved without
        reversing it was turned down) or standing."""
        linked = appeals.get((case["community"], int(case["n"])), [])
        status = case["status"]
        if status != "reversed":
            status = "appealed" if any(active for _, active in linked) else "standing"
        return {**case, "status": status, "appeals": [n for n, _ in linked]}

    def case(self, community: str, n: int) -> dict[str, Any]:
        """One case with its evidence: the message as the log has it (text, content, media), the rule and score."""
        self.ops.community(community)
        with self.store.transaction() as conn:
            found = self.store.inbox.cases(conn, self.ws, community=community, n=n)
        if not found:
            raise CaseNotFoundError(f"{community}#{n}")
        case = self._cased(found[0], self._appeals(community))
        platform, _, who = case["member"].partition(":")
        with self.store.transaction() as conn:
            said = self.store.inbox.said_at(conn, self.ws, platform, who, to_ms(parse_iso(case["at"])))
        message = next((m for m in said if case["message_id"] in (m.get("message_id"), m.get("id"))), None)
        case["message"] = (
            {k: message.get(k, "") for k in ("text", "content", "media", "group", "at")} if message else None
        )
        return case

    def case_note(self, community: str, n: int, text: str, *, actor: str) -> None:
        """A note on a case (what the member said, what was checked), kept with who wrote it and when."""
        body = text.strip()
        if not 1 <= len(body) <= 2000:
            raise UserError(t("inbox.err.note"), exit_code=2)
        self.case(community, n)
        with self.store.transaction() as conn:
            self._audit(conn, actor, "case.note", f"{community}#{n}", {"chars": len(body)})
        event = OperatorAction(
            id=stable_id("case", community, str(n), "note", body, str(self.app.now_ms())), at=self.app.clock.now(),
            platform="shequn", community=community, op="case.note", target=str(n), value=body, by=actor,
        )  # fmt: skip
        self.ops.commit.ingest([event])

    def reverse_case(self, community: str, n: int, *, actor: str) -> dict[str, int]:
        """Reverse a case: its step undone as granting an appeal does (:meth:`reverse`), and the appeals about it
        resolved."""
        case = self.case(community, n)
        if case["status"] == "reversed":
            raise UserError(t("inbox.err.case_reversed", ref=f"{community}#{n}"), exit_code=2)
        platform, _, who = case["member"].partition(":")
        ref = f"{community}#{n}"
        out = self._undo(community, platform, who, case["at"], case["message_id"], ref, actor=actor)
        for item in case["appeals"]:
            it = self._get(community, item)
            if it["status"] != "resolved":
                self._op(it, "inbox.status", "resolved", actor, f"reverse:{case['message_id']}")
        return out

    def note(self, community: str, n: int, text: str, *, actor: str) -> None:
        """A note on an item (what was found, what was promised), kept with who wrote it and when."""
        body = text.strip()
        if not 1 <= len(body) <= 2000:
            raise UserError(t("inbox.err.note"), exit_code=2)
        it = self._get(community, n)
        with self.store.transaction() as conn:
            self._audit(conn, actor, "inbox.note", f"{community}#{n}", {"chars": len(body)})
        self._op(it, "inbox.note", body, actor, str(self.app.now_ms()))

    def add_to_faq(self, community: str, n: int, answer: str, keys: Sequence[str], *, actor: str) -> None:
        """Add a question's answer to the community's FAQ (the ``faq`` policy's entries in its spec)."""
        words = [k.strip() for k in keys if k.strip()]
        if not words or not answer.strip():
            raise UserError(t("inbox.err.faq"), exit_code=2)
        self._get(community, n)
        record = self.ops.community(community)
        data = record.spec.model_dump(mode="json", exclude_defaults=True)
        faq = data.setdefault("policies", {}).setdefault("faq", {})
        entries = faq.get("entries")
        if entries is None:
            entries = [e.model_dump(mode="json", exclude_defaults=True) for e in FaqSettings().entries]
        faq["entries"] = [*entries, {"keys": words, "answer": answer.strip()}]
        self.ops.put_spec(community, yaml.safe_dump(data, allow_unicode=True, sort_keys=False), actor=actor)

    # -- measured ---------------------------------------------------------------------------------------------

    def times(self, *, community: str | None = None) -> dict[str, Any]:
        """First-response and resolution times per community and per staff member, and the open load."""
        items = self.items(community=community)
        by_c: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_c.setdefault(it["community"], []).append(it)
        active = [i for i in items if i["status"] != "resolved"]
        oldest = max(active, key=lambda i: i["waiting_minutes"], default=None)
        load = load_of(items)
        return {
            "open": load.open,
            "pending": load.pending,
            "overdue": sum(1 for i in active if i["overdue"]),
            "oldest": oldest,
            "all": times_of(items).as_dict(),
            "communities": {c: times_of(v).as_dict() for c, v in sorted(by_c.items())},
            "staff": {s: f.as_dict() for s, f in by_staff(items).items()},
        }

    def _audit(self, conn: Any, actor: str, verb: str, obj: str, detail: dict[str, Any]) -> None:
        self.store.audit.record(
            conn, self.ws, actor=actor, verb=verb, object_type="inbox", object_id=obj, detail=detail,
            now_ms=self.app.now_ms(),
        )  # fmt: skip
