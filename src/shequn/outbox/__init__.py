"""Outbox (发送队列): the durable delivery of external actions to the connectors, each reaching the platform once.

Owns: the runner (claims, sends, outcomes, reconciliation after a crash, the one-runner lease), rate limits and
quotas per platform, bot token and group, and the errors connectors raise to steer retries.
May import: ``domain``, ``i18n``, ``playbook``, ``store``. Never ``connectors`` (they implement its ``Sender``),
``schedule``, ``app`` or ``cli``.
"""

from shequn.outbox.errors import PermanentSendError, QuotaExhaustedError, RetryAfterError, SendError
from shequn.outbox.limits import Policies, Quota, QuotaBook, RateLimiter, Window
from shequn.outbox.runner import (
    DeliverySettings,
    LeaseHeldError,
    OutboxRunner,
    RealTimer,
    RunnerStats,
    Sender,
    Timer,
    VirtualTimer,
    chat_of,
)

__all__ = [
    "DeliverySettings",
    "LeaseHeldError",
    "OutboxRunner",
    "PermanentSendError",
    "Policies",
    "Quota",
    "QuotaBook",
    "QuotaExhaustedError",
    "RateLimiter",
    "RealTimer",
    "RetryAfterError",
    "RunnerStats",
    "SendError",
    "Sender",
    "Timer",
    "VirtualTimer",
    "Window",
    "chat_of",
]
