"""The WeCom customer-group connector (``platform: wecom``): what WeCom lets an app do with customer groups.

How it works:
    Facts arrive two ways: the callback (``shequn serve``'s ``/wecom/callback``, :func:`handle_callback`) for change
    events, and :meth:`WeComConnector.sync_rosters`, run by ``shequn run`` every ``SHEQUN_WECOM_ROSTER_EVERY``
    seconds (600), which reads every bound group's detail and logs the joins and leaves the callbacks missed (the
    roster kept in the connector's cursors). The same pass rotates the live codes (群活码) this connector made:
    a code points at the groups with room left, and a full one is replaced by the next.

    Sends: a group post is a 群发 (``add_msg_template``) that the group's owner must confirm in WeCom; the outbox keeps
    WeCom's quota (four a month per group, ``platform_limits.yaml``) and hands the fifth to a person.

    A 群发 is followed up (:meth:`WeComConnector.follow_up_mass_posts`, every roster pass): ``get_groupmsg_task`` says
    whether the owner sent it and ``get_groupmsg_send_result`` whether it reached the group; once it did, the post is
    logged as the group's message (``from_bot``, at WeCom's ``send_time``, ``extra.wecom = "groupmsg_sent"``). Still
    unconfirmed after ``mass_post_confirm_reminder`` (``platform_limits.yaml``, four hours;
    ``SHEQUN_WECOM_CONFIRM_REMIND_AFTER`` seconds overrides it), WeCom is asked to remind the owner
    (``remind_groupmsg_send``) and a staff task is opened, once per 群发.

    Welcomes never go out as 群发: WeCom sends a group's welcome itself once a group welcome template (入群欢迎语素材)
    is attached to the group. :meth:`WeComConnector.sync_welcome` (every roster pass) keeps one template per
    community equal to the welcome policy's text (:mod:`.welcome`: ``{name}`` → ``%NICKNAME%``), its id in the
    cursors (``welcome:<community>``), and opens one staff task per group and template asking the owner to attach it
    (attaching is done in the WeCom client; no API does it). The welcome policy's per-join post is then recorded as
    delivered by the platform (:meth:`WeComConnector.delivered_by_platform`): no API call, no quota used. A named invite
    link is a live code with its ``state`` (attribution: members who join through it carry the state). WeCom gives
    apps no way to remove, mute, ban or delete in a customer group, nor to answer in one (a 群发 is a broadcast the
    owner confirms, four a month): the connector does not declare the first and hands the second over
    (:meth:`WeComConnector.hands_over`), so they become staff tasks, gathered per group into one batch the owner
    works through in one pass (``batch_staff_tasks``), each item with its evidence.

    Messages come from the chat archive (会话内容存档, :mod:`.archive`) when ``SHEQUN_WECOM_FINANCE_SDK`` names
    WeCom's Finance SDK: a second loop pulls every ``SHEQUN_WECOM_ARCHIVE_EVERY`` seconds (5) from the sequence
    number saved in the cursors, so moderation, check-in, points and the analytics see the groups' messages.

Environment: ``SHEQUN_WECOM_CORP_ID``, ``SHEQUN_WECOM_SECRET`` (the customer-contact secret), optionally
``SHEQUN_WECOM_API`` (base URL), ``SHEQUN_WECOM_ROSTER_EVERY``, ``SHEQUN_WECOM_GROUP_CAPACITY`` (200: when a live code
moves on). The callback takes ``SHEQUN_WECOM_TOKEN`` and ``SHEQUN_WECOM_AES_KEY`` (see :mod:`shequn.web.wecom`). The
archive: ``SHEQUN_WECOM_FINANCE_SDK`` (the library's path), ``SHEQUN_WECOM_ARCHIVE_SECRET``,
``SHEQUN_WECOM_ARCHIVE_KEYS`` (``VERSION=PATH,…``), optionally ``SHEQUN_WECOM_ARCHIVE_EVERY``,
``SHEQUN_WECOM_ARCHIVE_PROXY`` / ``…_PROXY_PASSWORD`` and ``SHEQUN_WECOM_ARCHIVE_TIMEOUT``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar

import orjson

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.connectors.wecom.api import WeComAPI
from shequn.connectors.wecom.archive import ArchivePuller, load_keys
from shequn.connectors.wecom.crypto import CallbackCrypto, CallbackError
from shequn.connectors.wecom.events import change_events, next_live_code_groups, parse_xml, roster_diff
from shequn.connectors.wecom.finance import ARCHIVE_SETTINGS, FinanceError, sdk_from_env
from shequn.connectors.wecom.welcome import WelcomeTemplate, to_wecom
from shequn.domain import Action, ActionKind, Clock, Event, Message, OpenStaffTask, SystemClock, UserError, stable_id
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError
from shequn.playbook import load_playbook

ActionSink = Callable[[Sequence[Action]], None]

log = logging.getLogger("shequn.connectors.wecom")
MASS_RECENT = 20  # 群发 kept to recognise their copies in the archive


class WeComConnector(Connector):
    platform = "wecom"
    batch_staff_tasks: ClassVar[bool] = True

    def __init__(
        self,
        api: WeComAPI,
        *,
        roster_every: float = 600.0,
        capacity: int = 200,
        remind_after: float | None = None,
        clock: Clock | None = None,
        archive: ArchivePuller | None = None,
    ) -> None:
        self.api = api
        self.archive = archive
        self.media_rooms: frozenset[str] = frozenset()
        self._archive_loop = BackgroundLoop()
        self.clock: Clock = clock or SystemClock()
        documented = load_playbook().platform_limits(self.platform).timing("mass_post_confirm_reminder")
        self.remind_after = remind_after if remind_after is not None else float(documented or 14400)
        self.roster_every = roster_every
        self.capacity = capacity
        self._background = BackgroundLoop()
        self.stats = {"roster_passes": 0, "missed_joins": 0, "missed_leaves": 0, "rotations": 0}
        self.stats |= {"mass_confirmed": 0, "mass_failed": 0, "mass_reminded": 0}
        self.stats |= {"welcome_templates": 0, "welcome_edits": 0, "welcome_tasks": 0, "welcomes_by_platform": 0}
        self.welcomes: list[WelcomeTemplate] = []
        self.actions: ActionSink | None = None  # where staff tasks go (``shequn run``: the outbox)
        self._checked: set[str] = set()  # templates compared with WeCom's copy in this process

    def configure(
        self,
        welcomes: Sequence[WelcomeTemplate],
        actions: ActionSink | None,
        *,
        media_rooms: frozenset[str] = frozenset(),
    ) -> None:
        """The communities' welcomes to keep as templates, where to put the staff tasks this connector opens, and the
        rooms whose images a policy reads (the archive fetches those, and only those)."""
        self.welcomes = list(welcomes)
        self.actions = actions
        self.media_rooms = media_rooms

    @classmethod
    def hands_over(cls, action: Action) -> bool:
        """A post that answers something (a check-in, an offence, a command) is a reply WeCom has no API for: a
        person sends it. Scheduled posts stay 群发; the welcome is WeCom's template."""
        return action.kind is ActionKind.POST and bool(action.cause) and action.policy != "welcome"

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
        remind = env.get("SHEQUN_WECOM_CONFIRM_REMIND_AFTER", "")
        try:
            remind_after = float(remind) if remind else None
        except ValueError:
            raise UserError("SHEQUN_WECOM_CONFIRM_REMIND_AFTER: expected seconds, e.g. 14400", exit_code=2) from None
        return cls(
            api,
            roster_every=float(env.get("SHEQUN_WECOM_ROSTER_EVERY", "600")),
            capacity=int(env.get("SHEQUN_WECOM_GROUP_CAPACITY", "200")),
            remind_after=remind_after,
            archive=archive_from_env(env),
        )

    def __repr__(self) -> str:
        return f"WeComConnector({self.api.corp_id!r})"

    async def start(self, sink: EventSink) -> None:
        self._background.start(self._passes(sink), name="wecom-roster")
        if self.archive is not None:
            self._archive_loop.start(self._archive_passes(sink, self.archive), name="wecom-archive")

    async def stop(self) -> None:
        await self._archive_loop.stop()
        await self._background.stop()
        if self.archive is not None:
            self.archive.close()
        await self.api.close()

    async def _archive_passes(self, sink: EventSink, archive: ArchivePuller) -> None:
        while self._archive_loop.running:
            delay = archive.every
            try:
                await archive.pull(sink, self.cursors, self.bound_groups, self.media_rooms.__contains__)
            except FinanceError as exc:  # the message names the setting to look at; the cursor stayed put
                archive.stats["errors"] += 1
                log.error("%s", exc)
                delay = archive.every if exc.retryable else max(archive.every, 60.0)
            except Exception as exc:
                archive.stats["errors"] += 1
                log.warning("wecom archive pull failed (%s: %s)", type(exc).__name__, exc)
            await self._archive_loop.pause(delay)

    async def _passes(self, sink: EventSink) -> None:
        while self._background.running:
            try:
                await self.sync_rosters(sink)
            except Exception as exc:
                log.warning("wecom roster sync failed (%s); next pass in %.0f s", type(exc).__name__, self.roster_every)
            try:
                await self.sync_welcome()
            except Exception as exc:
                log.warning("wecom welcome template sync failed (%s)", type(exc).__name__)
            try:
                await self.follow_up_mass_posts(sink)
            except Exception as exc:
                log.warning("wecom 群发 follow-up failed (%s)", type(exc).__name__)
            await self._background.pause(self.roster_every)

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

    # -- 群发 confirmation -----------------------------------------------------------------------------------

    async def follow_up_mass_posts(self, sink: EventSink) -> dict[str, str]:
        """Check every 群发 waiting for its owner; log the confirmed, remind about the late. Status by msgid."""
        now = self.clock.now()
        waiting: list[str] = orjson.loads(self.cursors.get("mass_pending") or "[]")
        out: dict[str, str] = {}
        for msgid in list(waiting):
            entry = orjson.loads(self.cursors.get(f"mass:{msgid}") or "{}")
            status = await self._mass_status(msgid, entry)
            out[msgid] = status
            if status == "waiting":
                age = now.timestamp() - float(entry.get("sent", now.timestamp()))
                if age >= self.remind_after and not entry.get("reminded"):
                    await self._remind(msgid, entry, now)
                    entry["reminded"] = True
                    self.cursors.put(f"mass:{msgid}", orjson.dumps(entry).decode())
                continue
            if status == "sent":
                at = datetime.fromtimestamp(int(entry.get("send_time") or now.timestamp()), tz=UTC)
                await sink(
                    Message(
                        id=stable_id(self.platform, entry["chat"], "groupmsg", msgid),
                        at=at,
                        platform=self.platform,
                        group=entry["chat"],
                        actor=entry.get("owner", ""),
                        message_id=msgid,
                        text=entry.get("text", ""),
                        from_bot=True,
                        extra={"wecom": "groupmsg_sent", "msgid": msgid, "action": entry.get("key", "")},
                    )
                )
                self.stats["mass_confirmed"] += 1
            else:
                log.warning("wecom 群发 %s did not reach group %s (%s)", msgid, entry.get("chat"), status)
                self.stats["mass_failed"] += 1
            waiting.remove(msgid)  # its entry stays while it is recent: the archive recognises its copy by it
        self.cursors.put("mass_pending", orjson.dumps(waiting).decode())
        return out

    async def _mass_status(self, msgid: str, entry: dict[str, object]) -> str:
        """``waiting`` (the owner has not sent it), ``sent`` (it reached the group) or why it did not."""
        owner = str(entry.get("owner", ""))
        tasks = await self.api.groupmsg_tasks(msgid)
        if not any(int(task.get("status", 0)) == 2 for task in tasks if task.get("userid") == owner):
            return "waiting"
        rows = [r for r in await self.api.groupmsg_results(msgid, owner) if r.get("chat_id") == entry.get("chat")]
        code = int(rows[0].get("status", 0)) if rows else 0
        if code == 1:
            entry["send_time"] = rows[0].get("send_time")
            return "sent"
        return {0: "waiting", 2: "not_a_friend", 3: "quota_used"}.get(code, f"status_{code}")

    async def _remind(self, msgid: str, entry: dict[str, object], now: datetime) -> None:
        try:
            await self.api.remind_groupmsg(msgid)
        except Exception as exc:  # WeCom's own reminder is a courtesy; the staff task is what counts
            log.info("wecom remind_groupmsg_send failed (%s)", type(exc).__name__)
        self.stats["mass_reminded"] += 1
        if self.actions is None:
            return
        chat, owner = str(entry.get("chat", "")), str(entry.get("owner", ""))
        locale = str(entry.get("locale") or "zh-CN")
        hours = f"{self.remind_after / 3600:g}"
        task = OpenStaffTask(
            key=f"wecom:confirm:{msgid}",
            at=now,
            community=str(entry.get("community", "")),
            platform=self.platform,
            group=chat,
            target=owner,
            policy=str(entry.get("policy", "")),
            title=t("connectors.wecom.confirm_reminder", locale, owner=owner, hours=hours),
            instructions=t("connectors.wecom.confirm_how", locale, text=str(entry.get("text", ""))[:200]),
            extra={"msgid": msgid},
        )
        self.actions([task])

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
        if msgid:
            entry = {
                "chat": action.group,
                "owner": owner,
                "sent": self.clock.now().timestamp(),
                "key": action.key,
                "text": action.text_or_empty[:500],
                "community": action.community,
                "policy": action.policy,
            }
            self.cursors.put(f"mass:{msgid}", orjson.dumps(entry).decode())
            waiting = [*orjson.loads(self.cursors.get("mass_pending") or "[]"), msgid]
            self.cursors.put("mass_pending", orjson.dumps(waiting).decode())
            recent = [*orjson.loads(self.cursors.get("mass_recent") or "[]"), msgid]
            for old in recent[:-MASS_RECENT]:
                if old not in waiting:
                    self.cursors.put(f"mass:{old}", None)
            self.cursors.put("mass_recent", orjson.dumps(recent[-MASS_RECENT:]).decode())
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


def archive_from_env(env: Mapping[str, str]) -> ArchivePuller | None:
    """The chat archive's puller when ``SHEQUN_WECOM_FINANCE_SDK`` is set (None: the connector sees no messages)."""
    if not env.get("SHEQUN_WECOM_FINANCE_SDK"):
        if env.get("SHEQUN_WECOM_ARCHIVE_SECRET") or env.get("SHEQUN_WECOM_ARCHIVE_KEYS"):
            raise FinanceError(
                t("archive.settings_missing", None, names="SHEQUN_WECOM_FINANCE_SDK"),
                setting="SHEQUN_WECOM_FINANCE_SDK",
            )
        return None
    limits = load_playbook().platform_limits("wecom")
    try:
        every = float(env.get("SHEQUN_WECOM_ARCHIVE_EVERY") or limits.timing("archive_pull_every") or 5)
    except ValueError:
        raise FinanceError(
            t("archive.bad_number", None, name="SHEQUN_WECOM_ARCHIVE_EVERY"), setting="SHEQUN_WECOM_ARCHIVE_EVERY"
        ) from None
    missing = [k for k in ARCHIVE_SETTINGS if not env.get(k)]
    if missing:
        raise FinanceError(t("archive.settings_missing", None, names=", ".join(missing)), setting=missing[0])
    keys = load_keys(env["SHEQUN_WECOM_ARCHIVE_KEYS"])
    sdk = sdk_from_env(env)
    return ArchivePuller(sdk, keys, every=every, call_gap=float(limits.timing("archive_call_gap") or 1))


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
