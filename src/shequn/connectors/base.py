"""The connector contract: what a platform adapter declares, receives and sends.

How it works:
    A connector turns platform updates into :mod:`shequn.domain` events (handed to a sink) and carries out
    actions. It declares what it can do by registering one method per action kind with :func:`sends`
    (opsdroid's ``register_event`` pattern): the set of registered kinds *is* its capability set, so the
    declaration cannot drift from the code. :func:`route` tells, before anything is sent, whether a connector can
    perform an action or why a person has to (the reason goes on the staff task).

Things to keep in mind:
    * Connectors receive their HTTP client or SDK session; tests hand them an offline transport.
    * ``send`` is the single exit; an action kind without a method raises :class:`UnsupportedActionError`.
    * A platform's credentials never reach a log line.
    * Delivery is the outbox's job (:mod:`shequn.outbox`): a connector only says how a send failed
      (:class:`~shequn.outbox.errors.RetryAfterError` on a 429, :class:`~shequn.outbox.errors.PermanentSendError` when
      retrying is pointless) and how the outbox can make a resend after a crash safe: ``idempotent_sends`` when the
      platform deduplicates on the action's key (Matrix: the transaction id of ``PUT /send``), or ``can_confirm``
      with :meth:`Connector.confirm` when it can look up whether an action already reached the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from shequn.domain import Action, ActionKind, Event, ShequnError
from shequn.i18n import t

EventSink = Callable[[Event], Awaitable[None]]
C = TypeVar("C", bound="Connector")
_Handler = Callable[["Connector", Any], Awaitable["SendResult"]]

# Actions that are a person's job whatever the platform.
ALWAYS_STAFF = frozenset({ActionKind.OPEN_STAFF_TASK})


class BackgroundLoop:
    """A connector's one background loop (sync, polling, roster passes): started with the connector, cancelled and
    awaited when it stops; its pauses (a retry's back-off, the time between passes) end as soon as it stops."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return not self._stopping.is_set()

    def start(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(work, name=name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


class UnsupportedActionError(ShequnError):
    """A connector was asked to send an action kind it does not declare."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform answered: its id for what was created (message id …), and anything else worth keeping."""

    platform_id: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


def sends(*kinds: ActionKind) -> Callable[[Callable[..., Awaitable[SendResult]]], Callable[..., Awaitable[SendResult]]]:
    """Mark a connector method as the way it carries out actions of ``kinds``."""

    def mark(fn: Callable[..., Awaitable[SendResult]]) -> Callable[..., Awaitable[SendResult]]:
        fn.__shequn_sends__ = kinds  # type: ignore[attr-defined]
        return fn

    return mark


class Cursors(Protocol):
    """Small named values a connector keeps between runs (its sync token, update offset …)."""

    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str | None) -> None: ...


class MemoryCursors:
    """Cursors kept in memory only (tests, and a connector nobody attached a store to)."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(values or {})

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def put(self, name: str, value: str | None) -> None:
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value


class Connector:
    """Base of every platform connector.

    Attributes:
        platform: the platform name used in events and group keys (``matrix``, ``telegram``, ``wecom`` …).
        capabilities: the action kinds it can carry out (filled from the :func:`sends` methods).
    """

    platform: ClassVar[str]
    capabilities: ClassVar[frozenset[ActionKind]] = frozenset()
    idempotent_sends: ClassVar[bool] = False  # the platform deduplicates a resend of the same action key
    can_confirm: ClassVar[bool] = False  # confirm() can tell whether an action reached the platform
    batch_staff_tasks: ClassVar[bool] = False  # what the bot may not do gathers into one task per group (WeCom)
    _senders: ClassVar[dict[ActionKind, _Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        senders: dict[ActionKind, _Handler] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                for kind in getattr(value, "__shequn_sends__", ()):
                    senders[kind] = value
        cls._senders = senders
        cls.capabilities = frozenset(senders)

    def attach(self, *, cursors: Cursors, groups: frozenset[str] | None = None) -> None:
        """Give the connector where to keep its cursors and the chat ids bound to communities (``shequn run``)."""
        self.__dict__["_cursors"] = cursors
        self.__dict__["_groups"] = groups

    @property
    def cursors(self) -> Cursors:
        found = self.__dict__.get("_cursors")
        if found is None:
            found = self.__dict__["_cursors"] = MemoryCursors()
        return found

    @property
    def bound_groups(self) -> frozenset[str] | None:
        """The chat ids bound to a community (None: not told, take every chat the bot is in)."""
        return self.__dict__.get("_groups")

    async def start(self, sink: EventSink) -> None:
        """Begin receiving platform updates and pass each, normalized, to ``sink``."""

    async def stop(self) -> None:
        """Stop receiving; finish what is in flight."""

    async def send(self, action: Action) -> SendResult:
        """Carry out ``action`` on the platform."""
        handler = self._senders.get(action.kind)
        if handler is None:
            raise UnsupportedActionError(f"{type(self).__name__} ({self.platform}) cannot {action.kind.value}")
        return await handler(self, action)

    async def confirm(self, action: Action) -> SendResult | None:
        """Whether ``action`` reached the platform (its result) or not (None); only when ``can_confirm``."""
        raise NotImplementedError(f"{type(self).__name__} cannot confirm deliveries")

    @classmethod
    def hands_over(cls, action: Action) -> bool:
        """Whether an action of a kind it declares must still go to a person (WeCom: a post that answers an event
        is a reply, which WeCom gives apps no way to send)."""
        return False

    def delivered_by_platform(self, action: Action) -> bool:
        """Whether the platform delivers ``action`` by itself (``send`` only records it): the outbox then counts it
        against no rate window or quota. WeCom's welcome template is one."""
        return False

    def bot_of(self, action: Action) -> str:
        """The bot account (token) that sends ``action``: the outbox's per-bot rate limits are kept per value."""
        return "default"

    @classmethod
    def from_env(cls: type[C], env: Mapping[str, str]) -> C:
        """Build the connector from the environment (``shequn run``); credentials come from there, never a spec."""
        return cls()


class StaffReason(StrEnum):
    """Why an action went to a person instead of a connector."""

    REQUESTED = "requested"  # the policy asked for a person (OpenStaffTask)
    CAPABILITY_MISSING = "capability_missing"  # the platform forbids the bot this action
    NO_CONNECTOR = "no_connector"  # no connector for the platform is configured


def route(action: Action, capabilities: frozenset[ActionKind] | None) -> StaffReason | None:
    """Why ``action`` must go to a person (None when a connector with ``capabilities`` can send it).

    ``capabilities`` is None when no connector for the action's platform is configured at all.
    """
    if action.kind in ALWAYS_STAFF:
        return StaffReason.REQUESTED
    if capabilities is None:
        return StaffReason.NO_CONNECTOR
    if action.kind not in capabilities:
        return StaffReason.CAPABILITY_MISSING
    return None


def describe(reason: StaffReason, action: Action, locale: str) -> str:
    """The staff task's title in ``locale``: what to do and why the bot did not."""
    if reason is StaffReason.REQUESTED:
        return str(getattr(action, "title", "")) or t("action.open_staff_task", locale)
    what = t(f"action.{action.kind.value}", locale)
    return t(f"staff_task.{reason.value}", locale, platform=action.platform or "?", action=what)


# What a member writes privately to the bot to accept the rules it sent them (the rules DM asks for 同意).
ACCEPT_WORDS = frozenset(
    {"同意", "我同意", "同意群规", "接受", "接受群规", "已阅", "accept", "agree", "i agree", "/accept"}
)


def accepts_rules(text: str) -> bool:
    """Whether a private message to the bot accepts the rules (``同意``, ``I agree`` …; case and end mark ignored)."""
    return text.strip().lower().rstrip("。.!！") in ACCEPT_WORDS
