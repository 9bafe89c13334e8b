"""The sender's bot accounts (发送账号) when several ``shequn run`` processes share one PostgreSQL.

How it works:
    Each connector logs in as one bot account (:func:`account_of`). A process holds an account's lease
    (``bot_lease``, renewed every third of its length, times in the database's clock) before it starts the connector
    — the Matrix sync, the Telegram polling, the OneBot socket — and sends for it; a second process running the same
    account stands by and takes the lease, with a new fencing generation, once it has expired: the holder died or
    hung. Every claim of the outbox is fenced by the leases (:mod:`shequn.outbox.runner`), so a holder that lost its
    lease sends nothing more. A process that loses a lease it held stops that connector for good (it was stalled
    longer than the lease; another process now holds the account) and says so.
    With SQLite nothing of this runs: one ``shequn run`` per workspace, under the outbox's workspace lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from shequn.i18n import t

if TYPE_CHECKING:
    from shequn.app import App
    from shequn.outbox import OutboxRunner

log = logging.getLogger("shequn.sender")


def account_of(connector: Any, ws_id: int) -> str:
    """The bot account a connector logs in as, known before it connects: Telegram's bot id (from its token),
    Matrix's user id, Feishu's app id, the fake platform's ``SHEQUN_FAKE_BOT``; otherwise one account per platform
    and workspace (QQ's and Slack's bot ids are only learnt once connected)."""
    for attr in ("account", "bot_id", "user_id", "app_id"):
        value = getattr(connector, attr, "")
        if isinstance(value, str) and value:
            return value
    return f"workspace:{ws_id}"


class BotSeats:
    """The bot accounts of this process's connectors: taken, renewed, started, and given back when it stops.

    Args:
        app: the workspace.
        connectors: the configured connectors by platform (not started).
        runner: the outbox runner, told which connectors it may send through.
        sink: where started connectors hand their events.
        lease_seconds: how long a lease lasts unrenewed (a standby takes over that long after the holder died).
    """

    def __init__(
        self,
        app: App,
        connectors: Mapping[str, Any],
        runner: OutboxRunner,
        sink: Callable[[Any], Awaitable[None]],
        *,
        lease_seconds: float = 15.0,
    ) -> None:
        self.app = app
        self.connectors = dict(connectors)
        self.runner = runner
        self.sink = sink
        self.ttl_ms = round(lease_seconds * 1000)
        self.accounts = {p: account_of(c, app.ws.id) for p, c in self.connectors.items()}
        self.running: set[str] = set()
        self.lost: set[str] = set()
        self._waiting: set[str] = set()
        self.all_held = asyncio.Event()

    async def beat(self) -> None:
        """Take or renew every account's lease; start what was taken, stop what was lost."""
        for platform, connector in self.connectors.items():
            if platform in self.lost:
                continue
            account = self.accounts[platform]
            with self.app.store.transaction() as conn:
                held = self.app.store.delivery.take_bot(
                    conn, platform, account, holder=self.runner.holder, ttl_ms=self.ttl_ms
                )
            if held and platform not in self.running:
                await connector.start(self.sink)
                self.runner.attach(platform, connector, account)
                self.running.add(platform)
                log.info(t("sender.holds", None, platform=platform, account=account))
            elif not held and platform in self.running:
                self.runner.detach(platform)
                self.running.discard(platform)
                self.lost.add(platform)
                await connector.stop()
                log.error(t("sender.lost", None, platform=platform, account=account))
            elif not held and platform not in self._waiting:
                self._waiting.add(platform)
                log.info(t("sender.standby", None, platform=platform, account=account))
        if self.running | self.lost == set(self.connectors):
            self.all_held.set()

    async def loop(self, stop: asyncio.Event) -> None:
        """Beat every third of the lease until ``stop``; then stop the connectors and give the accounts back."""
        try:
            while not stop.is_set():
                try:
                    await self.beat()
                except Exception:  # the database went away for a moment: the next beat tries again
                    log.exception("bot leases: renewing failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.ttl_ms / 3000)
        finally:
            await self.close()

    async def close(self) -> None:
        for platform in sorted(self.running):
            self.runner.detach(platform)
            await self.connectors[platform].stop()
        self.running.clear()
        with self.app.store.transaction() as conn:
            self.app.store.delivery.release_bots(conn, self.runner.holder)
