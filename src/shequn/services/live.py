"""The live runtime of ``shequn run`` (运行时): connectors, cursors, secrets and the operators' chat commands.

Owns: reading credentials (environment first, then a secrets file), the connectors' cursors over the store
(:class:`StoreCursors`), what connectors need of the workspace (:func:`configure`: WeCom's welcome templates), the
periodic work of growth and selling (:func:`growth_pass`),
and the commands operators type in a community's admin group (:class:`OperatorCommands`):
``!tasks`` lists the open staff tasks, ``!approve N`` (``!done N``, ``通过 N``) completes one and ``!reject N``
(``驳回 N``) closes it refused; for an admission check (``verify``) the answer goes into the log as the ``verify``
form, so the admission policy lets the member in or not, exactly as if the form had been filled in.
May import: everything below the application (``app``, ``store``, ``connectors``, ``domain``, ``i18n``), and the
growth, shop and lifecycle services (:mod:`shequn.services.growth`, :mod:`shequn.services.shop`,
:mod:`shequn.services.lifecycle`) for :func:`growth_pass`.

Things to keep in mind:
    * Anyone who can post in an admin group may use the commands: the admin group's membership is the permission to
      close tasks; the admission policy still takes a ``verify`` answer only from the community's staff roles.
    * A secret's value never reaches a log line or an error message (only its name does).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shequn.domain import Action, Event, FormAnswer, Message, Post, UserError, stable_id
from shequn.i18n import t

if TYPE_CHECKING:
    from shequn.app import App
    from shequn.connectors.wecom.welcome import WelcomeTemplate

log = logging.getLogger("shequn.run")

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$")


def read_secrets(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes, optional ``export``); errors name the line, never a
    value."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}", exit_code=2) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users of this machine; chmod 600 it", path)
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise UserError(f"{path}:{n}: expected KEY=VALUE (upper-case KEY)", exit_code=2)
        value = m[2]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[m[1]] = value
    return out


def environment(secrets: Path | None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The connectors' settings: the secrets file, overridden by the process environment."""
    base = read_secrets(secrets) if secrets is not None else {}
    return {**base, **(os.environ if env is None else env)}


class StoreCursors:
    """One connector's cursors in the store (``connector_cursor``), each write its own short transaction."""

    def __init__(self, app: App, connector: str) -> None:
        self.app = app
        self.connector = connector
        with app.store.transaction() as conn:
            self._cache = app.store.cursors.all(conn, app.ws.id, connector)

    def get(self, name: str) -> str | None:
        return self._cache.get(name)

    def put(self, name: str, value: str | None) -> None:
        if self._cache.get(name) == value:
            return
        with self.app.store.transaction() as conn:
            self.app.store.cursors.put(conn, self.app.ws.id, self.connector, name, value, now_ms=self.app.now_ms())
        if value is None:
            self._cache.pop(name, None)
        else:
            self._cache[name] = value


def welcome_templates(app: App) -> list[WelcomeTemplate]:
    """Each community's welcome for its WeCom groups (communities whose welcome policy is off have none)."""
    from shequn.connectors.wecom.welcome import WelcomeTemplate
    from shequn.engine.config import build_community_config
    from shequn.playbook import load_playbook
    from shequn.policies.welcome import WelcomeSettings

    out: list[WelcomeTemplate] = []
    for record in app.communities():
        spec = record.spec
        groups = tuple(g.id for g in spec.groups if g.platform == "wecom" and g.role != "admin")
        if not groups:
            continue
        settings = build_community_config(spec).settings.get("welcome")
        if not isinstance(settings, WelcomeSettings) or not settings.enabled:
            continue
        template = settings.template or load_playbook().template("welcome", spec.locale)
        out.append(WelcomeTemplate(spec.name, template, groups, spec.locale))
    return out


def configure(app: App, connectors: Mapping[str, Any], wake: Callable[[], None] | None = None) -> None:
    """Tell the connectors what they need of the workspace beyond their cursors: WeCom the welcome templates to keep
    and where the staff tasks it opens go (the outbox, so they are listed and closed like every other); QQ, Slack and
    Feishu the workspace's language for the reasons their staff tasks carry; Discord its moderation words, admin
    channels and level titles."""
    for name in ("qq", "slack", "feishu"):
        found = connectors.get(name)
        if found is not None and hasattr(found, "staff_locale"):
            found.staff_locale = app.ws.locale  # the reasons it gives go into staff tasks, in the workspace's language
    discord = connectors.get("discord")
    if discord is not None and hasattr(discord, "configure"):
        admin = frozenset(
            g.id for r in app.communities() for g in r.spec.groups if g.platform == "discord" and g.role == "admin"
        )
        discord.configure(
            forbidden=forbidden_words(app, "discord"),
            admin_groups=admin,
            locale=app.ws.locale,
            levels=lambda: level_titles(app, "discord"),
        )
    wecom = connectors.get("wecom")
    if wecom is None or not hasattr(wecom, "configure"):
        return

    def enqueue(actions: Sequence[Action]) -> None:
        with app.store.transaction() as conn:
            app.enqueue_actions(conn, actions)
        if wake is not None:
            wake()

    wecom.configure(welcome_templates(app), enqueue, media_rooms=moderated_groups(app, "wecom"))


def forbidden_words(app: App, platform: str) -> dict[str, tuple[str, ...]]:
    """The moderation's forbidden words of each chat on ``platform`` whose community moderates (Discord's AutoMod)."""
    from shequn.engine.config import build_community_config
    from shequn.policies.moderation import ModerationSettings

    out: dict[str, tuple[str, ...]] = {}
    for record in app.communities():
        settings = build_community_config(record.spec).settings.get("moderation")
        if isinstance(settings, ModerationSettings) and settings.enabled and settings.forbidden:
            out |= {g.id: tuple(settings.forbidden) for g in record.spec.groups if g.platform == platform}
    return out


def level_titles(app: App, platform: str) -> tuple[dict[str, str], frozenset[str]]:
    """Each member's level title on ``platform`` (user id → title) in the communities there whose levels are on, and
    every title of their ladders (a Discord role of that name is the level's role)."""
    from shequn.engine.config import build_community_config
    from shequn.policies.levels import LevelsSettings, title_of

    state = app.saved_state()
    held: dict[str, str] = {}
    titles: set[str] = set()
    for record in app.communities():
        if not any(g.platform == platform for g in record.spec.groups):
            continue
        config = build_community_config(record.spec)
        settings = config.settings.get("levels")
        if not isinstance(settings, LevelsSettings) or not settings.enabled:
            continue
        titles |= {lv.name(record.spec.locale) for lv in settings.ladder}
        for m in state.community(record.name).members.values():
            if m.key.startswith(f"{platform}:") and m.active and m.level > 0:
                held[m.key.partition(":")[2]] = title_of(config, m.level, record.spec.locale)
    return held, frozenset(titles)


def moderated_groups(app: App, platform: str) -> frozenset[str]:
    """The chat ids on ``platform`` whose community moderates: the groups whose images a connector reads (QR codes)."""
    from shequn.engine.config import build_community_config
    from shequn.policies.moderation import ModerationSettings

    out: set[str] = set()
    for record in app.communities():
        settings = build_community_config(record.spec).settings.get("moderation")
        if isinstance(settings, ModerationSettings) and settings.enabled:
            out |= {g.id for g in record.spec.groups if g.platform == platform}
    return frozenset(out)


_COMMAND = re.compile(r"^\s*[!！/]?\s*(tasks|任务|approve|done|通过|完成|reject|驳回)\s*#?(\d+)?\s*$", re.IGNORECASE)
_VERBS = {"tasks": "tasks", "任务": "tasks", "approve": "approve", "done": "approve", "通过": "approve"}
_VERBS |= {"完成": "approve", "reject": "reject", "驳回": "reject"}


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # tasks, approve, reject
    task: int | None = None


def parse_command(text: str) -> Command | None:
    """An operator's command, or None when the text is not one (commands start with ``!`` or are a bare verb)."""
    if not text.strip().startswith(("!", "！", "/")) and not re.match(r"^\s*(通过|驳回|完成|任务)", text):
        return None
    m = _COMMAND.match(text)
    if m is None:
        return None
    verb = _VERBS[m[1].lower()]
    number = int(m[2]) if m[2] else None
    if verb != "tasks" and number is None:
        return None
    return Command(verb, number)


class OperatorCommands:
    """Commands typed in a community's admin group (群 role ``admin``); see the module docstring."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._admin: dict[tuple[str, str], str] = {}
        self.reload()

    def reload(self) -> None:
        with self.app.store.transaction() as conn:
            groups = self.app.store.groups.list(conn, self.app.ws.id)
        self._admin = {(g.platform, g.platform_id): g.community for g in groups if g.role == "admin" and g.community}

    def handle(self, event: Event) -> bool:
        """Carry out the command ``event`` carries, if it is one from an admin group; True when it was."""
        if not isinstance(event, Message) or event.from_bot:
            return False
        community = self._admin.get((event.platform, event.group))
        if community is None:
            return False
        cmd = parse_command(event.text)
        if cmd is None:
            return False
        locale = self._locale(community)
        if cmd.verb == "tasks":
            reply = self._list(locale)
        else:
            assert cmd.task is not None
            reply = self._close(event, cmd, locale)
        post = Post(
            key=f"command:{event.id}",
            at=event.at,
            community=community,
            platform=event.platform,
            group=event.group,
            target=event.actor,
            policy="command",
            cause=event.id,
            text=reply,
        )
        with self.app.store.transaction() as conn:
            self.app.enqueue_actions(conn, [post])
        return True

    def _locale(self, community: str) -> str:
        try:
            return self.app.community(community).spec.locale
        except UserError:
            return self.app.ws.locale

    def _list(self, locale: str) -> str:
        with self.app.store.transaction() as conn:
            tasks = self.app.store.tasks.list(conn, self.app.ws.id, status="open", limit=20)
        if not tasks:
            return t("connectors.command.no_tasks", locale)
        lines = [t("connectors.command.open_tasks", locale, n=len(tasks))]
        for task in tasks:
            lines.append(f"#{task.id} {task.title}")
            lines += batch_lines(task.detail)
        return "\n".join(lines)

    def _close(self, event: Message, cmd: Command, locale: str) -> str:
        assert cmd.task is not None
        with self.app.store.transaction() as conn:
            open_ = {task.id: task for task in self.app.store.tasks.list(conn, self.app.ws.id, limit=10_000)}
        task = open_.get(cmd.task)
        if task is None:
            return t("connectors.command.not_open", locale, id=cmd.task)
        action: dict[str, Any] = dict(task.detail.get("action") or {})
        if action.get("policy") == "admission" and str(action.get("key", "")).endswith(":verify"):
            answer = FormAnswer(
                id=stable_id("command", event.id),
                at=event.at,
                platform=str(action.get("platform", event.platform)),
                group=str(action.get("group", "")),
                actor=event.actor,
                actor_name=event.actor_name,
                form="verify",
                answers={"member": str(action.get("target", "")), "ok": "yes" if cmd.verb == "approve" else "no"},
            )
            self.app.ingest([answer])
        now = self.app.now_ms()
        with self.app.store.transaction() as conn:
            self.app.store.tasks.complete(conn, self.app.ws.id, task.id, by=event.actor, now_ms=now)
            self.app.store.audit.record(
                conn,
                self.app.ws.id,
                actor=f"{event.platform}:{event.actor}",
                verb=f"task.{cmd.verb}",
                object_type="staff_task",
                object_id=str(task.id),
                now_ms=now,
            )
        key = "connectors.command.approved" if cmd.verb == "approve" else "connectors.command.rejected"
        return t(key, locale, id=task.id, title=task.title)


def batch_lines(detail: Mapping[str, Any], limit: int = 10) -> list[str]:
    """A batched staff task's items, one line each (what to do, who, what they wrote), for the task list."""
    items = list(detail.get("items") or [])
    out = []
    for item in items[:limit]:
        evidence = item.get("evidence") or {}
        said = str(evidence.get("text", "")).replace("\n", " ")[:40]
        who = str(evidence.get("actor_name") or evidence.get("actor") or item.get("action", {}).get("target", ""))
        out.append(f"  · {item.get('what', '')}" + (f" — {who}" if who else "") + (f": {said}" if said else ""))
    if len(items) > limit:
        out.append(f"  · … +{len(items) - limit}")
    return out


def growth_pass(
    app: App, now: datetime | None = None, *, communities: Collection[str | None] | None = None
) -> dict[str, int]:
    """What growth and selling do on their own, once per pass of ``shequn run`` (or of a shard's lease holder, for
    ``communities``; None among them: the workspace's own products): settle the referral periods that have
    ended (every Friday 17:00 by default, book 2533), announce group-fill campaigns that reached their target, cancel
    the group-buys that did not form, bind the groups the bot created for a split. Each step is idempotent, so a pass
    may repeat; one failing is logged and the others still run (a lost lease,
    :class:`~shequn.store.shards.LeaseLostError`, stops the pass)."""
    from shequn.services.growth import Growth
    from shequn.services.lifecycle import Lifecycle
    from shequn.services.shop import Shop
    from shequn.store.shards import LeaseLostError

    growth, shop = Growth(app), Shop(app)
    named = None if communities is None else {c for c in communities if c is not None}
    steps: dict[str, Callable[[], Sequence[Any]]] = {
        "settled": lambda: growth.settle(now=now, communities=named),
        "filled": lambda: growth.fill_check(named),
        "group_buys": lambda: shop.group_buy_check(communities),
        "adopted": Lifecycle(app, actor="shequn").adopt,  # the groups the bot created for a split get bound
    }
    done: dict[str, int] = {}
    for name, step in steps.items():
        try:
            done[name] = len(step())
        except LeaseLostError:
            raise
        except Exception:  # the rhythm and the outbox go on; the reason is in the log
            log.exception("growth pass: %s failed", name)
            done[name] = 0
    return done
