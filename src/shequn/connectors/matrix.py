"""Matrix (through matrix-nio): a bot account that syncs its rooms and acts in them.

How it works:
    :meth:`MatrixConnector.start` runs a long-poll ``/sync`` loop. Every timeline event of a joined room becomes
    a :mod:`shequn.domain` event (:func:`events_of`), is handed to the sink, and only then is the sync token saved
    in the connector's cursors, so a restart resumes where the log ends (an event seen twice after a crash has the
    same stable id and drops out of the log). A sync whose timeline was cut short (``limited``) is filled from
    ``/messages`` back to the previous token, so a long outage loses nothing. A failed sync (homeserver down,
    network) is retried with exponential backoff from the same token.

    Sends map to the client-server API: a post or reply is ``PUT /send/m.room.message/{txnId}`` with the action's
    key as the transaction id (the homeserver ignores a repeat, hence ``idempotent_sends``), a deletion is a
    redaction, a mute lowers the member's power level below ``events_default`` (the whole room: raises
    ``events_default``), removal is a kick, a ban a ban, the announcement a pinned message, a private message goes
    to a direct room created once per member, a new group (a split) is a room created with its members invited,
    closing a group (解散) makes it invite-only, kicks its members and leaves. Matrix has no invite links with
    member limits: those become staff
    tasks.

    Matrix has no timed mute, so a ``Mute`` with ``until`` is lifted by the connector: the due unmute (the room, the
    member or the whole room, the level to restore) is kept in the cursors (``unmute:<room>|<user>``, listed under
    ``unmutes``), so it survives a restart, and :meth:`MatrixConnector.lift_due_mutes` restores the power level after
    every sync once ``until`` has passed (a level someone changed by hand meanwhile is left alone).

Things to keep in mind:
    * Room version 12: the room creator is not in ``m.room.power_levels`` and cannot be muted or kicked.
    * Matrix JSON refuses floats; every number sent is an int.
    * matrix-nio returns error objects instead of raising; :func:`_check` turns them into the outbox's errors.
    * The bot's own events are not handed on: what it said is in the outbox, and no policy should judge it.
    * A direct room (the bot's, or one a member invited it to with ``is_direct``) is not a group: no group row, no
      joins logged; a member's messages there are handed on as private messages (no group, ``extra.direct``), which
      the engine gives to the operators' inbox. Such rooms are listed in the cursors (``dm_rooms``), and a room
      whose timeline shows the bot inviting someone ``is_direct`` is one even before the listing is written (the
      sync can be first).
    * On the very first start (no token) the bot does not act on the rooms' history: it takes the current token.
    * The access token never reaches a log line (only the user id does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.domain import (
    Action,
    ActionKind,
    Clock,
    ContentKind,
    Delete,
    Edit,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Reaction,
    SystemClock,
    Unmute,
    UserError,
    stable_id,
)
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.matrix")

PLATFORM = "matrix"
MUTED_LEVEL = -1  # below any events_default: a member at this level cannot post
HOLD_LEVEL = 50  # events_default while the whole room is held (moderators and the guest still speak)
TIMELINE_LIMIT = 500
_CONTENT = {
    "m.text": ContentKind.TEXT,
    "m.notice": ContentKind.TEXT,
    "m.emote": ContentKind.TEXT,
    "m.image": ContentKind.IMAGE,
    "m.file": ContentKind.FILE,
    "m.audio": ContentKind.VOICE,
    "m.video": ContentKind.VIDEO,
    "m.location": ContentKind.LOCATION,
}
_PERMANENT = frozenset({"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM", "M_UNKNOWN_TOKEN"})


# -- platform → events (pure) ---------------------------------------------------------------------------------


def _at(event: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event.get("origin_server_ts") or 0) / 1000, tz=UTC)


def events_of(room: str, event: Mapping[str, Any], bot: str) -> list[Event]:
    """The shequn events one Matrix timeline event stands for (none for what shequn does not model)."""
    kind = event.get("type")
    eid = str(event.get("event_id", ""))
    sender = str(event.get("sender", ""))
    content = event.get("content") or {}
    if not eid or not isinstance(content, Mapping) or (sender == bot and kind != "m.room.member"):
        return []  # the bot's own posts are in the outbox already; the policies must not judge them
    common: dict[str, Any] = {"id": stable_id(PLATFORM, room, eid), "at": _at(event), "platform": PLATFORM}
    common["group"] = room
    if kind == "m.room.member":
        return _member(room, event, content, common, bot)
    if kind == "m.room.message":
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace":
            new = content.get("m.new_content") or {}
            return [
                Edit(**common, actor=sender, message_id=str(relates.get("event_id", "")), text=str(new.get("body", "")))
            ]
        reply = (relates.get("m.in_reply_to") or {}).get("event_id", "")
        mentions = (content.get("m.mentions") or {}).get("user_ids") or ()
        body = str(content.get("body", ""))
        msgtype = str(content.get("msgtype", "m.text"))
        ckind = _CONTENT.get(msgtype, ContentKind.OTHER)
        if ckind is ContentKind.TEXT and ("http://" in body or "https://" in body):
            ckind = ContentKind.TEXT  # links stay text: the moderation reads them in the text
        return [
            Message(
                **common,
                actor=sender,
                message_id=eid,
                content=ckind,
                text=body if ckind is ContentKind.TEXT else str(content.get("body", "")),
                reply_to=str(reply),
                mentions=tuple(str(m) for m in mentions if isinstance(m, str)),
                media=str(content.get("url", "")) if ckind is not ContentKind.TEXT else "",
                thread=str(relates.get("event_id", "")) if relates.get("rel_type") == "m.thread" else "",
            )
        ]
    if kind == "m.room.redaction":
        redacts = str(event.get("redacts") or content.get("redacts") or "")
        return [Delete(**common, actor=sender, message_id=redacts, by=sender)] if redacts else []
    if kind == "m.reaction":
        rel = content.get("m.relates_to") or {}
        return [
            Reaction(**common, actor=sender, message_id=str(rel.get("event_id", "")), emoji=str(rel.get("key", "")))
        ]
    return []


def direct_events_of(room: str, event: Mapping[str, Any], bot: str) -> list[Event]:
    """A member's message in a direct room with the bot: a private message (no group, ``extra.direct``; the room in
    ``extra.room``) for the operators' inbox. Nothing else of a direct room is handed on."""
    return [
        dataclasses.replace(e, group="", extra={"direct": True, "room": room})
        for e in events_of(room, event, bot)
        if isinstance(e, Message)
    ]


def _member(
    room: str, event: Mapping[str, Any], content: Mapping[str, Any], common: dict[str, Any], bot: str
) -> list[Event]:
    target = str(event.get("state_key", ""))
    sender = str(event.get("sender", ""))
    if not target or target == bot:
        return []
    unsigned = event.get("unsigned") or {}
    prev = unsigned.get("prev_content") or {}
    was = prev.get("membership", "leave")
    now = content.get("membership")
    name = str(content.get("displayname") or prev.get("displayname") or "")
    if now == "join" and was == "join":
        old, new = str(prev.get("displayname") or ""), str(content.get("displayname") or "")
        if old != new:
            return [NicknameChange(**common, actor=target, actor_name=new, old=old, new=new)]
        return []
    if now == "join":
        inviter = str(unsigned.get("prev_sender", "")) if was == "invite" else ""
        method = JoinMethod.INVITED if was == "invite" else JoinMethod.SELF
        return [Join(**common, actor=target, actor_name=name, method=method, inviter=inviter)]
    if now in ("leave", "ban") and was == "join":
        if now == "ban":
            reason = LeaveReason.BANNED
        else:
            reason = LeaveReason.VOLUNTARY if sender == target else LeaveReason.REMOVED
        by = "" if sender == target else sender
        return [Leave(**common, actor=target, actor_name=name, reason=reason, by=by)]
    return []


def txn_id(action: Action, part: str = "") -> str:
    """The transaction id of an action's request: stable, so a resend is the same transaction."""
    return "shequn-" + hashlib.blake2b(f"{action.key}\x1f{part}".encode(), digest_size=16).hexdigest()


def _check(resp: Any, what: str) -> Any:
    """Raise the outbox's error for a matrix-nio error response; return the response otherwise."""
    status = getattr(resp, "status_code", None)
    if status is None and type(resp).__name__.endswith("Error"):
        status = "M_UNKNOWN"
    if status is None:
        return resp
    message = f"matrix {what}: {status} {getattr(resp, 'message', '') or ''}".strip()
    if status == "M_LIMIT_EXCEEDED":
        raise RetryAfterError((getattr(resp, "retry_after_ms", None) or 1000) / 1000, scope="bot", message=message)
    if status in _PERMANENT:
        raise PermanentSendError(message)
    raise SendError(message)


# -- the connector --------------------------------------------------------------------------------------------


class MatrixConnector(Connector):
    """A Matrix bot account (``platform: matrix``); group ids are room ids (``!abc:example.org``).

    Environment (``shequn run``): ``SHEQUN_MATRIX_HOMESERVER``, ``SHEQUN_MATRIX_USER`` and either
    ``SHEQUN_MATRIX_TOKEN`` (an access token) or ``SHEQUN_MATRIX_PASSWORD``; ``SHEQUN_MATRIX_DEVICE`` optionally.
    """

    platform = PLATFORM
    idempotent_sends: ClassVar[bool] = True

    def __init__(
        self,
        homeserver: str,
        user_id: str,
        *,
        token: str = "",
        password: str = "",
        device_id: str = "SHEQUN",
        sync_timeout_ms: int = 30_000,
        backoff: tuple[float, float] = (0.5, 30.0),
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        if not token and not password:
            raise UserError("the Matrix connector needs SHEQUN_MATRIX_TOKEN or SHEQUN_MATRIX_PASSWORD", exit_code=2)
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self._token = token
        self._password = password
        self.device_id = device_id
        self.sync_timeout_ms = sync_timeout_ms
        self.backoff = backoff
        self.stats = {"syncs": 0, "events": 0, "reconnects": 0, "gaps_filled": 0, "mutes_lifted": 0}
        self._client: Any = None
        self._background = BackgroundLoop()
        self._dm: dict[str, str] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MatrixConnector:
        missing = [k for k in ("SHEQUN_MATRIX_HOMESERVER", "SHEQUN_MATRIX_USER") if not env.get(k)]
        if missing:
            raise UserError(f"the Matrix connector needs {', '.join(missing)}", exit_code=2)
        return cls(
            env["SHEQUN_MATRIX_HOMESERVER"],
            env["SHEQUN_MATRIX_USER"],
            token=env.get("SHEQUN_MATRIX_TOKEN", ""),
            password=env.get("SHEQUN_MATRIX_PASSWORD", ""),
            device_id=env.get("SHEQUN_MATRIX_DEVICE", "SHEQUN"),
        )

    def __repr__(self) -> str:  # never the token
        return f"MatrixConnector({self.homeserver!r}, {self.user_id!r})"

    def bot_of(self, action: Action) -> str:
        return self.user_id

    async def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        from nio import AsyncClient, AsyncClientConfig

        # nio retries a failed request forever by itself; two tries, then the sync loop backs off (and says so)
        config = AsyncClientConfig(
            encryption_enabled=False, store_sync_tokens=False, request_timeout=60, max_timeouts=2
        )
        client = AsyncClient(self.homeserver, self.user_id, device_id=self.device_id, config=config)
        if self._token:
            client.access_token = self._token
            client.user_id = self.user_id
        else:
            resp = await client.login(self._password, device_name="shequn")
            if getattr(resp, "access_token", None) is None:
                await client.close()
                raise UserError(f"Matrix login of {self.user_id} failed: {getattr(resp, 'message', resp)}", exit_code=2)
        self._client = client
        return client

    # -- receiving ------------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        await self._connect()
        self._background.start(self._sync_loop(sink), name="matrix-sync")

    async def stop(self) -> None:
        await self._background.stop()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _sync_loop(self, sink: EventSink) -> None:
        since = self.cursors.get("since")
        delay = self.backoff[0]
        while self._background.running:
            try:
                since = await self.sync_once(sink, since)
                await self.lift_due_mutes()
                delay = self.backoff[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the homeserver or the network: try again later from the same token
                self.stats["reconnects"] += 1
                log.warning("matrix sync failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await self._background.pause(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, self.backoff[1])

    async def sync_once(self, sink: EventSink, since: str | None) -> str | None:
        """One ``/sync``: hand its events to ``sink``, save and return the next token."""
        client = await self._connect()
        first = since is None
        timeline = {"limit": 0 if first else TIMELINE_LIMIT}
        sync_filter = {"room": {"timeline": timeline, "state": {"lazy_load_members": True}}, "presence": {"types": []}}
        resp = await client.sync(
            timeout=0 if first else self.sync_timeout_ms, sync_filter=sync_filter, since=since, full_state=False
        )
        if getattr(resp, "next_batch", None) is None:
            raise SendError(f"matrix sync: {getattr(resp, 'status_code', '')} {getattr(resp, 'message', resp)}")
        self.stats["syncs"] += 1
        for room_id, invite in resp.rooms.invite.items():
            if self.bound_groups is None or room_id in self.bound_groups:
                _check(await client.join(room_id), "join")
            elif self._invited_direct(invite.invite_state):
                # A member opening a private chat with the bot (their messages go to the operators' inbox).
                _check(await client.join(room_id), "join")
                self._remember_dm_room(room_id)
        if not first:
            direct = self._dm_rooms()
            for room_id, info in resp.rooms.join.items():
                raw = [e.source for e in info.timeline.events]
                if room_id in direct or self._opened_direct(raw):
                    self._remember_dm_room(room_id)
                    for ev in raw:
                        for event in direct_events_of(room_id, ev, self.user_id):
                            if not self.cursors.get(f"dm:{event.actor}"):
                                self.cursors.put(f"dm:{event.actor}", room_id)  # answers go back to this room
                            self.stats["events"] += 1
                            await sink(event)
                    continue
                if info.timeline.limited and since:
                    raw = await self._fill_gap(room_id, info.timeline.prev_batch, since) + raw
                for ev in self._after_own_join(raw):
                    for event in events_of(room_id, ev, self.user_id):
                        self.stats["events"] += 1
                        await sink(event)
        self.cursors.put("since", resp.next_batch)
        return str(resp.next_batch)

    def _dm_rooms(self) -> set[str]:
        return set(json.loads(self.cursors.get("dm_rooms") or "[]"))

    def _remember_dm_room(self, room: str) -> None:
        rooms = self._dm_rooms()
        if room not in rooms:
            self.cursors.put("dm_rooms", json.dumps(sorted({*rooms, room})))

    def _invited_direct(self, invite_state: Sequence[Any]) -> bool:
        """Whether an invitation asks the bot into a direct chat (its membership event says ``is_direct``)."""
        for ev in invite_state:  # matrix-nio's parsed events: their ``source`` lacks the content
            content = getattr(ev, "content", None)
            if (
                getattr(ev, "state_key", None) == self.user_id
                and isinstance(content, Mapping)
                and content.get("membership") == "invite"
                and content.get("is_direct") is True
            ):
                return True
        return False

    def _opened_direct(self, raw: Sequence[Mapping[str, Any]]) -> bool:
        """Whether the bot opened this room as a direct chat (it invited someone with ``is_direct``)."""
        return any(
            ev.get("type") == "m.room.member"
            and ev.get("sender") == self.user_id
            and (ev.get("content") or {}).get("is_direct") is True
            for ev in raw
        )

    def _after_own_join(self, raw: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        """In a room the bot has just joined, what happened before it was there is history, not for it to act on."""
        for i in range(len(raw) - 1, -1, -1):
            ev = raw[i]
            if (
                ev.get("type") == "m.room.member"
                and ev.get("state_key") == self.user_id
                and (ev.get("content") or {}).get("membership") == "join"
                and ((ev.get("unsigned") or {}).get("prev_content") or {}).get("membership") != "join"
            ):
                return raw[i + 1 :]
        return raw

    async def _fill_gap(self, room_id: str, start: str, until: str) -> list[Mapping[str, Any]]:
        """The events between the previous sync token and a cut-short timeline, oldest first."""
        from nio import MessageDirection

        client = self._client
        older: list[Mapping[str, Any]] = []
        token = start
        for _ in range(100):
            resp = await client.room_messages(
                room_id, start=token, end=until, direction=MessageDirection.back, limit=500
            )
            _check(resp, "messages")
            older.extend(e.source for e in resp.chunk)
            if not resp.chunk or not resp.end or resp.end == token:
                break
            token = resp.end
        self.stats["gaps_filled"] += 1
        return list(reversed(older))

    # -- sending --------------------------------------------------------------------------------------------

    async def _send_message(self, room: str, action: Action, content: dict[str, Any], part: str = "") -> str:
        client = await self._connect()
        resp = _check(await client.room_send(room, "m.room.message", content, tx_id=txn_id(action, part)), "send")
        return str(resp.event_id)

    @staticmethod
    def _text(text: str, mentions: Sequence[str] = ()) -> dict[str, Any]:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if mentions:
            content["m.mentions"] = {"user_ids": list(mentions)}
        return content

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        mentions = tuple(getattr(action, "mentions", ()))
        eid = await self._send_message(action.group, action, self._text(action.text_or_empty, mentions))
        if getattr(action, "pin", False):
            await self._pin(action.group, eid)
        return SendResult(platform_id=eid)

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        content = self._text(action.text_or_empty, (action.target,) if action.target else ())
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": str(getattr(action, "message_id", ""))}}
        return SendResult(platform_id=await self._send_message(action.group, action, content))

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if getattr(action, "public", False) or not action.target:
            mentions = (action.target,) if action.target else ()
            return SendResult(
                platform_id=await self._send_message(action.group, action, self._text(action.text_or_empty, mentions))
            )
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        room = await self._dm_room(action.target)
        eid = await self._send_message(room, action, self._text(action.text_or_empty))
        return SendResult(platform_id=eid, detail={"room": room})

    async def _dm_room(self, user: str) -> str:
        if user == self.user_id or not user:
            raise PermanentSendError(f"matrix: no private chat with {user or 'nobody'}")
        room = self._dm.get(user) or self.cursors.get(f"dm:{user}")
        if room:
            self._dm[user] = room
            return room
        from nio import RoomPreset

        client = await self._connect()
        resp = _check(
            await client.room_create(is_direct=True, invite=[user], preset=RoomPreset.trusted_private_chat), "create dm"
        )
        room = str(resp.room_id)
        self._dm[user] = room
        self.cursors.put(f"dm:{user}", room)
        self._remember_dm_room(room)
        return room

    @sends(ActionKind.DELETE_MESSAGE)
    async def _redact(self, action: Action) -> SendResult:
        client = await self._connect()
        reason = str(getattr(action, "reason", "")) or None
        mid = str(getattr(action, "message_id", ""))
        resp = _check(await client.room_redact(action.group, mid, reason=reason, tx_id=txn_id(action)), "redact")
        return SendResult(platform_id=str(getattr(resp, "event_id", "")))

    async def _power_levels(self, room: str) -> dict[str, Any]:
        client = await self._connect()
        resp = _check(await client.room_get_state_event(room, "m.room.power_levels"), "power levels")
        return dict(resp.content)

    async def _put_power_levels(self, room: str, content: dict[str, Any]) -> str:
        client = await self._connect()
        resp = _check(await client.room_put_state(room, "m.room.power_levels", content), "set power levels")
        return str(getattr(resp, "event_id", ""))

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        room, mute = action.group, action.kind is ActionKind.MUTE
        levels = await self._power_levels(room)
        users = dict(levels.get("users") or {})
        events = dict(levels.get("events") or {})
        until: datetime | None = getattr(action, "until", None) if mute else None
        if mute and until is not None:
            previous = users.get(action.target) if action.target else None
            self._schedule_unmute(room, action.target, until, previous)
        else:  # an unmute, or a mute with no end: nothing is due any more
            self._forget_unmute(room, action.target)
        if action.target:
            if mute:
                users[action.target] = MUTED_LEVEL
            else:
                users.pop(action.target, None)
        else:
            held = self.cursors.get(f"hold:{room}")
            if mute and held is None:
                self.cursors.put(f"hold:{room}", str(int(levels.get("events_default", 0))))
                levels["events_default"] = HOLD_LEVEL
                if "m.room.message" in events:
                    events["m.room.message"] = HOLD_LEVEL
            elif not mute:
                before = int(held) if held is not None else 0
                levels["events_default"] = before
                if "m.room.message" in events:
                    events["m.room.message"] = before
                self.cursors.put(f"hold:{room}", None)
        levels["users"], levels["events"] = users, events
        return SendResult(platform_id=await self._put_power_levels(room, _ints(levels)))

    # -- timed mutes ----------------------------------------------------------------------------------------

    def _schedule_unmute(self, room: str, user: str, until: datetime, previous: Any) -> None:
        name = f"unmute:{room}|{user}"
        old = json.loads(self.cursors.get(name) or "{}")
        if old and "previous" in old:
            previous = old["previous"]  # muted again before the first ran out: restore what was before both
        entry = {"room": room, "user": user, "until": until.timestamp(), "previous": previous}
        self.cursors.put(name, json.dumps(entry))
        listed = json.loads(self.cursors.get("unmutes") or "[]")
        if name not in listed:
            self.cursors.put("unmutes", json.dumps([*listed, name]))

    def _forget_unmute(self, room: str, user: str) -> None:
        name = f"unmute:{room}|{user}"
        listed = json.loads(self.cursors.get("unmutes") or "[]")
        if name in listed:
            self.cursors.put("unmutes", json.dumps([n for n in listed if n != name]))
        self.cursors.put(name, None)

    async def lift_due_mutes(self) -> int:
        """Restore the power levels of every timed mute whose ``until`` has passed; how many were lifted."""
        now = self.clock.now().timestamp()
        lifted = 0
        for name in json.loads(self.cursors.get("unmutes") or "[]"):
            entry = json.loads(self.cursors.get(name) or "{}")
            if not entry:
                self._forget_unmute(*name.removeprefix("unmute:").split("|", 1))
                continue
            if float(entry["until"]) > now:
                continue
            room, user = str(entry["room"]), str(entry["user"])
            levels = await self._power_levels(room)
            if user:
                users = dict(levels.get("users") or {})
                if users.get(user) == MUTED_LEVEL:  # not changed by hand since
                    if entry.get("previous") is None:
                        users.pop(user, None)
                    else:
                        users[user] = entry["previous"]
                    levels["users"] = users
                    await self._put_power_levels(room, _ints(levels))
            elif self.cursors.get(f"hold:{room}") is not None:
                await self._mute(Unmute(key=f"unmute:{room}", at=self.clock.now(), platform=PLATFORM, group=room))
            self._forget_unmute(room, user)
            self.stats["mutes_lifted"] += 1
            lifted += 1
        return lifted

    @sends(ActionKind.REMOVE)
    async def _kick(self, action: Action) -> SendResult:
        client = await self._connect()
        _check(
            await client.room_kick(action.group, action.target, reason=str(getattr(action, "reason", "")) or None),
            "kick",
        )
        return SendResult()

    @sends(ActionKind.BAN)
    async def _ban(self, action: Action) -> SendResult:
        client = await self._connect()
        _check(
            await client.room_ban(action.group, action.target, reason=str(getattr(action, "reason", "")) or None), "ban"
        )
        return SendResult()

    @sends(ActionKind.INVITE)
    async def _invite(self, action: Action) -> SendResult:
        client = await self._connect()
        resp = await client.room_invite(action.group, action.target)
        if getattr(resp, "status_code", None) == "M_FORBIDDEN" and "already in the room" in str(
            getattr(resp, "message", "")
        ):
            return SendResult(detail={"already": True})
        _check(resp, "invite")
        if action.text_or_empty:
            await self._direct(action)
        return SendResult()

    @sends(ActionKind.CREATE_GROUP)
    async def _create_room(self, action: Action) -> SendResult:
        """A new room with the members invited at once, then the announcement (a split's new group)."""
        from nio import RoomPreset

        client = await self._connect()
        room = self.cursors.get(f"created:{action.key}")  # a resend after a crash: the room exists already
        if not room:
            resp = _check(
                await client.room_create(
                    name=str(getattr(action, "name", "")) or None,
                    topic=str(getattr(action, "topic", "")) or None,
                    preset=RoomPreset.private_chat,
                    invite=[u for u in getattr(action, "invite", ()) if u != self.user_id],
                ),
                "create room",
            )
            room = str(resp.room_id)
            self.cursors.put(f"created:{action.key}", room)
        eid = ""
        if action.text_or_empty:
            eid = await self._send_message(room, action, self._text(action.text_or_empty))
        return SendResult(platform_id=room, detail={"room": room, "announcement": eid})

    @sends(ActionKind.CLOSE_GROUP)
    async def _close_room(self, action: Action) -> SendResult:
        """解散: nobody can join again, every member is let go, then the bot leaves (the room's history stays)."""
        client = await self._connect()
        room = action.group
        _check(await client.room_put_state(room, "m.room.join_rules", {"join_rule": "invite"}), "join rules")
        members = _check(await client.joined_members(room), "members")
        reason = str(getattr(action, "reason", "")) or None
        let_go, kept = 0, []
        for m in members.members:
            if m.user_id == self.user_id:
                continue
            resp = await client.room_kick(room, m.user_id, reason=reason)
            if getattr(resp, "status_code", None) == "M_FORBIDDEN":
                kept.append(m.user_id)  # the room's creator (room version 12) or someone above the bot
                continue
            _check(resp, "kick")
            let_go += 1
        _check(await client.room_leave(room), "leave")
        return SendResult(detail={"let_go": let_go, "kept": kept})

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        eid = await self._send_message(action.group, action, self._text(action.text_or_empty))
        await self._pin(action.group, eid)
        return SendResult(platform_id=eid)

    async def _pin(self, room: str, event_id: str) -> None:
        client = await self._connect()
        resp = await client.room_get_state_event(room, "m.room.pinned_events")
        pinned = (
            list(getattr(resp, "content", {}).get("pinned", [])) if getattr(resp, "status_code", None) is None else []
        )
        if event_id not in pinned:
            pinned.append(event_id)
        _check(await client.room_put_state(room, "m.room.pinned_events", {"pinned": pinned}), "pin")


def _ints(value: Any) -> Any:
    """Matrix refuses floats: power levels read back as JSON numbers are sent as ints."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float):
        return int(value)
    return value
