"""The group lifecycle as operations (群的生命周期): split, merge, archive, dissolve, hand over, temporary groups.

Owns: what ``shequn group …``, the API's ``/groups/{key}/…`` and the console's buttons do. Each operation checks
its input first (an unknown group, a group of another community, a split under the cap, a merge into itself: a
:class:`~shequn.domain.UserError` in the user's language, exit 2, nothing written), then in ONE transaction: the
actions go to the outbox (a connector carries them out, or a person as a staff task where the platform forbids the
bot: :func:`shequn.connectors.staff_reason`), the group's new state goes into the log as an ``operator_action``
event (the engine applies it to the ``lifecycle`` state, so a replay rebuilds it; :mod:`shequn.policies.lifecycle`),
and the audit log records who did what.

How a split finds its new group:
    * ``into`` names a group that exists (created by hand): it is bound, the segment invited, both announced.
    * Otherwise a ``create_group`` action: where the connector can create groups (Matrix) the bot creates it with
      the segment invited and the announcement posted; :meth:`Lifecycle.adopt` binds such groups once created
      (``shequn run`` calls it on every pass). Elsewhere a staff task says what to create and which command
      attaches it (``shequn group split … --into ID``).

May import: ``app`` and everything inside (never ``cli`` or ``web``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select

from shequn.analytics.diagnosis import shell_word
from shequn.connectors import staff_reason
from shequn.domain import (
    Action,
    CloseGroup,
    CreateGroup,
    Invite,
    Mute,
    OpenStaffTask,
    OperatorAction,
    Post,
    UserError,
    split_key,
    stable_id,
)
from shequn.domain.records import iso
from shequn.domain.state import CommunityState, MemberState
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.policies.common import text_of
from shequn.policies.lifecycle import (
    ACTIVE,
    ARCHIVED,
    DISSOLVED,
    LIFECYCLE,
    LifecycleSettings,
    group_state,
    local_end,
    split_segment,
)
from shequn.store import CommunityRecord
from shequn.store.groups import GroupRecord
from shequn.store.schema import ACTION

if TYPE_CHECKING:
    from shequn.app import App


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one lifecycle operation did: the group, the members it concerns, what went out and to whom."""

    verb: str
    community: str
    group: str  # platform:id
    members: int = 0  # invited (split, merge), or in the group (archive, dissolve)
    queued: int = 0  # actions for a connector
    staff_tasks: int = 0
    other: str = ""  # the new group (split), the group merged into (merge)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "community": self.community,
            "group": self.group,
            "members": self.members,
            "queued": self.queued,
            "staff_tasks": self.staff_tasks,
            "other": self.other,
            **self.detail,
        }


class Lifecycle:
    """The lifecycle operations of one workspace (``actor`` is who is recorded as doing them). With ``dry_run``
    every check is made and the outcome counted (the console's confirmation shows it), nothing is written."""

    def __init__(self, app: App, *, actor: str = "cli", dry_run: bool = False) -> None:
        self.app = app
        self.actor = actor
        self.dry_run = dry_run

    # -- finding things -----------------------------------------------------------------------------------------

    def _community(self, name: str) -> CommunityRecord:
        with self.app.store.transaction() as conn:
            record = self.app.store.communities.get(conn, self.app.ws.id, name=name)
        if record is None:
            known = ", ".join(c.name for c in self.app.communities()) or "-"
            raise UserError(t("lifecycle.no_community", None, community=name, known=known), exit_code=2)
        return record

    def _group(self, community: CommunityRecord, ref: str) -> GroupRecord:
        """A group of ``community`` by ``platform:id``, bare id or name; errors name what is wrong."""
        with self.app.store.transaction() as conn:
            groups = self.app.store.groups.list(conn, self.app.ws.id)
        found = [g for g in groups if ref in (g.key, g.platform_id)] or [g for g in groups if g.name and g.name == ref]
        if not found:
            known = ", ".join(g.key for g in groups if g.community == community.name) or "-"
            raise UserError(
                t("lifecycle.no_group", None, group=ref, community=community.name, known=known), exit_code=2
            )
        mine = [g for g in found if g.community == community.name]
        if not mine:
            other = found[0].community
            key = "lifecycle.other_community" if other else "lifecycle.unbound_group"
            raise UserError(t(key, None, group=ref, community=community.name, other=other or ""), exit_code=2)
        if len(mine) > 1:
            raise UserError(
                t("lifecycle.many_groups", None, group=ref, keys=", ".join(g.key for g in mine)), exit_code=2
            )
        return mine[0]

    def _state(self, community: CommunityRecord) -> CommunityState:
        with self.app.store.transaction() as conn:
            state = self.app.store.state.load_community(conn, self.app.ws.id, community.name)
        return state or CommunityState(community.name)

    def _settings(self, community: CommunityRecord) -> LifecycleSettings:
        own = community.spec.policies.get(LIFECYCLE) or {}
        return LifecycleSettings.model_validate(own)

    @staticmethod
    def _members(state: CommunityState, gkey: str, staff: set[str]) -> list[MemberState]:
        return [m for m in state.members.values() if gkey in m.groups and m.active and m.key not in staff]

    @staticmethod
    def _staff(community: CommunityRecord, platform: str) -> set[str]:
        return {f"{platform}:{who}" for people in community.spec.roles.values() for who in people}

    def _must_be_active(self, state: CommunityState, group: GroupRecord) -> None:
        now = group_state(state.policy.get(LIFECYCLE), group.key)
        if now != ACTIVE:
            state_name = t(f"lifecycle.state.{now}", None)
            raise UserError(t("lifecycle.not_active", None, group=group.key, state=state_name), exit_code=2)

    def _text(self, record: CommunityRecord, key: str, /, **values: Any) -> str:
        return text_of(LIFECYCLE, key, record.spec.locale, self._settings(record).texts, **values)

    # -- doing it -----------------------------------------------------------------------------------------------

    def _commit(
        self,
        verb: str,
        community: CommunityRecord,
        group: GroupRecord,
        actions: Sequence[Action],
        events: Sequence[OperatorAction] = (),
        *,
        members: int = 0,
        other: str = "",
        detail: dict[str, Any] | None = None,
        before: Any = None,
    ) -> Outcome:
        """Queue ``actions``, log ``events``, audit: one transaction (``before(conn)`` runs first in it)."""
        app = self.app
        if self.dry_run:
            return Outcome(
                verb, community.name, group.key, members, len(actions), 0, other, {**(detail or {}), "dry_run": True}
            )
        with app.transaction() as conn:
            if before is not None:
                before(conn)
            report = app.enqueue_actions(conn, actions)
            if events:
                app.ingest_in(conn, events)
            out = Outcome(
                verb, community.name, group.key, members, report.actions, report.staff_tasks, other, detail or {}
            )
            app.store.audit.record(
                conn, app.ws.id, actor=self.actor, verb=f"group.{verb}", object_type="group", object_id=group.key,
                detail=out.to_dict(), now_ms=app.now_ms(),
            )  # fmt: skip
        return out

    def _event(
        self, community: CommunityRecord, group: GroupRecord, op: str, value: str, **extra: str
    ) -> OperatorAction:
        at = self.app.clock.now()
        return OperatorAction(
            id=stable_id("lifecycle", community.name, group.key, op, value, iso(at)),
            at=at,
            platform=group.platform,
            group=group.platform_id,
            community=community.name,
            op=op,
            target="",
            value=value,
            by=self.actor,
            extra=extra,
        )

    def _common(self, community: CommunityRecord, group: GroupRecord, verb: str) -> dict[str, Any]:
        at = self.app.clock.now()
        return dict(
            at=at, community=community.name, platform=group.platform, group=group.platform_id, policy=f"group.{verb}",
            key=f"group.{verb}:{group.key}:{iso(at)}",
        )  # fmt: skip

    # -- split ----------------------------------------------------------------------------------------------

    def split(
        self,
        community_name: str,
        ref: str,
        *,
        by: str | None = None,
        count: int | None = None,
        into: str | None = None,
        name: str = "",
        force: bool = False,
    ) -> Outcome:
        """Split a crowded group: a segment (``by`` activity, joined or tag:NAME; ``count`` of them, half by
        default) is invited to a new group (``into`` an existing one, or created), both groups are told."""
        community = self._community(community_name)
        group = self._group(community, ref)
        state = self._state(community)
        self._must_be_active(state, group)
        members = self._members(state, group.key, self._staff(community, group.platform))
        cap = capacity_of(community, group)
        if len(members) < cap and not force:
            raise UserError(t("lifecycle.under_cap", None, group=group.key, n=len(members), cap=cap), exit_code=2)
        settings = self._settings(community)
        by = by or settings.split_by
        if by not in ("activity", "joined") and not (by.startswith("tag:") and len(by) > 4):
            raise UserError(t("lifecycle.bad_by", None, by=by), exit_code=2)
        if count is not None and not 0 < count < max(len(members), 1):
            raise UserError(t("lifecycle.bad_count", None, count=count, n=len(members)), exit_code=2)
        segment = split_segment(members, by, count)
        if not segment:
            raise UserError(t("lifecycle.empty_segment", None, group=group.key, by=by), exit_code=2)
        old_name = group.name or group.platform_id
        new_name = name or (f"{old_name} 2" if community.spec.locale != "en" else f"{old_name} (2)")
        common = self._common(community, group, "split")
        ids = tuple(split_key(m.key)[1] for m in segment)
        n = len(segment)

        def announce(new: str) -> str:
            return self._text(community, "split_old", members=len(members), new=new, n=n, community=community.name)

        if into is not None:
            target = self._target(community, group, into)
            new_name = target.name or target.platform_id
            actions: list[Action] = [Post(text=announce(new_name), **common)]
            welcome = self._text(community, "split_new", new=new_name, old=old_name)
            tcommon = {**common, "group": target.platform_id, "platform": target.platform}
            actions += [
                Invite(**{**tcommon, "key": f"{common['key']}:invite:{pid}"}, target=pid, text=welcome) for pid in ids
            ]
            actions.append(Post(**{**tcommon, "key": f"{common['key']}:welcome"}, text=welcome))

            def bind(conn: Connection) -> None:
                if target.community is None:  # a group just created by hand: it joins the community
                    self._bind(conn, community, target.platform, target.platform_id, new_name, group.role)

            return self._commit(
                "split", community, group, actions, members=n, other=target.key,
                detail={"by": by, "created": False}, before=bind,
            )  # fmt: skip
        create = CreateGroup(
            **{**common, "key": f"{common['key']}:create"},
            name=new_name,
            role=group.role,
            topic=self._text(community, "split_new", new=new_name, old=old_name),
            invite=ids,
            text=self._text(community, "split_new", new=new_name, old=old_name),
            extra={"split_from": group.key, "community": community.name},
        )
        actions = [Post(text=announce(new_name), **common)]
        if staff_reason(create) is None:
            actions.append(create)
        else:  # most platforms keep group creation to a person: say exactly what to create and how to attach it
            words = (shell_word(community.name), shell_word(group.key), shell_word(by))
            command = "shequn group split {} {} --into ID --by {} --force".format(*words)
            how = self._text(community, "create_group", name=new_name, platform=group.platform, old=old_name,
                             command=command, n=n)  # fmt: skip
            roster = "\n".join(f"- {m.name or m.key} ({m.key})" for m in segment)
            actions.append(
                OpenStaffTask(
                    **{**common, "key": f"{common['key']}:create"},
                    title=t("lifecycle.create_task", community.spec.locale, name=new_name, group=old_name),
                    instructions=f"{how}\n{roster}",
                    extra={"split_from": group.key, "invite": list(ids)},
                )
            )
        return self._commit("split", community, group, actions, members=n, other=new_name,
                            detail={"by": by, "created": staff_reason(create) is None})  # fmt: skip

    def _target(self, community: CommunityRecord, group: GroupRecord, ref: str) -> GroupRecord:
        """The group a split or merge goes into: an existing group of the community, or a new id on the same
        platform (a split into a group just created by hand)."""
        if ref in (group.key, group.platform_id) or (group.name and ref == group.name):
            raise UserError(t("lifecycle.into_itself", None, group=group.key), exit_code=2)
        platform, sep, pid = ref.partition(":")
        if not sep or platform != group.platform:
            platform, pid = group.platform, ref  # a bare id, or an id with colons of its own (Matrix: !abc:hs)
        with self.app.store.transaction() as conn:
            groups = self.app.store.groups.list(conn, self.app.ws.id)
        for g in groups:
            if (g.platform, g.platform_id) == (platform, pid) or (g.name and g.name == ref):
                if g.community not in (None, community.name):
                    raise UserError(
                        t("lifecycle.other_community", None, group=ref, community=community.name, other=g.community),
                        exit_code=2,
                    )
                return g
        return GroupRecord(0, platform, pid, None, "", group.role, None, ACTIVE)

    def _bind(
        self, conn: Connection, community: CommunityRecord, platform: str, pid: str, name: str, role: str
    ) -> None:
        self.app.store.groups.bind(
            conn, self.app.ws.id, community_id=community.id, community_name=community.name, platform=platform,
            platform_id=pid, name=name, role=role, capacity=None, now_ms=self.app.now_ms(),
        )  # fmt: skip
        self.app._engine = None  # the bindings changed: the engine reloads its configuration

    # -- merge, archive, dissolve ---------------------------------------------------------------------------

    def merge(self, community_name: str, ref: str, into: str) -> Outcome:
        """Merge a dying group into another: its recently active members are invited over, both are told, and the
        old group is archived."""
        community = self._community(community_name)
        group = self._group(community, ref)
        target = self._target(community, group, into)
        if target.id == 0:
            raise UserError(t("lifecycle.no_group", None, group=into, community=community.name, known="-"), exit_code=2)
        state = self._state(community)
        self._must_be_active(state, group)
        self._must_be_active(state, target)
        days = self._settings(community).merge_active_days
        since = self.app.clock.now() - timedelta(days=days)
        staff = self._staff(community, group.platform)
        movers = [
            m for m in self._members(state, group.key, staff)
            if target.key not in m.groups and m.last_active_at is not None and m.last_active_at >= since
        ]  # fmt: skip
        common = self._common(community, group, "merge")
        old_name, new_name = group.name or group.platform_id, target.name or target.platform_id
        n = len(movers)
        welcome = self._text(community, "merge_into", old=old_name, n=n)
        tcommon = {**common, "group": target.platform_id, "platform": target.platform}
        actions: list[Action] = [Post(text=self._text(community, "merge_old", into=new_name, n=n), **common)]
        actions += [
            Invite(**{**tcommon, "key": f"{common['key']}:invite:{m.key}"}, target=split_key(m.key)[1], text=welcome)
            for m in movers
        ]
        if n:
            actions.append(Post(**{**tcommon, "key": f"{common['key']}:welcome"}, text=welcome))
        actions.append(Mute(**{**common, "key": f"{common['key']}:hold"}, reason="merged"))
        event = self._event(community, group, "group_state", ARCHIVED, into=target.key, reason="merged")
        return self._commit("merge", community, group, actions, [event], members=n, other=target.key,
                            detail={"active_days": days})  # fmt: skip

    def archive(self, community_name: str, ref: str) -> Outcome:
        """Archive a group: the farewell, the group held (nobody posts), the state recorded; data kept."""
        community = self._community(community_name)
        group = self._group(community, ref)
        state = self._state(community)
        self._must_be_active(state, group)
        common = self._common(community, group, "archive")
        actions: list[Action] = [
            Post(text=self._text(community, "archive"), **common),
            Mute(**{**common, "key": f"{common['key']}:hold"}, reason="archived"),
        ]
        n = len(self._members(state, group.key, set()))
        event = self._event(community, group, "group_state", ARCHIVED, reason="archived")
        return self._commit("archive", community, group, actions, [event], members=n)

    def dissolve(self, community_name: str, ref: str) -> Outcome:
        """Dissolve a group (解散, book 1690: 好聚要有好散): the farewell, then the group closed on the platform (or a
        staff task where the bot may not), the state recorded; the members' data stays in the community."""
        community = self._community(community_name)
        group = self._group(community, ref)
        state = self._state(community)
        if group_state(state.policy.get(LIFECYCLE), group.key) == DISSOLVED:
            raise UserError(t("lifecycle.not_active", None, group=group.key,
                              state=t(f"lifecycle.state.{DISSOLVED}", None)), exit_code=2)  # fmt: skip
        common = self._common(community, group, "dissolve")
        actions: list[Action] = [
            Post(text=self._text(community, "dissolve", community=community.name), **common),
            CloseGroup(**{**common, "key": f"{common['key']}:close"}, reason="dissolved"),
        ]
        n = len(self._members(state, group.key, set()))
        event = self._event(community, group, "group_state", DISSOLVED, reason="dissolved")
        return self._commit("dissolve", community, group, actions, [event], members=n)

    def reopen(self, community_name: str, ref: str) -> Outcome:
        """Make an archived group active again (an archive by mistake): the hold is lifted."""
        from shequn.domain import Unmute

        community = self._community(community_name)
        group = self._group(community, ref)
        state = self._state(community)
        if group_state(state.policy.get(LIFECYCLE), group.key) != ARCHIVED:
            raise UserError(t("lifecycle.not_archived", None, group=group.key), exit_code=2)
        common = self._common(community, group, "reopen")
        event = self._event(community, group, "group_state", ACTIVE, reason="reopened")
        return self._commit("reopen", community, group, [Unmute(**common)], [event])

    # -- hand over, temporary, bind --------------------------------------------------------------------------

    def handover(self, community_name: str, ref: str, *, to: str, role: str = "architect", from_: str = "") -> Outcome:
        """Hand a group over when its owner or lead leaves: the role moves in the spec (audited like any spec
        change) and staff get the task of transferring the platform's rights (no platform lets a bot do that)."""
        community = self._community(community_name)
        group = self._group(community, ref)
        roles = {r.key for r in load_playbook().roles.roles}
        if role not in roles:
            raise UserError(t("lifecycle.bad_role", None, role=role, roles=", ".join(sorted(roles))), exit_code=2)
        to_id = to.removeprefix(f"{group.platform}:")
        holders = list(community.spec.roles.get(role, []))
        old = [from_.removeprefix(f"{group.platform}:")] if from_ else holders
        if from_ and old[0] not in holders:
            raise UserError(t("lifecycle.not_holder", None, who=from_, role=role), exit_code=2)
        if to_id in holders and not from_:
            raise UserError(t("lifecycle.same_holder", None, who=to, role=role), exit_code=2)
        data = community.spec.model_dump(mode="json")
        data["roles"][role] = [h for h in holders if h not in old] + [to_id]
        from shequn.playbook.spec import CommunitySpec

        spec = CommunitySpec.model_validate(data)
        common = self._common(community, group, "handover")
        title = self._text(community, "handover", group=group.name or group.key, role=role,
                           old=", ".join(old) or "-", new=to_id)  # fmt: skip
        task = OpenStaffTask(**common, title=title, target=to_id, extra={"role": role, "from": old, "to": to_id})
        out = self._commit("handover", community, group, [task], other=to_id, detail={"role": role, "from": old})
        if not self.dry_run:
            self.app.apply_spec(spec, actor=self.actor, source=f"group handover {group.key}")
        return out

    def temporary(self, community_name: str, ref: str, ends: datetime | None) -> Outcome:
        """Make a group temporary with an end (None: no end any more); the ``lifecycle`` policy reminds its
        members and archives it at the end."""
        community = self._community(community_name)
        group = self._group(community, ref)
        state = self._state(community)
        self._must_be_active(state, group)
        value = ""
        if ends is not None:
            end = local_end(ends, community.spec.timezone)
            if end <= self.app.clock.now():
                raise UserError(t("lifecycle.past_end", None, ends=iso(end)), exit_code=2)
            value = iso(end)

        event = self._event(community, group, "group_ends", value)
        return self._commit("temporary", community, group, [], [event], detail={"ends": value})

    def bind(self, community_name: str, key: str, *, name: str = "", role: str = "main") -> Outcome:
        """Bind a group (a new one created by hand) to a community."""
        community = self._community(community_name)
        platform, sep, pid = key.partition(":")
        if not sep or not platform or not pid:
            raise UserError(t("lifecycle.bad_key", None, key=key), exit_code=2)
        record = GroupRecord(0, platform, pid, community.name, name, role, None, ACTIVE)

        def attach(conn: Connection) -> None:
            self._bind(conn, community, platform, pid, name, role)

        return self._commit("bind", community, record, [], before=attach, detail={"role": role})

    def adopt(self) -> list[str]:
        """Bind the groups the bot created for a split (delivered ``create_group`` actions) to their community;
        the keys bound. Idempotent: ``shequn run`` calls it on every pass."""
        a = ACTION
        adopted: list[str] = []
        with self.app.store.transaction() as conn:
            rows = conn.execute(
                select(a.c.payload, a.c.result, a.c.platform).where(
                    a.c.workspace_id == self.app.ws.id, a.c.kind == "create_group", a.c.status == "sent"
                )
            ).all()
            bound = {g.key for g in self.app.store.groups.list(conn, self.app.ws.id) if g.community}
        for payload, result, platform in rows:
            room = str(orjson.loads(result or "{}").get("platform_id") or "")
            action = orjson.loads(payload)
            if not room or f"{platform}:{room}" in bound:
                continue
            community = self._community(str(action.get("community", "")))
            with self.app.transaction() as conn:
                name, role = str(action.get("name", "")), str(action.get("role", "main"))
                self._bind(conn, community, platform, room, name, role)
                self.app.store.audit.record(
                    conn, self.app.ws.id, actor="shequn", verb="group.adopt", object_type="group",
                    object_id=f"{platform}:{room}", detail={"split_from": action.get("group", "")},
                    now_ms=self.app.now_ms(),
                )  # fmt: skip
            adopted.append(f"{platform}:{room}")
        return adopted


def capacity_of(community: CommunityRecord, group: GroupRecord) -> int:
    """The cap of a group's size policy (the group's own, the spec's, the playbook's)."""
    size = community.spec.size
    policy = next(p for p in load_playbook().sizes.policies if p.key == size.policy)
    return group.capacity or size.capacity or policy.capacity
