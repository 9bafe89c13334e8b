"""Connectors (连接器): one adapter per platform, declaring what it can do.

Owns: the connector contract (:mod:`.base`), the sandbox, and the registry of platform connectors. Platform SDKs are
optional extras imported only by their connector.
May import: ``domain``, ``i18n``, ``playbook``, ``policies``, ``engine``, ``outbox``, ``schedule``, and
``importers.base`` (a live group and person get the ids the platform's importer gives them).
"""

from __future__ import annotations

import importlib
from functools import cache

from shequn.connectors.base import Connector, SendResult, StaffReason, UnsupportedActionError, describe, route, sends
from shequn.domain import Action, ActionKind

# platform → "module:Class"; imported lazily so that a missing SDK only matters to its own platform.
REGISTRY: dict[str, str] = {
    "sandbox": "shequn.connectors.sandbox:SandboxConnector",
    "fake": "shequn.connectors.fake:FilePlatformConnector",
    "matrix": "shequn.connectors.matrix:MatrixConnector",
    "telegram": "shequn.connectors.telegram:TelegramConnector",
    "wecom": "shequn.connectors.wecom.connector:WeComConnector",  # a file-backed platform for tests and benchmarks
    "qq": "shequn.connectors.qq.connector:QQConnector",  # QQ groups through OneBot v11 (NapCat, Lagrange.OneBot …)
    "discord": "shequn.connectors.discord.connector:DiscordConnector",  # a Discord bot through discord.py
    "slack": "shequn.connectors.slack.connector:SlackConnector",  # Slack channels through slack-bolt
}


@cache
def connector_class(platform: str) -> type[Connector] | None:
    """The connector class for ``platform``, or None when shequn has none."""
    target = REGISTRY.get(platform)
    if target is None:
        return None
    module, _, name = target.partition(":")
    cls: type[Connector] = getattr(importlib.import_module(module), name)
    return cls


def capabilities(platform: str) -> frozenset[ActionKind] | None:
    """What shequn can do on ``platform`` (None: no connector, everything goes to staff)."""
    cls = connector_class(platform)
    return cls.capabilities if cls else None


def staff_reason(action: Action) -> StaffReason | None:
    """Why ``action`` goes to a person (:func:`route`, and what its connector hands over), or None to send it."""
    cls = connector_class(action.platform)
    reason = route(action, cls.capabilities if cls else None)
    if reason is None and cls is not None and cls.hands_over(action):
        return StaffReason.CAPABILITY_MISSING
    return reason


def batches_staff_tasks(platform: str) -> bool:
    """Whether the staff tasks of ``platform`` gather into one open task per group (one pass for a burst)."""
    cls = connector_class(platform)
    return bool(cls and cls.batch_staff_tasks)


__all__ = [
    "REGISTRY",
    "Connector",
    "SendResult",
    "StaffReason",
    "UnsupportedActionError",
    "batches_staff_tasks",
    "capabilities",
    "connector_class",
    "describe",
    "route",
    "sends",
    "staff_reason",
]
