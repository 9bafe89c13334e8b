"""Member pages (成员页面, issue 23): the signed link that opens them, what a member sees of their community, and what
a member does there, each an event in the log.

How it works:
    * A link is ``<payload>.<signature>``: the payload (base64url JSON) names the workspace, the community, the
      member (``platform:id``) and the expiry; the signature is HMAC-SHA256 of the payload with the workspace's
      member-link key, kept in the store's workspace secrets (``member_link_key``). Rotating the key
      (:meth:`MemberPages.rotate_key`) makes every link issued before fail. A link that does not verify, has
      expired, names another workspace, or names someone who is no longer a member is refused, without saying why.
    * A community link (to post in a group) is the same with no member: it opens only the page where a member names
      themselves and gets a one-time code from the bot in a DM. The code is an HMAC of the member and a 10-minute
      window with the same key (nothing stored); sends and tries per member are counted in the store's throttle
      table (as failed logins are), and the page answers the same whether or not the name is a member's.
    * A form on a page carries the link's CSRF token (an HMAC of the link, so it needs no storage) and a nonce the
      page drew; the event's id is derived from the nonce, so a double submit is one event.
    * What a member does is an event the policies already understand, written through the console's group commit
      (the workspace's writer lock): a check-in is :class:`~shequn.domain.CheckIn`, accepting the rules a
      ``FormAnswer`` of the ``rules`` form, a registration an :class:`~shequn.domain.Attendance`, a redemption a
      ``FormAnswer`` of the ``redeem`` form (the points policy). Replaying the log gives the same state.
    * Reads come from the saved state, the points ledger and the growth service; other members appear only on the
      leaderboards, named as the community's ``privacy.leaderboard_names`` says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shequn.domain import Attendance, AttendanceStatus, CheckIn, DirectMessage, Event, FormAnswer, stable_id
from shequn.domain.events import RULES_FORM
from shequn.domain.state import CommunityState, MemberState
from shequn.engine.config import build_community_config
from shequn.i18n import t
from shequn.policies.base import CommunityConfig
from shequn.policies.checkin import CheckinSettings, Record
from shequn.policies.common import hhmm, local
from shequn.policies.leaderboard import beaten, board
from shequn.policies.levels import distance, title_of
from shequn.policies.points import REDEEM_FORM, PointsSettings
from shequn.schedule.activities import Activity
from shequn.schedule.live import registrations, seats_taken
from shequn.services.console import Operations
from shequn.services.growth import Growth
from shequn.store import CommunityRecord
from shequn.store.growth import LinkRecord

KEY_SECRET = "member_link_key"
LINK_VERSION = 1
DEFAULT_DAYS = 30
OTP_WINDOW_S = 600  # a one-time code holds for its 10-minute window and the next
OTP_PERIOD_MS = 15 * 60_000  # throttling period (the login throttle's)
OTP_TRIES = 5  # wrong codes per member per period
OTP_SENDS = 3  # codes sent per member per period
BOARDS = ("points", "streak", "week")
BOARD_SIZE = 10


class LinkRefusedError(Exception):
    """The link is not (or no longer) good: tampered, expired, another workspace's, or its member is gone."""


@dataclass(frozen=True, slots=True)
class MemberLink:
    """What a link grants: one member's pages of one community of one workspace, until ``expires`` (unix s);
    ``member`` empty: a community link (the one-time-code page only)."""

    workspace: int
    community: str
    member: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, data: str) -> bytes:
    return hmac.new(key, f"{purpose}\x00{data}".encode(), hashlib.sha256).digest()


def sign(key: bytes, link: MemberLink) -> str:
    """The link's token: the payload and its signature (everything the link grants is in the signed payload)."""
    payload = _b64(orjson.dumps([LINK_VERSION, link.workspace, link.community, link.member, link.expires]))
    return f"{payload}.{_b64(_mac(key, 'member-link', payload))}"


def verify(key: bytes, token: str, *, now_s: int) -> MemberLink:
    """The link ``token`` grants, or :class:`LinkRefusedError` (bad form, bad signature, expired)."""
    payload, _, sig = token.partition(".")
    try:
        good = hmac.compare_digest(_unb64(sig), _mac(key, "member-link", payload))
    except (ValueError, TypeError):
        good = False
    if not good:
        raise LinkRefusedError("signature")
    version, ws, community, member, expires = orjson.loads(_unb64(payload))
    if version != LINK_VERSION or int(expires) <= now_s:
        raise LinkRefusedError("expired")
    return MemberLink(int(ws), str(community), str(member), int(expires))


def csrf_of(key: bytes, token: str) -> str:
    """The CSRF token of the forms on the pages a link opens (derived, so nothing is stored)."""
    return _b64(_mac(key, "member-csrf", token)[:18])


def masked(name: str) -> str:
    """A display name anonymised for a leaderboard: its first character, then asterisks."""
    return (name[:1] + "**") if name else "**"


@dataclass(frozen=True, slots=True)
class View:
    """One verified link, opened: the community's configuration and state as saved, and the member."""

    link: MemberLink
    token: str
    csrf: str
    record: CommunityRecord
    config: CommunityConfig
    community: CommunityState
    member: MemberState

    @property
    def platform_id(self) -> str:
        return self.member.key.partition(":")[2]


class MemberPages:
    """Links, read models and actions of the member pages for one workspace (through the console's operations)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.app = ops.app
        self.store = ops.store
        self.ws = ops.ws
        self.growth = Growth(ops.app)
        self._configs: dict[str, tuple[str, CommunityConfig]] = {}  # community → (spec hash, its configuration)

    # -- the key and the links -----------------------------------------------------------------------------

    def _key(self) -> bytes:
        with self.store.transaction() as conn:
            value = self.store.auth.secret(conn, self.ws, KEY_SECRET)
        if value is None:
            with self.ops.write(), self.store.transaction() as conn:
                value = self.store.auth.secret(conn, self.ws, KEY_SECRET)
                if value is None:
                    value = secrets.token_hex(32)
                    self.store.auth.set_secret(conn, self.ws, KEY_SECRET, value, now_ms=self.app.now_ms())
        return bytes.fromhex(value)

    def rotate_key(self, *, actor: str) -> None:
        """A new key: every link issued so far stops working."""
        now = self.app.now_ms()
        with self.ops.write(), self.store.transaction() as conn:
            self.store.auth.set_secret(conn, self.ws, KEY_SECRET, secrets.token_hex(32), now_ms=now)
            self.store.audit.record(
                conn, self.ws, actor=actor, verb="member_link.rotate", object_type="workspace",
                object_id=str(self.ws), now_ms=now,
            )  # fmt: skip

    def link(self, community: str, who: str, *, days: int = DEFAULT_DAYS) -> tuple[str, MemberLink]:
        """A signed link token for a member (by name, platform id or platform:id) valid for ``days``."""
        record = self.app.community(community)
        member = self.growth.member(record.name, who)
        expires = int(self.app.clock.now().timestamp()) + days * 86_400
        grant = MemberLink(self.ws, record.name, member.key, expires)
        return sign(self._key(), grant), grant

    def send(self, grant: MemberLink, url: str) -> None:
        """The bot sends the member their link in a private message (once per link; where the platform forbids the
        bot a DM, the outbox's routing makes it a staff task, as for every action)."""
        record = self.app.community(grant.community)
        member = self.growth.member(record.name, grant.member)
        platform, _, pid = member.key.partition(":")
        days = max(1, (grant.expires - int(self.app.clock.now().timestamp()) + 43_200) // 86_400)
        text = t("member.dm", record.spec.locale, name=member.name or pid, community=record.name, url=url, days=days)
        action = DirectMessage(
            key=f"member-page:{record.name}:{member.key}:{grant.expires}", at=self.app.clock.now(),
            community=record.name, platform=platform, target=pid, policy="member_pages", text=text,
            extra={"member_name": member.name},
        )  # fmt: skip
        with self.ops.write(), self.app.transaction() as conn:
            self.app.enqueue_actions(conn, [action])

    # -- the community link: a member identifies with a one-time code the bot sends them -------------------------

    def community_link(self, community: str, *, days: int = DEFAULT_DAYS) -> tuple[str, MemberLink]:
        """A signed link for a whole community (to post in a group): it names no member (``member`` empty), and
        opens only the page where a member asks for a one-time code."""
        record = self.app.community(community)
        expires = int(self.app.clock.now().timestamp()) + days * 86_400
        grant = MemberLink(self.ws, record.name, "", expires)
        return sign(self._key(), grant), grant

    def open_community(self, token: str) -> tuple[MemberLink, CommunityRecord, str]:
        """The community a community link opens, and its forms' CSRF token (else :class:`LinkRefusedError`)."""
        key = self._key()
        grant = verify(key, token[:2000], now_s=int(self.app.clock.now().timestamp()))
        record = next((r for r in self.app.communities() if r.name == grant.community), None)
        if grant.workspace != self.ws or grant.member or record is None:
            raise LinkRefusedError("community link")
        return grant, record, csrf_of(key, token)

    def _claimant(self, record: CommunityRecord, who: str) -> MemberState | None:
        """The one active member whose platform id, ``platform:id`` or display name is ``who`` (None: none or
        several)."""
        who = who.strip()
        with self.store.transaction() as conn:
            community = self.store.state.load_community(conn, self.ws, record.name)
        if not who or community is None:
            return None
        found = [m for m in community.members.values() if m.active and who in (m.key, m.name, m.key.partition(":")[2])]
        return found[0] if len(found) == 1 else None

    def _code(self, key: bytes, record: CommunityRecord, member: str, window: int) -> str:
        mac = _mac(key, "member-otp", f"{self.ws}\x1f{record.name}\x1f{member}\x1f{window}")
        return f"{int.from_bytes(mac[:4], 'big') % 1_000_000:06d}"

    def _throttled(self, name: str, limit: int) -> bool:
        """Count one more ``name`` in the store's throttle; True when there were ``limit`` already this period."""
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            if self.store.auth.failures(conn, self.ws, (name,), since_ms=now - OTP_PERIOD_MS) >= limit:
                return True
            self.store.auth.add_failure(conn, self.ws, (name,), now_ms=now, before_ms=now - OTP_PERIOD_MS)
        return False

    def send_code(self, record: CommunityRecord, who: str) -> None:
        """The bot sends the member named ``who`` a one-time code in a DM. Says nothing either way (a page must not
        tell who is a member); at most OTP_SENDS codes per member per 15 minutes."""
        member = self._claimant(record, who)
        if member is None or self._throttled(f"otp-send:{record.name}:{member.key}", OTP_SENDS):
            return
        window = int(self.app.clock.now().timestamp()) // OTP_WINDOW_S
        code = self._code(self._key(), record, member.key, window)
        platform, _, pid = member.key.partition(":")
        text = t("member.otp_dm", record.spec.locale, code=code, community=record.name)
        action = DirectMessage(
            key=f"member-otp:{record.name}:{member.key}:{window}:{self.app.now_ms()}", at=self.app.clock.now(),
            community=record.name, platform=platform, target=pid, policy="member_pages", text=text,
        )  # fmt: skip
        with self.ops.write(), self.app.transaction() as conn:
            self.app.enqueue_actions(conn, [action])

    def verify_code(self, record: CommunityRecord, who: str, code: str, *, days: int = DEFAULT_DAYS) -> str | None:
        """The member's own link token when ``code`` is the one sent to them (this window or the one before), else
        None; at most OTP_TRIES tries per member per 15 minutes."""
        member = self._claimant(record, who)
        if member is None or self._throttled(f"otp-try:{record.name}:{member.key}", OTP_TRIES):
            return None
        key = self._key()
        window = int(self.app.clock.now().timestamp()) // OTP_WINDOW_S
        good = any(
            hmac.compare_digest(code.strip().encode(), self._code(key, record, member.key, w).encode())
            for w in (window, window - 1)
        )
        if not good:
            return None
        expires = int(self.app.clock.now().timestamp()) + days * 86_400
        return sign(key, MemberLink(self.ws, record.name, member.key, expires))

    def open(self, token: str) -> View:
        """The view a link opens, or :class:`LinkRefusedError`."""
        key = self._key()
        if len(token) > 2000:
            raise LinkRefusedError("size")
        grant = verify(key, token, now_s=int(self.app.clock.now().timestamp()))
        if grant.workspace != self.ws:
            raise LinkRefusedError("workspace")
        record = next((r for r in self.app.communities() if r.name == grant.community), None)
        if record is None:
            raise LinkRefusedError("community")
        with self.store.transaction() as conn:  # this community only: a page never loads the whole workspace
            community = self.store.state.load_community(conn, self.ws, record.name)
        member = community.members.get(grant.member) if community is not None else None
        if community is None or member is None or not member.active:
            raise LinkRefusedError("member")
        cached = self._configs.get(record.name)
        if cached is None or cached[0] != record.spec_hash:  # validating every policy's settings takes milliseconds
            config = build_community_config(record.spec, self.app.policies, source=f"community {record.name}")
            cached = self._configs[record.name] = (record.spec_hash, config)
        config = cached[1]
        return View(grant, token, csrf_of(key, token), record, config, community, member)

    def check_csrf(self, view: View, sent: str) -> bool:
        return hmac.compare_digest(sent.encode(), view.csrf.encode())

    # -- what a member sees ----------------------------------------------------------------------------------

    def _today(self, view: View) -> datetime:
        return local(self.app.clock.now(), view.config.spec)

    def card(self, view: View, locale: str, *, ledger: int = 20) -> dict[str, Any]:
        """Member number, level and the distance to the next, points and the ledger, streak, badges, memberships."""
        m, c = view.member, view.community
        now = self._today(view)
        today = now.date()
        checkin = view.config.settings.get("checkin")
        opens = checkin.opens_at if isinstance(checkin, CheckinSettings) else ""
        rec = Record.of((c.policy.get("checkin") or {}).get(f"m:{m.key}"))
        with self.store.transaction() as conn:
            entries = self.store.points.entries(conn, self.ws, community=view.record.name, member_key=m.key)
        badges_settings = view.config.settings.get("badges")
        titles = {b.key: b.title(locale) for b in getattr(badges_settings, "rules", ())}
        badges = sorted(titles.get(tag[6:], tag[6:]) for tag in m.tags if tag.startswith("badge:"))
        sub = (c.policy.get("membership") or {}).get(f"s:{m.key}")
        return {
            "name": m.name or view.platform_id,
            "number": m.number,
            "level": m.level,
            "title": title_of(view.config, m.level, locale),
            "next": distance(view.config, c, m, locale),
            "points": m.points,
            "ledger": entries[-ledger:][::-1],
            "streak": rec.current_streak(today),
            "best": rec.best,
            "checkins": rec.total,
            "cards": rec.cards,
            "checked_in_today": rec.last == today.isoformat(),
            "opens_at": opens if opens and now.time() < hhmm(opens) else "",  # the day's check-in is not open yet
            "badges": badges,
            "membership": dict(sub) if sub else None,
            "rules_ok": m.rules_version >= view.config.spec.rules.version,
        }

    def boards(self, view: View, locale: str) -> list[dict[str, Any]]:
        """The community's leaderboards: the top, the member's own rank and the share they are ahead of."""
        now = self.app.clock.now()
        anonymised = view.config.spec.privacy.leaderboard_names == "anonymised"
        everyone = sum(1 for m in view.community.members.values() if m.active)
        out = []
        for which in BOARDS:
            rows = board(view.config, view.community, which, now)
            top = [
                {
                    "rank": i,
                    "value": v,
                    "me": m.key == view.member.key,
                    "name": (masked(m.name) if anonymised else (m.name or f"#{m.number}")),
                }
                for i, (m, v) in enumerate(rows[:BOARD_SIZE], 1)
            ]
            mine = next((i for i, (m, _) in enumerate(rows) if m.key == view.member.key), None)
            out.append(
                {
                    "key": which,
                    "rows": top,
                    "rank": None if mine is None else mine + 1,
                    "value": rows[mine][1] if mine is not None else 0,
                    "ahead": None if mine is None else beaten(mine, everyone),
                }
            )
        return out

    def rules(self, view: View) -> dict[str, Any]:
        spec = view.config.spec
        return {
            "version": spec.rules.version,
            "sections": [(k, v) for k, v in spec.rules.sections.items() if v],
            "accepted": view.member.rules_version >= spec.rules.version,
        }

    def _activities(self, view: View) -> list[Activity]:
        return [
            Activity.from_dict({**r.spec, "key": r.key, "community": r.community, "status": r.status})
            for r in self.ops.activities(view.record)
        ]

    def _registrations(self, act: Activity) -> dict[str, Attendance]:
        platform, _, gid = act.home.partition(":")
        with self.store.transaction() as conn:
            ids = self.store.groups.ids(conn, self.ws, [(platform, gid)], now_ms=self.app.now_ms())
            events = [
                e
                for _, e in self.store.schedule.events_in(
                    conn, self.ws, list(ids.values()), start_ms=0, end_ms=self.app.now_ms() + 1
                )
                if isinstance(e, Attendance) and e.activity == act.key
            ]
        return registrations(events, act)

    def activities(self, view: View) -> list[dict[str, Any]]:
        """The community's coming activities with the member's registration (and ticket when registered)."""
        out = []
        for act in self._activities(view):
            regs = self._registrations(act)
            mine = regs.get(view.platform_id)
            taken = seats_taken(regs)
            out.append(
                {
                    "activity": act,
                    "status": mine.status.value if mine else "",
                    "left": (act.capacity - taken) if act.capacity else None,
                    "ticket": act.ticket_uri(view.platform_id)
                    if mine and mine.status is AttendanceStatus.REGISTERED
                    else "",
                }
            )
        return out

    def invite_link(self, view: View) -> LinkRecord:
        """The member's personal invite link or code (the ``referral link``): the one made before, else a new one."""
        with self.store.transaction() as conn:
            for existing in self.store.growth.links(conn, self.ws, community_id=view.record.id, owner=view.member.key):
                if existing.revoked_ms is None and not existing.group and not existing.campaign:
                    return existing
        return self.growth.link(view.record.name, view.member.key)

    def invite(self, view: View) -> dict[str, Any]:
        """The member's invite link or code, and the people who joined through it."""
        link = self.invite_link(view)
        atts, _ = self.growth.attributions(view.record.name)
        mine = [a for a in atts if a.referrer == view.member.key]
        names = self.growth.names(view.record.name, [a.member for a in mine])
        referrals = [
            {"name": names.get(a.member) or "—", "at_ms": a.at_ms, "counted": a.valid and a.confirmed_ms is not None}
            for a in sorted(mine, key=lambda a: -a.at_ms)
        ]
        return {"code": link.code, "url": link.url, "referrals": referrals}

    def rewards(self, view: View) -> list[tuple[str, int]]:
        s = view.config.settings.get("points")
        return sorted(s.rewards.items(), key=lambda kv: kv[1]) if isinstance(s, PointsSettings) else []

    # -- what a member does ------------------------------------------------------------------------------------

    def _where(self, view: View) -> tuple[str, str]:
        """The platform and chat a page action is logged in: the member's first group of the community."""
        platform, _, _ = view.member.key.partition(":")
        for gkey in sorted(view.member.groups):
            gp, _, gid = gkey.partition(":")
            if gp == platform:
                return platform, gid
        return platform, ""

    def _event_id(self, view: View, verb: str, nonce: str) -> str:
        return stable_id("member-page", verb, str(self.ws), view.record.name, view.member.key, nonce[:64])

    def check_in(self, view: View, nonce: str) -> bool:
        platform, group = self._where(view)
        e = CheckIn(
            id=self._event_id(view, "checkin", nonce), at=self.app.clock.now(), platform=platform, group=group,
            actor=view.platform_id, actor_name=view.member.name, note="page",
        )  # fmt: skip
        return self._ingest(e)

    def accept_rules(self, view: View, nonce: str) -> bool:
        platform, group = self._where(view)
        version = str(view.config.spec.rules.version)
        e = FormAnswer(
            id=self._event_id(view, "rules", nonce), at=self.app.clock.now(), platform=platform, group=group,
            actor=view.platform_id, actor_name=view.member.name, form=RULES_FORM,
            answers={"version": version, "accept": "yes", "via": "page"},
        )  # fmt: skip
        return self._ingest(e)

    def redeem(self, view: View, item: str, nonce: str) -> str:
        """Ask for a reward: ``redeemed`` (the points policy decides on it), ``refused`` (no such reward), or
        ``unchanged`` (this form was sent before)."""
        if item not in dict(self.rewards(view)):
            return "refused"
        platform, group = self._where(view)
        e = FormAnswer(
            id=self._event_id(view, "redeem", nonce), at=self.app.clock.now(), platform=platform, group=group,
            actor=view.platform_id, actor_name=view.member.name, form=REDEEM_FORM,
            answers={"item": item, "via": "page"},
        )  # fmt: skip
        return "redeemed" if self._ingest(e) else "unchanged"

    def register(self, view: View, activity: str, nonce: str, *, cancel: bool = False) -> str:
        """Register for (or cancel) an activity: within the capacity, else on the waiting list, as
        ``shequn event register`` does. The status written (``registered``, ``waitlisted``, ``cancelled``), or ""
        when nothing changed (no such activity, registered already, nothing to cancel)."""
        act = next((a for a in self._activities(view) if a.key == activity), None)
        if act is None:
            return ""
        with self.ops.write():  # the seats counted and the registration written under one lock
            regs = self._registrations(act)
            mine = regs.get(view.platform_id)
            active = mine is not None and mine.status is not AttendanceStatus.CANCELLED
            if cancel != active:
                return ""
            if cancel:
                status = AttendanceStatus.CANCELLED
            elif act.capacity and seats_taken(regs) + 1 > act.capacity:
                status = AttendanceStatus.WAITLISTED
            else:
                status = AttendanceStatus.REGISTERED
            platform, _, gid = act.home.partition(":")
            e = Attendance(
                id=self._event_id(view, f"register:{act.key}:{status.value}", nonce), at=self.app.clock.now(),
                platform=platform or view.member.key.partition(":")[0], group=gid, actor=view.platform_id,
                actor_name=view.member.name, activity=act.key, status=status, via="form",
            )  # fmt: skip
            return status.value if self._ingest(e) else ""

    def _ingest(self, event: Event) -> bool:
        return self.ops.commit.ingest([event]).added > 0
