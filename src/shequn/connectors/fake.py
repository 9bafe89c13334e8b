"""A fake platform kept in a file: what it "shows" is one JSON line per delivered action, written with fsync.

It exists to test delivery end to end (``shequn run`` killed with SIGKILL in the middle of a burst, restarted, and
the file read afterwards: nothing lost, nothing twice) and for the outbox benchmark. It behaves like the platforms
it stands for, in one of three modes:

* ``confirm`` (default): like a platform with a history API: after a crash, :meth:`confirm` looks the action's key
  up in what the platform shows;
* ``idempotent``: like Matrix, whose ``PUT /send/{txnId}`` ignores a repeated transaction id: a resend of a key
  already shown is answered with the first result and shown once;
* ``blind``: like a platform that can neither: the outbox must not resend what may have gone through.

It can also enforce a per-chat limit (``group_limit="20/60"``: answering HTTP 429 with ``retry_after`` like
Telegram) and fail every Nth send, to exercise the outbox's retries. Environment (``shequn run``):
``SHEQUN_FAKE_PATH`` (required), ``SHEQUN_FAKE_MODE``, ``SHEQUN_FAKE_GROUP_LIMIT``, ``SHEQUN_FAKE_FAIL_EVERY``,
``SHEQUN_FAKE_DELAY_MS``, ``SHEQUN_FAKE_BOT`` (the bot account it stands for).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import orjson

from shequn.connectors.base import Connector, SendResult, sends
from shequn.domain import Action, ActionKind, UserError
from shequn.domain.records import iso
from shequn.outbox.errors import RetryAfterError, SendError

_KINDS = tuple(
    k
    for k in ActionKind
    if k
    not in (
        ActionKind.TAG,
        ActionKind.AWARD_POINTS,
        ActionKind.SET_LEVEL,
        ActionKind.SET_ROLE,
        ActionKind.SET_STATE,
        ActionKind.OPEN_STAFF_TASK,
    )
)


def read_shown(path: Path) -> list[dict[str, Any]]:
    """Everything the fake platform shows, in the order it was shown (a torn last line is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return rows


class FilePlatformConnector(Connector):
    """The fake platform (``platform: fake``). See the module docstring."""

    platform = "fake"
    can_confirm: ClassVar[bool] = True

    def __init__(
        self,
        path: Path,
        *,
        group_limit: tuple[int, float] | None = None,
        fail_every: int = 0,
        delay_ms: float = 0.0,
        clock: Any = None,
        account: str = "",
    ) -> None:
        self.path = Path(path)
        self.account = account  # the bot account it stands for (several sender processes lease it)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.shown: dict[str, dict[str, Any]] = {r["key"]: r for r in read_shown(self.path)}
        self.group_limit = group_limit
        self.fail_every = fail_every
        self.delay_ms = delay_ms
        self.clock = clock
        self.calls = 0
        self._recent: dict[str, deque[float]] = {}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FilePlatformConnector:
        path = env.get("SHEQUN_FAKE_PATH")
        if not path:
            raise UserError(
                "the fake connector needs SHEQUN_FAKE_PATH (the file the fake platform writes)", exit_code=2
            )
        mode = env.get("SHEQUN_FAKE_MODE", "confirm")
        klass = {"confirm": cls, "idempotent": IdempotentFilePlatform, "blind": BlindFilePlatform}.get(mode)
        if klass is None:
            raise UserError(f"SHEQUN_FAKE_MODE: use confirm, idempotent or blind, not {mode!r}", exit_code=2)
        limit = None
        if env.get("SHEQUN_FAKE_GROUP_LIMIT"):
            count, _, seconds = env["SHEQUN_FAKE_GROUP_LIMIT"].partition("/")
            limit = (int(count), float(seconds))
        made: FilePlatformConnector = klass(
            Path(path),
            group_limit=limit,
            fail_every=int(env.get("SHEQUN_FAKE_FAIL_EVERY", "0")),
            delay_ms=float(env.get("SHEQUN_FAKE_DELAY_MS", "0")),
            account=env.get("SHEQUN_FAKE_BOT", ""),
        )
        return made

    def _now(self) -> float:
        return self.clock.now().timestamp() if self.clock is not None else time.time()

    @sends(*_KINDS)
    async def _deliver(self, action: Action) -> SendResult:
        self.calls += 1
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise SendError("fake platform: 502 Bad Gateway")
        seen = self.shown.get(action.key)
        if seen is not None and self.idempotent_sends:
            return SendResult(platform_id=str(seen["n"]), detail={"deduplicated": True})
        now = self._now()
        chat = action.group or f"dm:{action.target}"
        if self.group_limit:
            count, seconds = self.group_limit
            recent = self._recent.setdefault(chat, deque())
            while recent and recent[0] <= now - seconds:
                recent.popleft()
            if len(recent) >= count:
                raise RetryAfterError(recent[0] + seconds - now, message="fake platform: 429 Too Many Requests")
            recent.append(now)
        row = {
            "n": len(self.shown) + 1 if seen is None else seen["n"],
            "key": action.key,
            "kind": action.kind.value,
            "group": action.group,
            "target": action.target,
            "text": action.text_or_empty,
            "at": now,
            "decided": iso(action.at),
        }
        os.write(self._fd, orjson.dumps(row) + b"\n")
        os.fsync(self._fd)
        self.shown.setdefault(action.key, row)
        return SendResult(platform_id=str(row["n"]))

    def bot_of(self, action: Action) -> str:
        return self.account or "default"

    async def confirm(self, action: Action) -> SendResult | None:
        row = self.shown.get(action.key)
        return SendResult(platform_id=str(row["n"])) if row else None

    async def stop(self) -> None:
        os.close(self._fd)


class IdempotentFilePlatform(FilePlatformConnector):
    """The fake platform in ``idempotent`` mode (a repeated key is answered, not shown again)."""

    idempotent_sends: ClassVar[bool] = True
    can_confirm: ClassVar[bool] = False


class BlindFilePlatform(FilePlatformConnector):
    """The fake platform in ``blind`` mode (no way to tell whether a send went through)."""

    can_confirm: ClassVar[bool] = False
