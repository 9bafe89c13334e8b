"""What a connector raises when a send did not go through, so the outbox knows whether and when to try again."""

from __future__ import annotations

from shequn.domain import ShequnError


class SendError(ShequnError):
    """A send failed. Raised as such (or any other exception) it is retried with backoff, up to the limit."""


class RetryAfterError(SendError):
    """The platform asked us to slow down (Telegram's HTTP 429 ``retry_after``, Matrix's ``M_LIMIT_EXCEEDED``).

    The action goes back to the queue for ``seconds`` without counting as a failed attempt, and its whole scope
    (the group, or the bot when ``scope="bot"``) pauses with it.
    """

    def __init__(self, seconds: float, *, scope: str = "group", message: str = "") -> None:
        super().__init__(message or f"rate limited by the platform: retry after {seconds:g} s")
        self.seconds = max(float(seconds), 0.0)
        self.scope = scope


class PermanentSendError(SendError):
    """The platform refused the action for good (chat not found, bot removed, forbidden): no retry; a person takes
    over through a staff task with this message."""


class QuotaExhaustedError(PermanentSendError):
    """The platform's quota for this target is used up (WeCom 群发: per customer group per month)."""
