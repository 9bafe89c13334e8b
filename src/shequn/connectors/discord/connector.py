"""The Discord connector (``platform: discord``): a bot on Discord's gateway and REST API through discord.py.

How it works:
    discord.py holds the gateway (identify with the intents below, heartbeats, RESUME after a drop, in which Discord
    replays what was missed) and the REST client (per-route buckets read from the ``X-RateLimit-*`` headers, a 429
    waited out when short). Groups are text channels; a thread's messages belong to its parent channel (the
    importer's ids, :mod:`.events`). A new session (first start, a restart, a session Discord would not resume)
    fills the gap before live messages are handed on: each bound channel (and its active threads) is read from the
    last message handed on (``GET /channels/{id}/messages?after=``, cursor ``seen:<channel>``), deduplicated by id.
    The first time a server is seen its members become roster joins (``GET /guilds/{id}/members``).

    Sends: posts, replies and public warnings are channel messages (with a nonce, so a resend within minutes is not
    posted twice); private warnings and messages a DM; ``delete_message`` deletes; ``mute`` of one member is a
    timeout (at most 28 days), of a whole channel (a guest talk) an ``@everyone`` overwrite denying ``Send Messages``;
    ``remove`` kicks and ``ban`` bans from the server; the announcement is the channel topic; a pinned post is pinned.
    What the bot may not do becomes a staff task with Discord's reason: missing permissions (50013), missing access
    (50001), a member whose DMs are closed (50007). A rate limit longer than discord.py waits out by itself becomes
    ``RetryAfterError`` with Discord's ``retry_after``.

    The operators' commands are slash commands (``/tasks``, ``/approve``, ``/reject``) registered in each server with
    a bound channel; used in an admin channel, they become the same ``!tasks`` … messages the chat commands are, and
    the answer comes back as the interaction's follow-up. With ``SHEQUN_DISCORD_AUTOMOD=1`` the moderation's
    ``forbidden`` words of the communities bound to a server are mirrored into one AutoMod keyword rule ("shequn"),
    so Discord blocks those messages before shequn has to delete them. Level roles: once a minute each member is given
    the server role named like their level's title (and the previous level's is taken), where the server has one.

Things to keep in mind:
    * Privileged intents: ``Server Members`` and ``Message Content`` must be enabled in the developer portal, or the
      gateway closes with 4014 (logged with what to do).
    * The token never reaches a log line or an error (``repr`` leaves it out).
    * Kicks, bans and timeouts are server-wide on Discord: a channel's community acts on the whole server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import yarl
from discord import app_commands

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.connectors.discord import events
from shequn.connectors.discord.events import PLATFORM, place
from shequn.domain import Action, ActionKind, Event, Message, UserError, stable_id
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.discord")

MAX_TIMEOUT = timedelta(days=28)  # Discord's longest timeout (communication_disabled_until)
TOPIC_LIMIT = 1024
MESSAGE_LIMIT = 2000
AUTOMOD_RULE = "shequn"
AUTOMOD_KEYWORDS, AUTOMOD_KEYWORD_LEN, AUTOMOD_REGEXES, AUTOMOD_REGEX_LEN = 1000, 60, 10, 260
_REFUSED = {50001: "missing_access", 50013: "missing_permissions", 50007: "cannot_dm", 50035: "invalid"}
_GONE = {10003, 10007, 10008, 10013}  # unknown channel, member, message, user
_REGEX_CHARS = re.compile(r"[\\^$.|?*+()\[\]{}]")


def intents() -> discord.Intents:
    """What the bot subscribes to: servers, members (privileged), messages with their content (privileged), reactions,
    moderation (bans), DMs (a rules acceptance)."""
    wanted = discord.Intents.none()
    wanted.guilds = wanted.members = wanted.moderation = True
    wanted.guild_messages = wanted.message_content = wanted.guild_reactions = wanted.dm_messages = True
    return wanted


class DiscordConnector(Connector):
    """A Discord bot; group ids are channel ids.

    Environment (``shequn run``): ``SHEQUN_DISCORD_TOKEN`` (the bot token, required), ``SHEQUN_DISCORD_AUTOMOD``
    (``1``: mirror the forbidden words into AutoMod), ``SHEQUN_DISCORD_API`` (another REST base, e.g. a rate-limit
    proxy; default Discord's ``https://discord.com/api/v10``).
    """

    platform = PLATFORM

    def __init__(
        self,
        *,
        token: str,
        api: str = "",
        automod: bool = False,
        history_limit: int = 2000,
        backoff: tuple[float, float] = (1.0, 60.0),
        roles_every: float = 60.0,
    ) -> None:
        if not token.strip():
            raise UserError(t("connectors.discord.config.token", None), exit_code=2)
        if api and not api.startswith(("http://", "https://")):
            raise UserError(t("connectors.discord.config.api", None, value=api), exit_code=2)
        self._token = token.strip()
        self.api = api.rstrip("/")
        self.automod = automod
        self.history_limit = history_limit
        self.backoff = backoff
        self.staff_locale: str | None = None
        self.forbidden: dict[str, tuple[str, ...]] = {}  # channel → its community's forbidden words (AutoMod)
        self.admin_groups: frozenset[str] = frozenset()  # channels where the operators' commands are taken
        self.levels: Callable[[], tuple[Mapping[str, str], frozenset[str]]] | None = None
        self.roles_every = roles_every
        self._roles_loop = BackgroundLoop()
        self.stats = {"sessions": 0, "events": 0, "repeats": 0, "gap_filled": 0, "roster": 0, "automod": 0}
        self.client: _Client | None = None
        self._sink: EventSink | None = None
        self._background = BackgroundLoop()
        self._live = asyncio.Event()  # set once a session's gap is filled: live messages wait for it
        self._gate = asyncio.Lock()
        self._seen: dict[str, None] = {}
        self._interactions: dict[str, tuple[discord.Interaction, float]] = {}  # command event id → interaction
        self._removing: set[tuple[int, int]] = set()  # (guild, user) the bot is kicking or banning
        self._synced: set[int] = set()  # servers whose slash commands were registered this run

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordConnector:
        return cls(
            token=env.get("SHEQUN_DISCORD_TOKEN", ""),
            api=env.get("SHEQUN_DISCORD_API", ""),
            automod=env.get("SHEQUN_DISCORD_AUTOMOD", "").strip().lower() in ("1", "true", "yes", "on"),
        )

    def __repr__(self) -> str:  # never the token
        return f"DiscordConnector({self.api or 'discord.com'})"

    def configure(
        self,
        *,
        forbidden: Mapping[str, tuple[str, ...]],
        admin_groups: frozenset[str],
        locale: str,
        levels: Callable[[], tuple[Mapping[str, str], frozenset[str]]] | None = None,
    ) -> None:
        """What the workspace tells it (``shequn run``): forbidden words per channel, the admin channels, the
        language of the reasons its staff tasks carry, and where to read each member's level title (user id →
        title, and every title) for the level roles."""
        self.forbidden = dict(forbidden)
        self.admin_groups = admin_groups
        self.staff_locale = locale
        self.levels = levels

    def bot_of(self, action: Action) -> str:
        return self._bot_id() or "default"

    def _bot_id(self) -> str:
        user = self.client.user if self.client is not None else None
        return str(user.id) if user is not None else ""

    # -- the session ----------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.api:
            discord.http.Route.BASE = self.api  # one Discord connector per process
        self._background.start(self._run(), name="discord-gateway")
        if self.levels is not None:
            self._roles_loop.start(self._roles(), name="discord-level-roles")

    async def stop(self) -> None:
        await self._roles_loop.stop()
        if self.client is not None:
            await self.client.close()
        await self._background.stop()

    async def wait_live(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._live.wait(), timeout)
        return self._live.is_set()

    async def _run(self) -> None:
        """Log in and hold the gateway (discord.py reconnects and resumes); start over after a failure it gives up
        on, except a refused token or intents, which no retry mends."""
        delay = self.backoff[0]
        while self._background.running:
            client = self.client = _Client(self)
            try:
                await client.login(self._token)
                if self.api:  # the gateway that REST base names (discord.py dials Discord's own by default)
                    _, url, _ = await client.http.get_bot_gateway()
                    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
                await client.connect(reconnect=True)
                return
            except asyncio.CancelledError:
                raise
            except discord.LoginFailure:
                log.error("discord: the bot token was refused (401); check SHEQUN_DISCORD_TOKEN")
                return
            except discord.PrivilegedIntentsRequired:
                log.error(
                    "discord: the gateway refused the intents (4014): enable Server Members Intent and Message "
                    "Content Intent for the bot in the developer portal"
                )
                return
            except Exception as exc:  # network, Discord outage: logged, and tried again
                log.warning("discord: the connection failed (%s); retrying in %.0f s", type(exc).__name__, delay)
            finally:
                if not client.is_closed():
                    await client.close()
            await self._background.pause(delay)
            delay = min(delay * 2, self.backoff[1])

    def _bound(self) -> frozenset[str]:
        bound = self.bound_groups
        if bound is not None:
            return bound
        assert self.client is not None
        return frozenset(str(c.id) for g in self.client.guilds for c in g.text_channels)

    def _guilds(self) -> list[discord.Guild]:
        """The servers with a bound channel."""
        assert self.client is not None
        bound = self._bound()
        return [g for g in self.client.guilds if any(str(c.id) in bound for c in g.text_channels)]

    async def _on_connect(self) -> None:
        self._live.clear()  # a new session: live messages wait until the gap is filled

    async def _on_ready(self) -> None:
        assert self.client is not None
        self.stats["sessions"] += 1
        log.info("discord: connected as %s to %d server(s)", self.client.user, len(self.client.guilds))
        try:
            async with self._gate:
                for guild in self._guilds():
                    await self._setup(guild)
                for channel in self._channels_to_fill():
                    await self._fill(channel)
        finally:
            self._live.set()

    async def _setup(self, guild: discord.Guild) -> None:
        assert self.client is not None
        if guild.id not in self._synced:
            try:
                self.client.tree.copy_global_to(guild=guild)
                await self.client.tree.sync(guild=guild)
                self._synced.add(guild.id)
            except discord.HTTPException as exc:
                log.warning("discord: cannot register the slash commands in server %s: %s", guild.id, _code(exc))
        if self.automod:
            await self._mirror_automod(guild)
        if not self.cursors.get(f"roster:{guild.id}"):
            await self._roster(guild)

    def _channels_to_fill(self) -> list[Any]:
        assert self.client is not None
        bound: frozenset[str] = self._bound()
        out: list[Any] = []
        for guild in self._guilds():
            out += [c for c in guild.text_channels if str(c.id) in bound]
            out += [th for th in guild.threads if str(th.parent_id) in bound]
        return out

    async def _roster(self, guild: discord.Guild) -> None:
        home = events.home_channel(guild, self._bound())
        now = datetime.now(UTC)
        assert self._sink is not None and self.client is not None
        try:
            async for member in guild.fetch_members(limit=None):
                if member.bot:
                    continue
                await self._sink(events.roster_join(home, member, now))
                self.stats["roster"] += 1
        except discord.HTTPException as exc:
            log.warning("discord: cannot list the members of server %s: %s", guild.id, _code(exc))
            return
        self.cursors.put(f"roster:{guild.id}", str(int(now.timestamp())))

    async def _fill(self, channel: Any) -> None:
        """Hand on the channel's messages after the last one handed on (none on first sight: history is imported)."""
        saved = self.cursors.get(f"seen:{channel.id}")
        if not saved:
            return
        group, thread = place(channel)
        count = 0
        try:
            async for m in channel.history(
                limit=self.history_limit, after=discord.Object(int(saved)), oldest_first=True
            ):
                count += 1
                event = self._message_event(m, group, thread)
                if event is not None:
                    before = self.stats["events"]
                    await self._hand_on(event, channel.id, m.id)
                    self.stats["gap_filled"] += self.stats["events"] - before
        except discord.HTTPException as exc:
            log.warning("discord: cannot fill the gap in channel %s: %s", channel.id, _code(exc))
        if count >= self.history_limit:
            log.warning("discord: the gap in channel %s is longer than %d messages", channel.id, self.history_limit)

    # -- receiving ------------------------------------------------------------------------------------------

    def _message_event(self, m: discord.Message, group: str, thread: str) -> Message | None:
        assert self.client is not None
        if self.client.user is not None and m.author.id == self.client.user.id:
            return None  # what the bot said is in the outbox already
        return events.message(m, group, thread)

    async def _hand_on(self, event: Event, channel_id: int = 0, message_id: int = 0) -> None:
        assert self._sink is not None
        if isinstance(event, Message) and message_id:
            if event.id in self._seen:
                self.stats["repeats"] += 1
                return
            await self._sink(event)
            self._seen[event.id] = None
            if len(self._seen) > 20_000:
                self._seen.pop(next(iter(self._seen)))
            saved = self.cursors.get(f"seen:{channel_id}")
            if not saved or int(saved) < message_id:  # snowflakes grow with time
                self.cursors.put(f"seen:{channel_id}", str(message_id))
        else:
            await self._sink(event)
        self.stats["events"] += 1

    async def _on_message(self, m: discord.Message) -> None:
        if m.guild is None:
            await self._on_direct(m)
            return
        group, thread = place(m.channel)
        if group not in self._bound():
            return
        event = self._message_event(m, group, thread)
        if event is None:
            return
        await self._live.wait()
        async with self._gate:
            await self._hand_on(event, m.channel.id, m.id)

    async def _on_direct(self, m: discord.Message) -> None:
        if m.author.bot:
            return
        event = events.rules_accepted(m, self.cursors.get(f"dm:{m.author.id}") or "")
        if event is not None:
            await self._hand_on(event)

    def _group_of(self, channel_id: int | None) -> tuple[str, str]:
        assert self.client is not None
        channel = self.client.get_channel(channel_id or 0)
        return place(channel) if channel is not None else (str(channel_id), "")

    async def _on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        group, _ = self._group_of(payload.channel_id)
        data = payload.data
        author = data.get("author") or {}
        edited = data.get("edited_timestamp")
        if group not in self._bound() or not edited or "content" not in data or author.get("bot"):
            return
        name = str(author.get("global_name") or author.get("username") or "")
        if payload.message is not None:
            name = events.name_of(payload.message.author)
        when = datetime.fromisoformat(str(edited))
        event = events.edit(group, str(payload.message_id), str(author.get("id", "")), name, data["content"], when)
        await self._hand_on(event)

    async def _on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        group, _ = self._group_of(payload.channel_id)
        if group in self._bound():
            await self._hand_on(events.delete(group, str(payload.message_id), datetime.now(UTC)))

    async def _on_raw_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        group, _ = self._group_of(payload.channel_id)
        assert self.client is not None
        mine = self.client.user is not None and payload.user_id == self.client.user.id
        if group not in self._bound() or mine:
            return
        emoji = str(payload.emoji.name or payload.emoji.id or "")
        name = events.name_of(payload.member) if payload.member is not None else ""
        removed = payload.event_type == "REACTION_REMOVE"
        now = datetime.now(UTC)
        await self._hand_on(
            events.reaction(group, str(payload.message_id), str(payload.user_id), name, emoji, now, removed)
        )

    async def _on_member_join(self, member: discord.Member) -> None:
        self.cursors.put(f"role:{member.guild.id}:{member.id}", None)  # a returning member gets their level role
        home = events.home_channel(member.guild, self._bound())
        if home and not member.bot:
            await self._hand_on(events.join(home, member))

    async def _on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        assert self.client is not None
        guild = self.client.get_guild(payload.guild_id)
        home = events.home_channel(guild, self._bound()) if guild is not None else ""
        if not home or payload.user.bot:
            return
        ours = (payload.guild_id, payload.user.id) in self._removing
        self._removing.discard((payload.guild_id, payload.user.id))
        by = self._bot_id() if ours else ""
        await self._hand_on(events.leave(home, payload.user, datetime.now(UTC), removed_by=by))

    async def _command(self, interaction: discord.Interaction, verb: str, number: int | None) -> None:
        """A slash command: the same message the chat command is, answered through the interaction."""
        locale = self.staff_locale or "zh-CN"
        group, thread = place(interaction.channel) if interaction.channel is not None else ("", "")
        if group not in self.admin_groups:
            await interaction.response.send_message(t("connectors.discord.not_admin_channel", locale), ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        event = Message(
            id=stable_id(PLATFORM, group, "command", str(interaction.id)),
            at=interaction.created_at.astimezone(UTC),
            platform=PLATFORM,
            group=group,
            actor=str(interaction.user.id),
            actor_name=events.name_of(interaction.user),
            message_id=str(interaction.id),
            text=f"!{verb} {number}" if number is not None else f"!{verb}",
            thread=thread,
            extra={"slash_command": verb},
        )
        self._interactions[event.id] = (interaction, asyncio.get_running_loop().time())
        await self._hand_on(event)

    # -- level roles ----------------------------------------------------------------------------------------

    async def _roles(self) -> None:
        """Every ``roles_every`` seconds once live: each member holds the role named like their level's title."""
        while self._roles_loop.running:
            if self._live.is_set():
                try:
                    await self.sync_level_roles()
                except Exception:  # a failed pass is retried at the next one
                    log.exception("discord: the level roles pass failed")
            await self._roles_loop.pause(self.roles_every)

    async def sync_level_roles(self) -> int:
        """Give each member the role named like their level's title (and take the previous level's); a server
        without a role of that name is left alone. Returns the changes made."""
        if self.levels is None or self.client is None:
            return 0
        held, titles = self.levels()
        changes = 0
        for guild in self._guilds():
            roles = {r.name: r for r in guild.roles if r.name in titles}
            for user, title in held.items():
                cursor = f"role:{guild.id}:{user}"
                had = self.cursors.get(cursor)
                if had == title or title not in roles:
                    continue
                try:
                    await self.client.http.add_role(guild.id, int(user), roles[title].id, reason="shequn: level")
                    if had and had in roles:
                        await self.client.http.remove_role(guild.id, int(user), roles[had].id, reason="shequn: level")
                except discord.HTTPException as exc:
                    if exc.code != 10007:  # 10007: not a member of this server (asked again when they join)
                        log.warning("discord: cannot set the level role in server %s: %s", guild.id, _code(exc))
                        continue
                self.cursors.put(cursor, title)
                changes += 1
        return changes

    # -- AutoMod ----------------------------------------------------------------------------------------------

    async def _mirror_automod(self, guild: discord.Guild) -> None:
        """One keyword rule named "shequn" holding the forbidden words of the server's bound channels."""
        words = sorted({w for c in guild.text_channels for w in self.forbidden.get(str(c.id), ())})
        keywords, regexes, left = automod_trigger(words)
        if left:
            log.warning("discord: %d forbidden word(s) exceed AutoMod's limits in server %s", len(left), guild.id)
        try:
            rules = [r for r in await guild.fetch_automod_rules() if r.name == AUTOMOD_RULE]
            trigger = discord.AutoModTrigger(
                type=discord.AutoModRuleTriggerType.keyword, keyword_filter=keywords, regex_patterns=regexes
            )
            enabled = bool(keywords or regexes)
            if rules:
                await rules[0].edit(trigger=trigger, enabled=enabled, reason="shequn: moderation.forbidden")
            elif enabled:
                message = t("connectors.discord.automod_blocked", self.staff_locale or "zh-CN")
                await guild.create_automod_rule(
                    name=AUTOMOD_RULE,
                    event_type=discord.AutoModRuleEventType.message_send,
                    trigger=trigger,
                    actions=[discord.AutoModRuleAction(custom_message=message[:150])],
                    enabled=True,
                    reason="shequn: moderation.forbidden",
                )
            self.stats["automod"] += 1
        except discord.HTTPException as exc:
            log.warning(
                "discord: cannot keep the AutoMod rule of server %s (needs Manage Server): %s", guild.id, _code(exc)
            )

    # -- sending --------------------------------------------------------------------------------------------

    async def _rest(self, what: str, call: Callable[[], Any], group: str = "") -> Any:
        """Run one REST call and say how it failed the way the outbox understands."""
        if self.client is None or self.client.user is None:
            raise RetryAfterError(self.backoff[0] * 5, scope="bot", message="discord: not connected yet")
        try:
            return await call()
        except discord.RateLimited as exc:  # longer than discord.py waits out by itself
            raise RetryAfterError(exc.retry_after, scope="bot", message=f"discord: {what}: rate limited") from None
        except discord.HTTPException as exc:
            raise self._failure(what, exc, group) from None

    def _failure(self, what: str, exc: discord.HTTPException, group: str) -> Exception:
        if exc.status == 429:
            retry = _retry_after(exc)
            return RetryAfterError(retry, scope="bot", message=f"discord: {what}: 429, retry after {retry:g} s")
        key = _REFUSED.get(exc.code)
        if key is not None or exc.status in (400, 403):
            reason = t(f"connectors.discord.{key or 'refused'}", self.staff_locale or "zh-CN", action=what, group=group)
            return PermanentSendError(f"{reason} ({_code(exc)})")
        if exc.status == 404:
            return PermanentSendError(f"discord: {what}: {_code(exc)}")
        return SendError(f"discord: {what}: {_code(exc)}")

    def _channel(self, group: str) -> Any:
        assert self.client is not None
        channel = self.client.get_channel(int(group)) if group.isdigit() else None
        if channel is None:
            raise PermanentSendError(t("connectors.discord.unknown_channel", self.staff_locale or "zh-CN", group=group))
        return channel

    async def _say(
        self, action: Action, text: str, *, reference: str = "", mentions: tuple[str, ...] = ()
    ) -> SendResult:
        channel = self._channel(action.group)
        body = (" ".join(f"<@{m}>" for m in mentions) + " " + text).strip() if mentions else text
        nonce = stable_id(action.key)[:25]
        allowed = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=True)

        async def send() -> Any:
            if not reference.isdigit():
                return await channel.send(body[:MESSAGE_LIMIT], nonce=nonce, allowed_mentions=allowed)
            ref = discord.MessageReference(message_id=int(reference), channel_id=channel.id, fail_if_not_exists=False)
            return await channel.send(body[:MESSAGE_LIMIT], nonce=nonce, allowed_mentions=allowed, reference=ref)

        sent = await self._rest(action.kind.value, send, action.group)
        return SendResult(platform_id=str(sent.id))

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        pending = self._interactions.pop(action.cause, None) if action.cause else None
        if pending is not None and asyncio.get_running_loop().time() - pending[1] < 14 * 60:
            with contextlib.suppress(discord.HTTPException):  # expired or gone: said in the channel instead
                sent = await pending[0].followup.send(action.text_or_empty[:MESSAGE_LIMIT], wait=True)
                return SendResult(platform_id=str(sent.id), detail={"via": "interaction"})
        mentions = tuple(str(m) for m in getattr(action, "mentions", ()) or ())
        result = await self._say(action, action.text_or_empty, mentions=mentions)
        if getattr(action, "pin", False) and result.platform_id:
            message = self._channel(action.group).get_partial_message(int(result.platform_id))
            try:
                await self._rest("pin", message.pin, action.group)
            except SendError as exc:  # the post is out: retrying the action would post it twice
                log.warning("discord: the post in channel %s is out but not pinned: %s", action.group, exc)
        return result

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        return await self._say(action, action.text_or_empty, reference=str(getattr(action, "message_id", "")))

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if getattr(action, "public", False) or not action.target:
            return await self._say(action, action.text_or_empty, mentions=(action.target,) if action.target else ())
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        assert self.client is not None
        client, uid = self.client, int(action.target)

        async def send() -> discord.Message:
            user = client.get_user(uid) or await client.fetch_user(uid)
            return await user.send(action.text_or_empty[:MESSAGE_LIMIT], nonce=stable_id(action.key)[:25])

        if action.group:
            self.cursors.put(f"dm:{uid}", action.group)  # a DM answer (accepting the rules) belongs to this channel
        sent = await self._rest("direct_message", send, action.group)
        return SendResult(platform_id=str(sent.id))

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        message = self._channel(action.group).get_partial_message(int(str(getattr(action, "message_id", "0"))))
        try:
            await self._rest("delete_message", message.delete, action.group)
        except PermanentSendError as exc:
            if "10008" in str(exc):
                return SendResult(detail={"already_gone": True})
            raise
        return SendResult()

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        channel = self._channel(action.group)
        mute = action.kind is ActionKind.MUTE
        reason = str(getattr(action, "reason", "") or action.policy)[:512]
        if not action.target:  # the whole channel (a guest talk): @everyone may not send
            everyone = channel.guild.default_role
            overwrite = channel.overwrites_for(everyone)
            overwrite.send_messages = False if mute else None
            overwrite.send_messages_in_threads = False if mute else None
            await self._rest(
                action.kind.value,
                lambda: channel.set_permissions(everyone, overwrite=overwrite, reason=reason),
                action.group,
            )
            return SendResult(detail={"whole_channel": mute})
        until: datetime | None = None
        if mute:
            asked = getattr(action, "until", None)
            now = datetime.now(UTC)
            until = min(asked or now + MAX_TIMEOUT, now + MAX_TIMEOUT - timedelta(minutes=1))
        http, guild_id = channel.guild._state.http, channel.guild.id
        value = until.isoformat() if until else None
        await self._rest(
            action.kind.value,
            lambda: http.edit_member(guild_id, int(action.target), reason=reason, communication_disabled_until=value),
            action.group,
        )
        return SendResult(detail={"until": value})

    @sends(ActionKind.REMOVE, ActionKind.BAN)
    async def _remove(self, action: Action) -> SendResult:
        guild = self._channel(action.group).guild
        user = discord.Object(int(action.target))
        reason = str(getattr(action, "reason", "") or action.policy)[:512]
        ban = action.kind is ActionKind.BAN
        self._removing.add((guild.id, user.id))
        try:
            if ban:
                await self._rest("ban", lambda: guild.ban(user, reason=reason, delete_message_seconds=0), action.group)
            else:
                await self._rest("remove", lambda: guild.kick(user, reason=reason), action.group)
        except PermanentSendError as exc:
            self._removing.discard((guild.id, user.id))
            if "10007" in str(exc) and not ban:
                return SendResult(detail={"already_gone": True})
            raise
        return SendResult(detail={"ban": ban})

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        channel = self._channel(action.group)
        text = action.text_or_empty[:TOPIC_LIMIT]
        await self._rest("set_announcement", lambda: channel.edit(topic=text), action.group)
        return SendResult(detail={"topic": len(text)})


def automod_trigger(words: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(keywords, regex patterns, left over) for an AutoMod keyword rule: a plain word matches anywhere (``*word*``,
    as shequn's own check does, and Chinese has no word boundaries), a regular expression goes in as a pattern;
    past Discord's limits (1000 keywords of 60 characters, 10 patterns of 260) the rest is left to shequn."""
    keywords: list[str] = []
    regexes: list[str] = []
    left: list[str] = []
    for word in words:
        word = word.strip()
        if not word:
            continue
        if _REGEX_CHARS.search(word):
            if len(regexes) < AUTOMOD_REGEXES and len(word) <= AUTOMOD_REGEX_LEN:
                regexes.append(word)
                continue
        elif len(keywords) < AUTOMOD_KEYWORDS and len(word) + 2 <= AUTOMOD_KEYWORD_LEN:
            keywords.append(f"*{word}*")
            continue
        left.append(word)
    return keywords, regexes, left


def _code(exc: discord.HTTPException) -> str:
    return f"HTTP {exc.status}, code {exc.code}: {exc.text}"[:300]


def _retry_after(exc: discord.HTTPException) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        with contextlib.suppress(TypeError, ValueError):
            return float(headers.get(name) or "")
    return 5.0


class _Client(discord.Client):
    """discord.py's client with the connector's handlers and the operators' slash commands."""

    def __init__(self, owner: DiscordConnector) -> None:
        super().__init__(
            intents=intents(),
            chunk_guilds_at_startup=False,  # the roster is read once over REST
            max_messages=1000,
            max_ratelimit_timeout=30.0,  # a longer wait becomes RetryAfterError: the outbox waits, not a send slot
        )
        self.owner = owner
        self.tree = app_commands.CommandTree(self)
        tree = self.tree

        @tree.command(name="tasks", description="待办人工任务 · the open staff tasks")
        async def tasks(interaction: discord.Interaction) -> None:
            await owner._command(interaction, "tasks", None)

        @tree.command(name="approve", description="完成/通过任务 N · complete staff task N")
        @app_commands.describe(task="任务编号 · the task's number")
        async def approve(interaction: discord.Interaction, task: int) -> None:
            await owner._command(interaction, "approve", task)

        @tree.command(name="reject", description="驳回任务 N · close staff task N refused")
        @app_commands.describe(task="任务编号 · the task's number")
        async def reject(interaction: discord.Interaction, task: int) -> None:
            await owner._command(interaction, "reject", task)

    async def on_connect(self) -> None:
        await self.owner._on_connect()

    async def on_disconnect(self) -> None:
        log.info("discord: the gateway dropped; discord.py reconnects")

    async def on_ready(self) -> None:
        await self.owner._on_ready()

    async def on_resumed(self) -> None:
        log.info("discord: the session resumed (Discord replays what was missed)")
        self.owner._live.set()

    async def on_message(self, m: discord.Message) -> None:
        await self.owner._on_message(m)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.owner._on_raw_message_edit(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.owner._on_raw_message_delete(payload)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.owner._on_raw_reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self.owner._on_raw_reaction(payload)

    async def on_member_join(self, member: discord.Member) -> None:
        await self.owner._on_member_join(member)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        await self.owner._on_raw_member_remove(payload)
