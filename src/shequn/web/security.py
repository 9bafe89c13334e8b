"""Who is asking and what they may do: session cookies, bearer tokens, CSRF, login throttling, webhook signatures.

How it works:
    * A request is authenticated by ``Authorization: Bearer sq_…`` (an API token) or by the session cookie. Every
      route declares the permission it needs with :class:`Authorize`; a route without one is refused by the
      route-table test in ``tests/web``.
    * A request authenticated by the cookie that changes something (any method but GET/HEAD/OPTIONS) must carry the
      session's CSRF token in ``X-CSRF-Token`` or a ``csrf`` form field. Bearer tokens are not sent by browsers on
      their own, so they need none.
    * The login form is protected by a double-submit token (a cookie and a form field that must match).
    * Webhooks are signed like ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` and accepted within
      five minutes of ``t``.

Things to keep in mind:
    * The cookie is ``Secure`` unless the server was started with ``secure_cookies=False`` (plain HTTP on a LAN).
      Browsers accept secure cookies from http://127.0.0.1 and http://localhost.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import FormData

from shequn.services.accounts import Accounts, Perm, Principal, same

SESSION_COOKIE = "shequn_session"
LOGIN_COOKIE = "shequn_login"
LANG_COOKIE = "shequn_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNATURE_HEADER = "X-Shequn-Signature"
SIGNATURE_TOLERANCE_S = 300


class NotAuthenticatedError(Exception):
    """No valid session or token: pages redirect to the login, the API answers 401."""


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def principal_of(request: Request, accounts: Accounts) -> Principal | None:
    """The principal behind this request, cached on it (None when anonymous or the credentials are bad)."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            principal = accounts.verify_token(value.strip())
    elif token := request.cookies.get(SESSION_COOKIE):
        principal = accounts.session(token)
    request.state.principal = principal
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a state-changing request made with the session cookie that lacks the session's CSRF token."""
    if request.method in SAFE_METHODS or principal.session is None:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form: FormData = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else ""
    if not sent or not same(sent, principal.session.csrf):
        raise HTTPException(status_code=403, detail="csrf")


class Authorize:
    """A dependency: the request must come from a principal holding ``perm`` (and pass the CSRF check)."""

    def __init__(self, perm: Perm) -> None:
        self.perm = perm

    async def __call__(self, request: Request) -> Principal:
        accounts: Accounts = request.app.state.accounts
        principal = await principal_of(request, accounts)
        if principal is None:
            raise NotAuthenticatedError
        await check_csrf(request, principal)
        if not principal.can(self.perm):
            raise HTTPException(status_code=403, detail=f"needs the {self.perm.value} permission")
        return principal

    def __repr__(self) -> str:
        return f"Authorize({self.perm.value})"


@dataclass
class LoginThrottle:
    """At most ``attempts`` failed logins per user name and per client address in ``window`` seconds."""

    attempts: int = 10
    window: float = 900.0

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.attempts for k in keys)

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def clear(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (what a shop computes)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None) -> str | None:
    """None when ``header`` signs ``body`` with ``secret`` within the tolerance; else what is wrong."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        ts = int(parts.get("t", [""])[0])
    except ValueError:
        return "signature header lacks t=<unix seconds>"
    if abs((now if now is not None else time.time()) - ts) > SIGNATURE_TOLERANCE_S:
        return "signature timestamp is outside the five-minute tolerance"
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        return "signature does not match"
    return None


def cookie_args(request: Request, *, max_age: int | None = None) -> dict[str, Any]:
    secure: bool = request.app.state.secure_cookies
    return {"httponly": True, "secure": secure, "samesite": "lax", "path": "/", "max_age": max_age}
