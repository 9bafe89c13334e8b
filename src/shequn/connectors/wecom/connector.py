"""The WeCom customer-group connector (``platform: wecom``): what WeCom lets an app do with customer groups.

How it works:
    Facts arrive two ways: the callback (``shequn serve``'s ``/wecom/callback``, :func:`handle_callback`) for change
    events, and :meth:`WeComConnector.sync_rosters`, run by ``shequn run`` every ``SHEQUN_WECOM_ROSTER_EVERY``
    seconds (600), which reads every bound group's detail and logs the joins and leaves the callbacks missed (the
    roster kept in the connector's cursors). The same pass rotates the live codes (群活码) this connector made:
    a code points at the groups with room left, and a full one is replaced by the next.

    Sends: a group post is a 群发 (``add_msg_template``) that the group's owner must confirm in WeCom; the outbox keeps
    WeCom's quota (four a month per group, ``platform_limits.yaml``) and hands the fifth to a person.

    Welcomes never go out as 群发: WeCom sends a group's welcome itself once a group welcome template (入群欢迎语素材)
    is attached to the group. :meth:`WeComConnector.sync_welcome` (every roster pass) keeps one template per
    community equal to the welcome policy's text (:mod:`.welcome`: ``{name}`` → ``%NICKNAME%``), its id in the
    cursors (``welcome:<community>``), and opens one staff task per group and template asking the owner to attach it
    (attaching is done in the WeCom client; no API does it). The welcome policy's per-join post is then recorded as
    delivered by the platform (:meth:`WeComConnector.delivered_by_platform`): no API call, no quota used. A named invite
    link is a live code with its ``state`` (attribution: members who join through it carry the state). WeCom gives
    apps no way to remove, mute, ban or delete in a customer group, so the connector does not declare them: the
    outbox makes them staff tasks for the owner.

Environment: ``SHEQUN_WECOM_CORP_ID``, ``SHEQUN_WECOM_SECRET`` (the customer-contact secret), optionally
``SHEQUN_WECOM_API`` (base URL), ``SHEQUN_WECOM_ROSTER_EVERY``, ``SHEQUN_WECOM_GROUP_CAPACITY`` (200: when a live code
moves on). The callback takes ``SHEQUN_WECOM_TOKEN`` and ``SHEQUN_WECOM_AES_KEY`` (see :mod:`shequn.web.wecom`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar

import orjson

from shequn.connectors.base import Connector, EventSink, SendResult, sends
from shequn.connectors.wecom.api import WeComAPI
from shequn.connectors.wecom.crypto import CallbackCrypto, CallbackError
from shequn.connectors.wecom.events import change_events, next_live_code_groups, parse_xml, roster_diff
from shequn.connectors.wecom.welcome import WelcomeTemplate, to_wecom
from shequn.domain import Action, ActionKind, Event, OpenStaffTask, UserError
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError

ActionSink = Callable[[Sequence[Action]], None]

log = logging.getLogger("shequn.connectors.wecom")


class WeComConnector(Connector):
    platform = "wecom"

    def __init__(self, api: WeComAPI, *, roster_every: float = 600.0, capacity: int = 200) -> None:
        self.api = api
        self.roster_every = roster_every
        self.capacity = capacity
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.stats = {"roster_passes": 0, "missed_joins": 0, "missed_leaves": 0, "rotations": 0}
        self.stats |= {"welcome_templates": 0, "welcome_edits": 0, "welcome_tasks": 0, "welcomes_by_platform": 0}
        self.welcomes: list[WelcomeTemplate] = []
        self.actions: ActionSink | None = None  # where staff tasks go (``shequn run``: the outbox)
        self._checked: set[str] = set()  # templates compared with WeCom's copy in this process

    def configure(self, welcomes: Sequence[WelcomeTemplate], actions: ActionSink | None) -> None:
        """The communities' welcomes to keep as templates, and where to put the staff tasks this connector opens."""
        self.welcomes = list(welcomes)
        self.actions = actions

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WeComConnector:
        missing = [k for k in ("SHEQUN_WECOM_CORP_ID", "SHEQUN_WECOM_SECRET") if not env.get(k)]
        if missing:
            raise UserError(f"the WeCom connector needs {', '.join(missing)}", exit_code=2)
        api = WeComAPI(
            env["SHEQUN_WECOM_CORP_ID"],
            env["SHEQUN_WECOM_SECRET"],
            base_url=env.get("SHEQUN_WECOM_API", "https://qyapi.weixin.qq.com"),
        )
        return cls(
            api,
            roster_every=float(env.get("SHEQUN_WECOM_ROSTER_EVERY", "600")),
            capacity=int(env.get("SHEQUN_WECOM_GROUP_CAPACITY", "200")),
        )

    def __repr__(self) -> str:
        return f"WeComConnector({self.api.corp_id!r})"

    async def start(self, sink: EventSink) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(sink), name="wecom-roster")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.api.close()

    async def _loop(self, sink: EventSink) -> None:
        while not self._stopping.is_set():
            try:
                await self.sync_rosters(sink)
            except Exception as exc:
                log.warning("wecom roster sync failed (%s); next pass in %.0f s", type(exc).__name__, self.roster_every)
            try:
                await self.sync_welcome()
            except Exception as exc:
                log.warning("wecom welcome template sync failed (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.roster_every)

    # -- rosters and live codes ------------------------------------------------------------------------------

    async def sync_rosters(self, sink: EventSink, now: datetime | None = None) -> dict[str, int]:
        """Read every bound group's detail; log what the callbacks missed; rotate the live codes. Sizes by group."""
        now = now or datetime.now(UTC)
        bound = self.bound_groups
        chats = sorted(bound) if bound is not None else await self.api.group_ids()
        sizes: dict[str, int] = {}
        for chat in chats:
            detail = await self.api.group(chat)
            known = orjson.loads(self.cursors.get(f"roster:{chat}") or "null")
            members = [str(m.get("userid", "")) for m in detail.get("member_list") or []]
            if known is not None:  # the first pass takes the roster as it is (history is an import's job)
                diff = roster_diff(chat, known, detail, now)
                for event in [*diff.joined, *diff.left]:
                    await sink(event)
                self.stats["missed_joins"] += len(diff.joined)
                self.stats["missed_leaves"] += len(diff.left)
            self.cursors.put(f"roster:{chat}", orjson.dumps(sorted(members)).decode())
            if detail.get("owner"):
                self.cursors.put(f"owner:{chat}", str(detail["owner"]))
            sizes[chat] = len(members)
        await self.rotate_live_codes(sizes)
        self.stats["roster_passes"] += 1
        return sizes

    async def rotate_live_codes(self, sizes: Mapping[str, int]) -> None:
        for config_id in orjson.loads(self.cursors.get("live_codes") or "[]"):
            entry = orjson.loads(self.cursors.get(f"live_code:{config_id}") or "{}")
            groups: list[str] = entry.get("groups", [])
            chosen = next_live_code_groups(groups, sizes, self.capacity)
            if chosen and chosen != entry.get("current"):
                await self.api.update_join_way(config_id, chosen, entry.get("state", ""), entry.get("name", ""))
                entry["current"] = chosen
                self.cursors.put(f"live_code:{config_id}", orjson.dumps(entry).decode())
                self.stats["rotations"] += 1

    # -- the welcome template -------------------------------------------------------------------------------

    async def sync_welcome(self, now: datetime | None = None) -> dict[str, str]:
        """Create or edit each community's welcome template and ask for it to be attached; template ids by community."""
        now = now or datetime.now(UTC)
        out: dict[str, str] = {}
        for w in self.welcomes:
            text, dropped = to_wecom(w.template, w.community)
            if not text:
                log.warning("wecom: the welcome of %s has nothing WeCom can send (needs %s)", w.community, dropped)
                continue
            entry = orjson.loads(self.cursors.get(f"welcome:{w.community}") or "{}")
            template_id = str(entry.get("template_id", ""))
            if template_id and template_id not in self._checked:
                template_id = await self._still_there(template_id)
            if not template_id:
                template_id = await self.api.add_welcome_template(text)
                self.stats["welcome_templates"] += 1
            elif entry.get("text") != text:
                await self.api.edit_welcome_template(template_id, text)
                self.stats["welcome_edits"] += 1
            self._checked.add(template_id)
            if entry.get("text") != text or entry.get("template_id") != template_id:
                if dropped:
                    log.info(
                        "wecom: the welcome template of %s leaves out the sentences with %s (WeCom fills only "
                        "%%NICKNAME%%)",
                        w.community,
                        ", ".join("{" + d + "}" for d in dropped),
                    )
                entry = {"template_id": template_id, "text": text, "dropped": dropped}
                self.cursors.put(f"welcome:{w.community}", orjson.dumps(entry).decode())
            out[w.community] = template_id
            self._ask_to_attach(w, template_id, text, dropped, now)
        return out

    async def _still_there(self, template_id: str) -> str:
        """``template_id`` if WeCom still has it ("" when someone deleted it in the admin console)."""
        try:
            await self.api.get_welcome_template(template_id)
        except PermanentSendError:
            return ""
        return template_id

    def _ask_to_attach(
        self, w: WelcomeTemplate, template_id: str, text: str, dropped: list[str], now: datetime
    ) -> None:
        for chat in w.groups:
            if self.cursors.get(f"welcome_attach:{chat}") == template_id or self.actions is None:
                continue
            owner = self.cursors.get(f"owner:{chat}") or ""
            fields = ", ".join("{" + d + "}" for d in dropped)
            note = t("connectors.wecom.welcome_dropped", w.locale, fields=fields) if dropped else ""
            task = OpenStaffTask(
                key=f"wecom:welcome_template:{chat}:{template_id}",
                at=now,
                community=w.community,
                platform=self.platform,
                group=chat,
                target=owner,
                policy="welcome",
                title=t("connectors.wecom.attach_welcome", w.locale, community=w.community),
                instructions=t("connectors.wecom.attach_welcome_how", w.locale, text=text, note=note),
                extra={"template_id": template_id},
            )
            self.actions([task])
            self.cursors.put(f"welcome_attach:{chat}", template_id)
            self.stats["welcome_tasks"] += 1

    def delivered_by_platform(self, action: Action) -> bool:
        """The welcome policy's posts: WeCom sends them itself through the group's welcome template."""
        return action.kind is ActionKind.POST and action.policy == "welcome"

    # -- sending --------------------------------------------------------------------------------------------

    @sends(ActionKind.POST)
    async def _mass_post(self, action: Action) -> SendResult:
        if self.delivered_by_platform(action):
            self.stats["welcomes_by_platform"] += 1
            community = action.community
            entry = orjson.loads(self.cursors.get(f"welcome:{community}") or "{}") if community else {}
            return SendResult(
                detail={
                    "delivered_by": "platform",
                    "via": "group_welcome_template",
                    "template_id": str(entry.get("template_id", "")),
                    "attach_asked": self.cursors.get(f"welcome_attach:{action.group}") is not None,
                }
            )
        owner = self.cursors.get(f"owner:{action.group}")
        if not owner:
            owner = str((await self.api.group(action.group)).get("owner", ""))
            self.cursors.put(f"owner:{action.group}", owner)
        data = await self.api.add_msg_template(owner, action.group, action.text_or_empty)
        msgid = str(data.get("msgid", ""))
        return SendResult(
            platform_id=msgid, detail={"awaiting_confirmation_by": owner, "fail_list": data.get("fail_list", [])}
        )

    @sends(ActionKind.CREATE_INVITE_LINK)
    async def _live_code(self, action: Action) -> SendResult:
        """A live code (群活码) for the group and the community's other groups after it, with ``state`` = the name."""
        name = str(getattr(action, "name", ""))[:30]
        groups = [action.group, *[str(g) for g in action.extra.get("overflow_groups", [])]]
        config_id = await self.api.add_join_way(groups[:5], name, remark=name)
        detail = await self.api.get_join_way(config_id)
        entry = {"groups": groups, "current": groups[:5], "state": name, "name": name}
        self.cursors.put(f"live_code:{config_id}", orjson.dumps(entry).decode())
        codes = orjson.loads(self.cursors.get("live_codes") or "[]")
        self.cursors.put("live_codes", orjson.dumps([*codes, config_id]).decode())
        return SendResult(platform_id=config_id, detail={"qr_code": detail.get("qr_code", ""), "state": name})

    idempotent_sends: ClassVar[bool] = False


def handle_callback(
    crypto: CallbackCrypto, method: str, params: Mapping[str, str], body: bytes
) -> tuple[int, bytes, list[Event]]:
    """One request to the callback URL: (HTTP status, response body, events to log).

    ``GET`` is the URL verification (answer the decrypted ``echostr``); ``POST`` a change event (answer
    ``success``). Anything that fails the signature, the receive id, the time window or the replay guard is
    refused with 403 and logs nothing.
    """
    sig, ts, nonce = params.get("msg_signature", ""), params.get("timestamp", ""), params.get("nonce", "")
    try:
        if method == "GET":
            return 200, crypto.verify(sig, ts, nonce, params.get("echostr", "")), []
        outer = parse_xml(body)
        message = crypto.verify(sig, ts, nonce, str(outer.get("Encrypt", "")))
        return 200, b"success", change_events(parse_xml(message))
    except CallbackError as exc:
        log.warning("wecom callback refused: %s", exc)
        return 403, b"refused", []
    except ValueError as exc:
        log.warning("wecom callback unreadable: %s", exc)
        return 400, b"unreadable", []
