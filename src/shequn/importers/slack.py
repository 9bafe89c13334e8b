"""Slack workspace exports (the ``.zip``, or the folder it unpacks to) → events.

How it works:
    ``users.json`` gives names; ``channels.json``, ``groups.json``, ``mpims.json`` and ``dms.json`` the channels
    (id and name); each channel's folder holds one JSON file per day, read in date order. Messages keep Slack's
    ``ts`` as message id; thread replies get ``thread`` and ``reply_to`` (the parent's ``ts``); ``<@U…>`` mentions
    become user ids. ``channel_join``/``group_join`` become joins (invited when the export names an ``inviter``),
    ``channel_leave``/``group_leave`` leaves, ``bot_message`` messages from bots, shared files the media kind by
    MIME type, ``edited`` an edit, ``reactions`` one reaction per user; topic, purpose, name and integration changes
    are system messages.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

import orjson

from shequn.domain import ContentKind, Delete, Edit, Event, Join, JoinMethod, Leave, LeaveReason, Message, Reaction
from shequn.importers.base import (
    MAX_FILE_BYTES,
    ZIP_ERRORS,
    Context,
    check_regular,
    fields,
    from_unix,
    items,
    platform_id,
    too_deep,
    too_large,
    zip_reason,
)

PLATFORM = "slack"
_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_JOINS = {"channel_join", "group_join"}
_LEAVES = {"channel_leave", "group_leave"}
_TEXTUAL = {None, "", "thread_broadcast", "me_message", "file_comment", "file_share", "bot_message", "reply_broadcast"}


class _Archive:
    """The files of an export, from a zip or a folder, by their path inside the export."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        path = ctx.source.path
        check_regular(path)
        try:
            self.zip = zipfile.ZipFile(path) if path.is_file() else None
        except ZIP_ERRORS as exc:
            raise ctx.error("bad_zip", where="", detail=zip_reason(exc)) from None
        if self.zip is not None:
            names = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            names = [p.relative_to(path).as_posix() for p in sorted(path.rglob("*.json"))]
        root = _common_root(names)
        self.root = root
        self.names = [n[len(root) :] for n in names]

    def read(self, name: str) -> bytes:
        """A file of the export, read whole (refused past MAX_FILE_BYTES, by the size it declares: zipfile never
        gives more than a member declares)."""
        full = self.root + name
        if self.zip is not None:
            try:
                if self.zip.getinfo(full).file_size > MAX_FILE_BYTES:
                    raise too_large(self.ctx, name, MAX_FILE_BYTES)
                data = self.zip.read(full)
            except ZIP_ERRORS as exc:
                raise self.ctx.error("bad_zip", where=name, detail=zip_reason(exc)) from None
        else:
            path = self.ctx.source.path / full
            check_regular(path)
            if path.stat().st_size > MAX_FILE_BYTES:
                raise too_large(self.ctx, name, MAX_FILE_BYTES)
            data = path.read_bytes()
        self.ctx.on_bytes(len(data))
        return data

    def json(self, name: str) -> Any:
        self.ctx.where = ""
        try:
            return orjson.loads(self.read(name))
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc) or "recursion" in str(exc).lower():
                raise too_deep(self.ctx, f"{name}: line {exc.lineno}") from None
            raise self.ctx.error("bad_json", where=f"{name}: line {exc.lineno}", expected="JSON") from None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _common_root(names: list[str]) -> str:
    """The folder every file sits in when the zip wraps the export in one (``export/channels.json`` …)."""
    for n in names:
        if PurePosixPath(n).name in ("users.json", "channels.json"):
            parent = str(PurePosixPath(n).parent)
            return "" if parent == "." else parent + "/"
    return ""


def is_slack(names: list[str]) -> bool:
    base = {PurePosixPath(n).name for n in names}
    return "users.json" in base and bool(base & set(_LISTS))


def parse(ctx: Context) -> Iterator[Event]:
    """Events of a Slack workspace export."""
    archive = _Archive(ctx)
    try:
        names = archive.names
        if "users.json" not in names:
            raise ctx.error("not_slack", expected="users.json and channels.json")
        users: dict[str, str] = {}
        for u in _list(ctx, archive.json("users.json"), "users.json"):
            profile = fields(u.get("profile"))
            users[str(u.get("id"))] = str(
                profile.get("display_name") or u.get("real_name") or profile.get("real_name") or u.get("name") or ""
            )
        folders: dict[str, tuple[str, str]] = {}  # folder → (channel id, name)
        for listing in _LISTS:
            if listing not in names:
                continue
            for c in _list(ctx, archive.json(listing), listing):
                cid = str(c.get("id") or "")
                if not cid:
                    continue
                name = str(c.get("name") or cid)
                folders[name] = (cid, name)
                folders.setdefault(cid, (cid, name))
        days: dict[str, list[str]] = {}
        for n in names:
            parts = n.split("/")
            if len(parts) == 2 and _DAY.match(parts[1]):
                days.setdefault(parts[0], []).append(parts[1])
        for folder in sorted(days):
            cid, cname = folders.get(folder, (folder, folder))
            chat = ctx.chat(PLATFORM, cid, cname)
            if not ctx.wanted(chat):
                continue
            for day in sorted(days[folder]):
                path = f"{folder}/{day}"
                for i, m in enumerate(_list(ctx, archive.json(path), path)):
                    ctx.where = f"{path}: message {i + 1}"
                    yield from _message(ctx, cid, users, m)
    finally:
        archive.close()


def _list(ctx: Context, data: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list):
        raise ctx.error("bad_json", where=name, expected="a list")
    return [x for x in data if isinstance(x, Mapping)]


def _ts(ctx: Context, value: Any) -> tuple[str, Any]:
    try:
        ts = str(value)
        return ts, from_unix(float(ts))
    except (TypeError, ValueError, OverflowError):
        raise ctx.error("bad_time", value=str(value), expected="a Slack ts like 1452988821.000002") from None


def _message(ctx: Context, channel: str, users: Mapping[str, str], m: Mapping[str, Any]) -> Iterator[Event]:
    if m.get("type", "message") != "message":
        return
    ts, at = _ts(ctx, m.get("ts"))
    subtype = m.get("subtype")
    raw_user = str(m.get("user") or m.get("bot_id") or "")
    actor = ctx.mask_id(raw_user)
    name = ctx.mask_text(users.get(raw_user) or str(m.get("username") or raw_user))
    eid = platform_id(PLATFORM, channel, "m", ts)
    if subtype in _JOINS:
        inviter = str(m.get("inviter") or "")
        yield Join(
            id=eid, at=at, platform=PLATFORM, group=channel, actor=actor, actor_name=name,
            method=JoinMethod.INVITED if inviter else JoinMethod.SELF, inviter=ctx.mask_id(inviter),
        )  # fmt: skip
        return
    if subtype in _LEAVES:
        yield Leave(
            id=eid, at=at, platform=PLATFORM, group=channel, actor=actor, actor_name=name,
            reason=LeaveReason.VOLUNTARY,
        )  # fmt: skip
        return
    text = str(m.get("text") or "")
    if not text and isinstance(m.get("attachments"), list):
        text = "\n".join(
            str(a.get("fallback") or a.get("text") or "") for a in m["attachments"] if isinstance(a, Mapping)
        )
    content = ContentKind.TEXT if subtype in _TEXTUAL else ContentKind.SYSTEM
    media = ""
    files = [f for f in (m.get("files") or ([m["file"]] if isinstance(m.get("file"), Mapping) else [])) if f]
    if files and subtype != "file_comment" and isinstance(files[0], Mapping):
        f = files[0]
        mime = str(f.get("mimetype") or "")
        media = str(f.get("name") or f.get("title") or "")
        content = (
            ContentKind.IMAGE
            if mime.startswith("image/")
            else ContentKind.VIDEO
            if mime.startswith("video/")
            else ContentKind.VOICE
            if mime.startswith("audio/")
            else ContentKind.FILE
        )
    thread_ts = str(m.get("thread_ts") or "")
    is_reply = bool(thread_ts) and thread_ts != ts
    deleted = subtype == "tombstone"
    yield Message(
        id=eid,
        at=at,
        platform=PLATFORM,
        group=channel,
        actor=actor,
        actor_name=name,
        message_id=ts,
        content=ContentKind.OTHER if deleted else content,
        text="" if deleted else ctx.mask_text(text),
        reply_to=thread_ts if is_reply else "",
        mentions=tuple(dict.fromkeys(ctx.mask_id(u) for u in _MENTION.findall(text))),
        media=media,
        thread=thread_ts if is_reply else "",
        from_bot=subtype == "bot_message" or bool(m.get("bot_id")),
        extra={"subtype": subtype} if content is ContentKind.SYSTEM else {},
    )
    if deleted:
        yield Delete(id=f"{eid}-del", at=at, platform=PLATFORM, group=channel, message_id=ts)
    edited = m.get("edited")
    if isinstance(edited, Mapping) and edited.get("ts"):
        ets, eat = _ts(ctx, edited["ts"])
        editor = ctx.mask_id(str(edited.get("user") or raw_user))
        yield Edit(
            id=platform_id(PLATFORM, channel, "edit", f"{ts}@{ets}"), at=eat, platform=PLATFORM, group=channel,
            actor=editor, message_id=ts, text=ctx.mask_text(text),
        )  # fmt: skip
    for r in items(m.get("reactions")):
        if not isinstance(r, Mapping):
            continue
        emoji = str(r.get("name") or "")
        reacted = [str(u) for u in items(r.get("users"))]
        for u in reacted:
            yield Reaction(
                id=platform_id(PLATFORM, channel, "reaction", f"{ts}:{emoji}:{u}"), at=at, platform=PLATFORM,
                group=channel, actor=ctx.mask_id(u), actor_name=ctx.mask_text(users.get(u, "")), message_id=ts,
                emoji=emoji,
            )  # fmt: skip
        count = r.get("count")
        rest = (count if isinstance(count, int) else 0) - len(reacted)
        if rest > 0:
            yield Reaction(
                id=platform_id(PLATFORM, channel, "reactions", f"{ts}:{emoji}"), at=at, platform=PLATFORM,
                group=channel, message_id=ts, emoji=emoji, extra={"count": rest},
            )  # fmt: skip
