"""Growth operations (裂变运营): invite links, attribution, leaderboards and their settlement, live codes, group-fill
campaigns, the AB-group method, the upgrade path and the benchmark-group programme — what the command line and the
console do, on top of the pure :mod:`shequn.growth`.

How it works:
    The event log is the truth: attribution reads the community's joins and leaves from it every time, with the
    invite links from the store, so a join imported from history is attributed exactly like a live one. What
    shequn decides (a settlement's announcement, a prize to hand out, a new group to create, invitations into
    group B) goes to the outbox under an idempotency key, or to a staff task where the platform needs a person.

Things to keep in mind:
    * Settling is idempotent: a period is settled once (a unique row per campaign and period end), so running
      ``shequn referral settle`` from cron every few minutes, or after a crash, never announces twice.
    * Live-code routing decides from counters only (members, the last 7 days' messages, speakers, leaves, open staff
      tasks): it runs for every newcomer.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shequn.app import App, paused_gc
from shequn.domain import Action, CreateInviteLink, Invite, OpenStaffTask, Post, UserError
from shequn.domain.records import iso
from shequn.domain.state import CommunityState, MemberState
from shequn.growth import campaigns, livecode, referral
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.store import CommunityRecord, GroupRecord
from shequn.store._sql import from_ms, to_ms
from shequn.store.growth import CampaignRecord, LinkRecord

DAY_MS = 86_400_000
PLATFORM_LINKS = frozenset({"telegram", "wecom"})  # platforms whose connector creates named links / channel states


def _code(*parts: str) -> str:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=6).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()


def _book(policy: str, key: str) -> Any:
    return load_playbook().default(policy, key)


@dataclass(frozen=True, slots=True)
class Board:
    """A leaderboard: the period, its ranks, and when it is settled."""

    campaign: str
    community: str
    start: datetime
    end: datetime
    ranks: list[referral.Rank]
    names: dict[str, str]
    timezone: str = "Asia/Shanghai"

    def to_dict(self) -> dict[str, Any]:
        """The board as the API and ``shequn referral board --json`` give it."""
        return {
            "campaign": self.campaign,
            "community": self.community,
            "start": self.start.isoformat(),
            "settles": self.end.isoformat(),
            "ranks": [
                {
                    "rank": r.rank,
                    "referrer": r.referrer,
                    "name": self.names.get(r.referrer, ""),
                    "confirmed": r.confirmed,
                    "pending": r.pending,
                    "rejected": dict(r.rejected),
                }
                for r in self.ranks
            ],
        }


class Growth:
    """Growth operations for one workspace of ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = app.store
        self.ws = app.ws.id

    # -- helpers --------------------------------------------------------------------------------------------

    def _community(self, name: str) -> CommunityRecord:
        return self.app.community(name)

    def _state(self, community: str) -> CommunityState:
        return self.app.saved_state().community(community)

    def member(self, community: str, who: str, state: CommunityState | None = None) -> MemberState:
        """A member by ``platform:id``, platform id or name (a clear error when none or several match)."""
        members = (state or self._state(community)).members
        found = [m for m in members.values() if who in (m.key, m.name, m.key.partition(":")[2])]
        if not found:
            raise UserError(t("growth.no_member", None, member=who, community=community), exit_code=2)
        if len(found) > 1:
            keys = ", ".join(sorted(m.key for m in found))
            raise UserError(t("growth.many_members", None, member=who, keys=keys), exit_code=2)
        return found[0]

    def _groups(self, record: CommunityRecord) -> list[GroupRecord]:
        with self.store.transaction() as conn:
            return self.store.groups.list(conn, self.ws, community_id=record.id)

    def _enqueue(self, actions: Sequence[Action]) -> None:
        if not actions:
            return
        with self.app.transaction() as conn:
            self.app.enqueue_actions(conn, actions)

    # -- invite links ---------------------------------------------------------------------------------------

    def link(self, community: str, who: str, *, group: str = "", campaign: str = "") -> LinkRecord:
        """The member's personal invite link or code (created once; the same one on every later call)."""
        record = self._community(community)
        m = self.member(record.name, who)
        with self.store.transaction() as conn:
            for existing in self.store.growth.links(conn, self.ws, community_id=record.id, owner=m.key):
                if existing.revoked_ms is None and existing.group == group and existing.campaign == campaign:
                    return existing
        platform = m.key.partition(":")[0]
        code = "r" + _code(str(self.ws), record.name, m.key, group, campaign)
        return self._new_link(
            record, code=code, owner=m.key, channel="member", platform=platform, group=group, campaign=campaign
        )

    def channel_link(
        self,
        community: str,
        channel: str,
        *,
        code: str = "",
        platform: str = "sandbox",
        group: str = "",
        campaign: str = "",
    ) -> LinkRecord:
        """A link for an acquisition channel (a poster, an article, an ad): no referrer, the channel is counted."""
        record = self._community(community)
        code = code or "c" + _code(str(self.ws), record.name, channel, platform, group, campaign)
        with self.store.transaction() as conn:
            existing = self.store.growth.link(conn, self.ws, code)
        if existing is not None:
            return existing
        return self._new_link(
            record, code=code, owner="", channel=channel, platform=platform, group=group, campaign=campaign
        )

    def _new_link(
        self, record: CommunityRecord, *, code: str, owner: str, channel: str, platform: str, group: str, campaign: str
    ) -> LinkRecord:
        now = self.app.now_ms()
        url = f"sandbox://join/{code}" if platform not in PLATFORM_LINKS else ""
        actions: list[Action] = []
        if platform in PLATFORM_LINKS:
            targets = [
                g for g in self._groups(record) if g.platform == platform and (not group or g.platform_id == group)
            ]
            for g in targets[:1]:
                actions.append(
                    CreateInviteLink(
                        key=f"referral:link:{code}",
                        at=from_ms(now),
                        community=record.name,
                        platform=platform,
                        group=g.platform_id,
                        policy="referral",
                        name=code,
                    )
                )
        with self.app.transaction() as conn:
            link = self.store.growth.add_link(
                conn,
                self.ws,
                community_id=record.id,
                code=code,
                owner=owner,
                channel=channel,
                platform=platform,
                group=group,
                campaign=campaign,
                url=url,
                now_ms=now,
            )
            self.app.enqueue_actions(conn, actions)
            self.store.audit.record(
                conn,
                self.ws,
                actor="growth",
                verb="invite_link.create",
                object_type="invite_link",
                object_id=code,
                detail={"owner": owner, "channel": channel},
                now_ms=now,
            )
        return link

    def links(self, community: str) -> list[LinkRecord]:
        record = self._community(community)
        with self.store.transaction() as conn:
            return self.store.growth.links(conn, self.ws, community_id=record.id)

    # -- attribution ----------------------------------------------------------------------------------------

    def attributions(
        self, community: str, *, now: datetime | None = None, rules: referral.Rules | None = None
    ) -> tuple[list[referral.Attribution], dict[str, str]]:
        """Every join of the community attributed (with the fraud checks), and the members' names."""
        record = self._community(community)
        now_ms = to_ms(now) if now else self.app.now_ms()
        with paused_gc(), self.store.transaction() as conn:  # a million joins: see App.append_history
            links = {
                code: referral.InviteLink(code, record.name, owner, channel)
                for code, owner, channel in self.store.growth.link_table(conn, self.ws, record.id)
            }
            joins: list[referral.JoinFact] = []
            leaves: dict[str, list[int]] = {}
            new = tuple.__new__  # JoinFact without its Python-level __new__ (a million joins)
            for kind, at_ms, platform, actor, code, inviter, method, group in self.store.growth.joins(
                conn, self.ws, record.id
            ):
                key = f"{platform}:{actor}"
                if kind == "leave":
                    leaves.setdefault(key, []).append(at_ms)
                else:
                    who = f"{platform}:{inviter}" if inviter else ""
                    joins.append(new(referral.JoinFact, (at_ms, key, code, who, group, method)))
            people = self.store.growth.persons(conn, self.ws)
        for v in leaves.values():
            v.sort()
        out = referral.attribute(
            joins, links, leaves, rules=rules or referral.rules_from(), now_ms=now_ms, person_of=people
        )
        return out, {}

    def names(self, community: str, keys: Sequence[str]) -> dict[str, str]:
        """Display names of the members asked about."""
        record = self._community(community)
        with self.store.transaction() as conn:
            return self.store.growth.names(conn, record.id, keys)

    def tree(self, community: str) -> referral.Tree:
        return referral.tree(self.attributions(community)[0])

    # -- contests, leaderboards, settlement -----------------------------------------------------------------

    def contest(
        self,
        community: str,
        key: str,
        *,
        start: datetime | None = None,
        prizes: int | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> CampaignRecord:
        """Start (or change) a referral contest, settled every week (book 2533: Friday 17:00)."""
        record = self._community(community)
        params: dict[str, Any] = {
            "weekday": int(_book("referral", "settle_weekday")),
            "at": str(_book("referral", "settle_at")),
            "prizes": int(prizes if prizes is not None else _book("referral", "prizes")),
        }
        for k, v in (settings or {}).items():
            if k not in ("weekday", "at", "min_stay_hours", "burst_max", "burst_minutes", "prizes"):
                raise UserError(t("growth.bad_setting", None, key=k), exit_code=2)
            params[k] = v
        if not 0 <= int(params["weekday"]) <= 6:
            raise UserError(t("growth.bad_setting", None, key="weekday"), exit_code=2)
        now = self.app.now_ms()
        with self.app.transaction() as conn:
            c = self.store.growth.put_campaign(
                conn,
                self.ws,
                community_id=record.id,
                key=key,
                kind="referral",
                params=params,
                start_ms=to_ms(start) if start else now,
                now_ms=now,
            )
            self.store.audit.record(
                conn,
                self.ws,
                actor="growth",
                verb="campaign.put",
                object_type="campaign",
                object_id=key,
                detail=params,
                now_ms=now,
            )
        return c

    def _campaign(self, key: str, kind: str) -> CampaignRecord:
        with self.store.transaction() as conn:
            c = self.store.growth.campaign(conn, self.ws, key)
        if c is None or c.kind != kind:
            raise UserError(t("growth.no_campaign", None, key=key), exit_code=2)
        return c

    def _community_of(self, c: CampaignRecord) -> CommunityRecord:
        return next(r for r in self.app.communities() if r.id == c.community_id)

    @staticmethod
    def _rules(c: CampaignRecord) -> referral.Rules:
        return referral.rules_from(
            {k: v for k, v in c.params.items() if k in ("min_stay_hours", "burst_max", "burst_minutes")}
        )

    def leaderboard(self, key: str, *, now: datetime | None = None, limit: int | None = 20) -> Board:
        """The contest's board for the period running at ``now`` (confirmed, pending and rejected invites)."""
        c = self._campaign(key, "referral")
        record = self._community_of(c)
        now = now or from_ms(self.app.now_ms())
        start = from_ms(c.start_ms)
        tz = record.spec.timezone
        done = referral.periods(start, now, weekday=c.params["weekday"], at=c.params["at"], tz=tz)
        begin = done[-1][1] if done else start
        end = referral.next_settlement(start, now, weekday=c.params["weekday"], at=c.params["at"], tz=tz)
        with paused_gc():  # freed by reference counting before the collector runs again (a million tuples)
            atts, _ = self.attributions(record.name, now=now, rules=self._rules(c))
            ranks = referral.leaderboard(atts, to_ms(begin), to_ms(end), limit=limit)
            del atts
        names = self.names(record.name, [r.referrer for r in ranks])
        return Board(key, record.name, begin, end, ranks, names, tz)

    def settle(
        self, *, now: datetime | None = None, key: str | None = None, communities: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Settle every period of every open contest (or of ``key``; of ``communities`` only) that has ended by
        ``now``; idempotent."""
        now = now or from_ms(self.app.now_ms())
        with self.store.transaction() as conn:
            contests = [
                c
                for c in self.store.growth.campaigns(conn, self.ws, kind="referral")
                if c.closed_ms is None and (key is None or c.key == key)
            ]
        out: list[dict[str, Any]] = []
        for c in contests:
            record = self._community_of(c)
            if communities is not None and record.name not in communities:
                continue
            tz = record.spec.timezone
            periods = referral.periods(from_ms(c.start_ms), now, weekday=c.params["weekday"], at=c.params["at"], tz=tz)
            if not periods:
                continue
            with self.store.transaction() as conn:
                settled = {end for _s, end, _r in self.store.growth.settlements(conn, c.id)}
            todo = [(s, e) for s, e in periods if to_ms(e) not in settled]
            if not todo:
                continue
            with paused_gc():  # the attributions are freed before the collector runs again (see leaderboard)
                atts, _ = self.attributions(record.name, now=now, rules=self._rules(c))
                boards = [(s, e, referral.leaderboard(atts, to_ms(s), to_ms(e))) for s, e in todo]
                del atts
            groups = [g for g in self._groups(record) if g.role in ("main", "fan", "paid", "member")]
            for start, end, ranks in boards:
                names = self.names(record.name, [r.referrer for r in ranks[:100]])
                result = self._result(c, record, start, end, ranks, names)
                actions = self._settle_actions(c, record, groups, result, end)
                with self.app.transaction() as conn:
                    if self.store.growth.add_settlement(
                        conn, c.id, start_ms=to_ms(start), end_ms=to_ms(end), result=result, now_ms=self.app.now_ms()
                    ):
                        self.app.enqueue_actions(conn, actions)
                        self.store.audit.record(
                            conn,
                            self.ws,
                            actor="growth",
                            verb="referral.settle",
                            object_type="campaign",
                            object_id=c.key,
                            detail={"end": iso(end), "winners": result["winners"]},
                            now_ms=self.app.now_ms(),
                        )
                        out.append(result)
        return out

    @staticmethod
    def _result(
        c: CampaignRecord,
        record: CommunityRecord,
        start: datetime,
        end: datetime,
        ranks: list[referral.Rank],
        names: Mapping[str, str],
    ) -> dict[str, Any]:
        prizes = int(c.params.get("prizes", 1))
        winners = [r.referrer for r in ranks if r.confirmed > 0][:prizes]
        rejected: dict[str, int] = {}
        for r in ranks:
            for k, n in r.rejected.items():
                rejected[k] = rejected.get(k, 0) + n
        return {
            "campaign": c.key,
            "community": record.name,
            "start": iso(start),
            "end": iso(end),
            "winners": winners,
            "ranks": [
                {
                    "rank": r.rank,
                    "referrer": r.referrer,
                    "name": names.get(r.referrer, ""),
                    "confirmed": r.confirmed,
                    "pending": r.pending,
                    "rejected": dict(r.rejected),
                }
                for r in ranks[:100]
            ],
            "referrers": len(ranks),
            "confirmed": sum(r.confirmed for r in ranks),
            "rejected": rejected,
        }

    def _settle_actions(
        self,
        c: CampaignRecord,
        record: CommunityRecord,
        groups: Sequence[GroupRecord],
        result: Mapping[str, Any],
        end: datetime,
    ) -> list[Action]:
        pb = load_playbook()
        loc = record.spec.locale
        sep = "、" if loc.startswith("zh") else ", "
        top = [
            f"{x['rank']}. {x['name'] or x['referrer'].partition(':')[2]} ({x['confirmed']})"
            for x in result["ranks"][:10]
            if x["confirmed"] > 0
        ]
        period = end.astimezone(ZoneInfo(record.spec.timezone)).strftime("%Y-%m-%d %H:%M")
        text = pb.text("referral", "settled", loc).format(period=period, ranking=sep.join(top) or "—")
        at = end
        base = f"referral:settle:{c.key}:{to_ms(end)}"
        actions: list[Action] = [
            Post(
                key=f"{base}:{g.key}",
                at=at,
                community=record.name,
                platform=g.platform,
                group=g.platform_id,
                policy="referral",
                text=text,
            )
            for g in groups
        ]
        for i, w in enumerate(result["winners"]):
            platform, _, pid = w.partition(":")
            title = t("growth.prize_task", loc, name=result["ranks"][i]["name"] or pid, campaign=c.key, period=period)
            actions.append(
                OpenStaffTask(
                    key=f"{base}:prize:{w}",
                    at=at,
                    community=record.name,
                    platform=platform,
                    target=pid,
                    policy="referral",
                    title=title,
                )
            )
        return actions

    def settlements(self, key: str) -> list[dict[str, Any]]:
        c = self._campaign(key, "referral")
        with self.store.transaction() as conn:
            return [r for _s, _e, r in self.store.growth.settlements(conn, c.id)]

    def contests(self) -> list[CampaignRecord]:
        with self.store.transaction() as conn:
            return self.store.growth.campaigns(conn, self.ws, kind="referral")

    # -- live codes -----------------------------------------------------------------------------------------

    def live_code(
        self,
        community: str,
        code: str,
        *,
        template: str = "",
        capacity: int | None = None,
        reserve: int | None = None,
        owners: Mapping[str, str] | None = None,
        owner_capacity: Mapping[str, int] | None = None,
    ) -> CampaignRecord:
        """Create or change a live code: the groups' capacity, the places kept free, the groups' owners and what
        each owner can take, the name pattern of new groups (``读书会{n}群``)."""
        record = self._community(community)
        params = {
            "template": template or f"{record.name}{{n}}",
            "capacity": int(capacity if capacity is not None else _book("livecode", "capacity")),
            "reserve": int(reserve if reserve is not None else _book("livecode", "reserve")),
            "owners": dict(owners or {}),
            "owner_capacity": {k: int(v) for k, v in (owner_capacity or {}).items()},
        }
        now = self.app.now_ms()
        with self.app.transaction() as conn:
            c = self.store.growth.put_campaign(
                conn,
                self.ws,
                community_id=record.id,
                key=code,
                kind="live_code",
                params=params,
                start_ms=now,
                now_ms=now,
            )
            if self.store.growth.link(conn, self.ws, code) is None:  # joins through the code name it
                self.store.growth.add_link(
                    conn, self.ws, community_id=record.id, code=code, channel="live_code", now_ms=now
                )
        return c

    def slots(self, c: CampaignRecord, record: CommunityRecord) -> list[livecode.Slot]:
        groups = [g for g in self._groups(record) if g.state == "active"]
        since = self.app.now_ms() - 7 * DAY_MS
        with self.store.transaction() as conn:
            activity = self.store.growth.group_activity(conn, self.ws, [g.id for g in groups], since_ms=since)
        owners: Mapping[str, str] = c.params.get("owners", {})
        out = []
        for g in groups:
            members, messages, speakers, leaves, tasks = activity.get(g.id, (0, 0, 0, 0, 0))
            out.append(
                livecode.Slot(
                    key=g.key,
                    name=g.name or g.platform_id,
                    members=members,
                    capacity=int(g.capacity or c.params["capacity"]),
                    owner=owners.get(g.platform_id, ""),
                    health=livecode.health(members, speakers, messages, leaves, tasks),
                )
            )
        return out

    def route(self, code: str, *, who: str = "") -> dict[str, Any]:
        """Where the live code sends the next newcomer; creates the new group (sandbox) or opens the staff task
        to create one (elsewhere) when every group is full."""
        c = self._campaign(code, "live_code")
        record = self._community_of(c)
        slots = self.slots(c, record)
        platforms = {s.key.partition(":")[0] for s in slots} or {"sandbox"}
        platform = sorted(platforms)[0]
        r = livecode.route(
            slots,
            owner_capacity=c.params.get("owner_capacity", {}),
            reserve=int(c.params["reserve"]),
            can_create=platform == "sandbox",
        )
        answer: dict[str, Any] = {
            "code": code,
            "community": record.name,
            "route": r.kind,
            "reason": r.reason,
            "skipped": dict(r.skipped or {}),
        }
        if r.kind == "group":
            slot = next(s for s in slots if s.key == r.group)
            answer |= {
                "group": slot.key,
                "name": slot.name,
                "members": slot.members,
                "capacity": slot.capacity,
                "health": slot.health,
                "owner": slot.owner,
            }
            return answer
        name = livecode.next_group_name(c.params["template"], [s.name for s in slots])
        if r.kind == "create":
            pid = f"{record.name}-{_code(record.name, name)}"
            self.app.bind_group(record.name, platform=platform, platform_id=pid, name=name, role="main")
            with self.app.transaction() as conn:
                self.store.audit.record(
                    conn,
                    self.ws,
                    actor="live_code",
                    verb="group.create",
                    object_type="group",
                    object_id=f"{platform}:{pid}",
                    detail={"code": code, "name": name},
                    now_ms=self.app.now_ms(),
                )
            answer |= {"group": f"{platform}:{pid}", "name": name, "members": 0, "created": True}
            return answer
        loc = record.spec.locale
        title = t("growth.create_group_task", loc, name=name, community=record.name, code=code)
        # One task per group to create: the key names the new group, so every newcomer until it exists adds nothing.
        task = OpenStaffTask(
            key=f"live_code:{code}:create:{name}",
            at=from_ms(self.app.now_ms()),
            community=record.name,
            platform=platform,
            policy="live_code",
            title=title,
            instructions=t("growth.create_group_how", loc, name=name, code=code),
        )
        self._enqueue([task])
        answer |= {"name": name, "staff_task": True}
        return answer

    def live_codes(self) -> list[CampaignRecord]:
        with self.store.transaction() as conn:
            return self.store.growth.campaigns(conn, self.ws, kind="live_code")

    # -- group fill, AB groups, upgrade path ----------------------------------------------------------------

    def fill(
        self, community: str, key: str, *, group: str, target: int | None = None, reward: int | None = None
    ) -> CampaignRecord:
        record = self._community(community)
        if not any(group in (g.platform_id, g.key) for g in self._groups(record)):
            raise UserError(t("growth.no_group", None, group=group, community=record.name), exit_code=2)
        params = {
            "group": group,
            "target": int(target or _book("group_fill", "target")),
            "reward": int(reward if reward is not None else _book("group_fill", "reward")),
        }
        now = self.app.now_ms()
        with self.app.transaction() as conn:
            return self.store.growth.put_campaign(
                conn,
                self.ws,
                community_id=record.id,
                key=key,
                kind="group_fill",
                params=params,
                start_ms=now,
                now_ms=now,
            )

    def fill_check(self, communities: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Progress of every open group-fill campaign (of ``communities`` only); announce and open the reward's staff
        task once reached."""
        from shequn.policies.common import money

        with self.store.transaction() as conn:
            fills = [c for c in self.store.growth.campaigns(conn, self.ws, kind="group_fill") if c.closed_ms is None]
        out = []
        for c in fills:
            record = self._community_of(c)
            if communities is not None and record.name not in communities:
                continue
            g = next((x for x in self._groups(record) if c.params["group"] in (x.platform_id, x.key)), None)
            if g is None:
                continue
            with self.store.transaction() as conn:
                members = self.store.growth.group_activity(conn, self.ws, [g.id], since_ms=0)[g.id][0]
            p = campaigns.fill_progress(members, int(c.params["target"]))
            out.append(
                {
                    "campaign": c.key,
                    "group": g.key,
                    "members": p.members,
                    "target": p.target,
                    "reached": p.reached,
                    "share": p.share,
                }
            )
            if p.reached:
                loc = record.spec.locale
                reward = money(int(c.params["reward"]), "CNY")
                text = load_playbook().text("group_fill", "reached", loc).format(target=p.target, reward=reward)
                at = from_ms(self.app.now_ms())
                base = f"group_fill:{c.key}"
                acts: list[Action] = [
                    Post(
                        key=f"{base}:post",
                        at=at,
                        community=record.name,
                        platform=g.platform,
                        group=g.platform_id,
                        policy="group_fill",
                        text=text,
                    ),
                    OpenStaffTask(
                        key=f"{base}:reward",
                        at=at,
                        community=record.name,
                        platform=g.platform,
                        group=g.platform_id,
                        policy="group_fill",
                        title=t("growth.fill_reward_task", loc, group=g.name or g.platform_id, reward=reward),
                    ),
                ]
                with self.app.transaction() as conn:
                    self.app.enqueue_actions(conn, acts)
                    self.store.growth.close_campaign(conn, c.id, now_ms=self.app.now_ms())
        return out

    def ab(
        self,
        community: str,
        group_a: str,
        group_b: str,
        *,
        top: int | None = None,
        days: int = 30,
        invite: bool = False,
    ) -> list[dict[str, Any]]:
        """The AB-group method: group A's most engaged members not yet in group B (and, with ``invite``, the
        invitations into B: outbox actions, or staff tasks where the platform forbids the bot)."""
        record = self._community(community)
        groups = {g.platform_id: g for g in self._groups(record)} | {g.key: g for g in self._groups(record)}
        a, b = groups.get(group_a), groups.get(group_b)
        if a is None or b is None:
            missing = group_a if a is None else group_b
            raise UserError(t("growth.no_group", None, group=missing, community=record.name), exit_code=2)
        since = self.app.now_ms() - days * DAY_MS
        state = self._state(record.name)
        with self.store.transaction() as conn:
            counts = _engagement(self.store.growth.messages(conn, self.ws, a.id, since_ms=since))
        in_b = {k for k, m in state.members.items() if b.key in m.groups}
        in_a = {k for k, m in state.members.items() if a.key in m.groups and m.active}
        eng = [campaigns.Engagement(k, state.members[k].name, n, r, s) for k, (n, r, s) in counts.items() if k in in_a]
        picked = campaigns.ab_candidates(eng, in_b, top=int(top or _book("group_fill", "ab_top")))
        if invite and picked:
            at = from_ms(self.app.now_ms())
            text = t("growth.ab_invite", record.spec.locale, group=b.name or b.platform_id)
            self._enqueue(
                [
                    _invite(f"ab:{a.key}:{b.key}:{e.member}", at, record, b, e.member, "ab_groups", text)
                    for e, _s in picked
                ]
            )
        return [
            {
                "member": e.member,
                "name": e.name,
                "messages": e.messages,
                "replies": e.replies_received,
                "suggestions": e.suggestions,
                "score": s,
            }
            for e, s in picked
        ]

    def promotions(self, community: str, *, invite: bool = False) -> list[dict[str, Any]]:
        """The upgrade path 粉丝群 → 会员群 → 管理群 → 核心群 (book 2065): who meets the next level's rule."""
        record = self._community(community)
        groups = self._groups(record)
        level_of = {g.key: campaigns.level_of_role(g.role) for g in groups}
        raw: Mapping[str, Mapping[str, Any]] = _book("upgrade", "rules")
        rules = {k: campaigns.Rule(**v) for k, v in raw.items()}
        state = self._state(record.name)
        membership = state.policy.get("membership") or {}
        admission = state.policy.get("admission") or {}
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            payers = self.store.commerce.payers(conn, self.ws, record.id)
        standings = []
        for m in state.members.values():
            if not m.active:
                continue
            levels = [lv for gk in m.groups if (lv := level_of.get(gk))]
            if not levels:
                continue
            top = max(levels, key=campaigns.LEVELS.index)
            paid = bool(membership.get(f"s:{m.key}")) or bool(admission.get(f"paid:{m.key}")) or m.key in payers
            days = (now - to_ms(m.joined_at)) // DAY_MS if m.joined_at else 0
            standings.append(
                campaigns.Standing(
                    m.key, m.name, top, paid, m.level, m.points, int(days), frozenset(m.tags), frozenset(m.roles)
                )
            )
        found = campaigns.promotions(standings, rules)
        if invite and found:
            at = from_ms(now)
            acts: list[Action] = []
            for p in found:
                target = next((g for g in groups if campaigns.level_of_role(g.role) == p.target), None)
                if target is None:
                    continue
                text = t("growth.promote_invite", record.spec.locale, group=target.name or target.platform_id)
                acts.append(_invite(f"upgrade:{p.member}:{p.target}", at, record, target, p.member, "upgrade", text))
            self._enqueue(acts)
        return [{"member": p.member, "name": p.name, "from": p.source, "to": p.target} for p in found]

    # -- the benchmark-group programme (replication 1→N) ----------------------------------------------------

    def chapter(
        self, template: str, name: str, *, stage: str, leader: str = "", city: str = "", note: str = ""
    ) -> dict[str, Any]:
        """Move a chapter of the programme to ``stage`` (applied → screened → created → growing → benchmark);
        ``created`` makes its community from the template's spec (culture, rules, rhythm, roles: 复制)."""
        stages: list[str] = _book("replication", "stages")
        if stage not in stages:
            raise UserError(t("growth.bad_stage", None, stage=stage, stages=", ".join(stages)), exit_code=2)
        record = self._community(template)
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            old = self.store.growth.chapter(conn, self.ws, name)
        if old is not None and stages.index(stage) > stages.index(old.stage) + 1:
            raise UserError(t("growth.skip_stage", None, name=name, stage=stage, current=old.stage), exit_code=2)
        if stage == "benchmark":
            target = self._chapter_members(name)
            need = int(_book("replication", "benchmark_members"))
            if target < need:
                raise UserError(t("growth.not_benchmark", None, name=name, members=target, need=need), exit_code=2)
        community_id = None
        if stage == "created" and (old is None or old.community_id is None):
            spec = record.spec.model_copy(update={"name": name, "groups": []})
            self.app.apply_spec(spec, actor="chapter", source=f"<template {record.name}>")
            community_id = self.app.community(name).id
        with self.app.transaction() as conn:
            ch = self.store.growth.put_chapter(
                conn,
                self.ws,
                template_id=record.id,
                name=name,
                leader=leader,
                city=city,
                stage=stage,
                note=note,
                now_ms=now,
            )
            if community_id is not None:
                self.store.growth.set_chapter_community(conn, ch.id, community_id)
            self.store.audit.record(
                conn,
                self.ws,
                actor="growth",
                verb="chapter.stage",
                object_type="chapter",
                object_id=name,
                detail={"stage": stage},
                now_ms=now,
            )
        return {"name": name, "stage": stage, "template": record.name, "leader": ch.leader, "city": ch.city}

    def _chapter_members(self, name: str) -> int:
        state = self.app.saved_state().communities.get(name)
        return sum(1 for m in state.members.values() if m.active) if state else 0

    def chapters(self) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            rows = self.store.growth.chapters(conn, self.ws)
        names = {r.id: r.name for r in self.app.communities()}
        return [
            {
                "name": c.name,
                "template": names.get(c.template_id, ""),
                "stage": c.stage,
                "leader": c.leader,
                "city": c.city,
                "members": self._chapter_members(c.name),
                "history": c.history,
            }
            for c in rows
        ]


def _invite(
    key: str, at: datetime, record: CommunityRecord, group: GroupRecord, member: str, policy: str, text: str
) -> Invite:
    """An invitation of ``member`` (a member key, ``platform:id``) into ``group``."""
    return Invite(
        key=key,
        at=at,
        community=record.name,
        platform=group.platform,
        group=group.platform_id,
        target=member.partition(":")[2],
        policy=policy,
        text=text,
    )


def _engagement(rows: Sequence[tuple[str, str, str, str]]) -> dict[str, tuple[int, int, int]]:
    """(member key, message id, replied-to message id, text) → member → (messages, replies received, suggestions)."""
    from shequn.analytics.conversation import is_question

    author = {mid: key for key, mid, _r, _t in rows if mid}
    out: dict[str, list[int]] = {}
    for key, _mid, reply_to, text in rows:
        box = out.setdefault(key, [0, 0, 0])
        box[0] += 1
        if any(w in text for w in SUGGESTION_WORDS) or is_question(text):
            box[2] += 1
        to = author.get(reply_to) if reply_to else None
        if to and to != key:
            out.setdefault(to, [0, 0, 0])[1] += 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


SUGGESTION_WORDS = ("建议", "可以试试", "不如", "我觉得", "推荐", "suggest", "how about", "we could")
