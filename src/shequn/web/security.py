"""Who is asking and what they may do: session cookies, bearer tokens, CSRF, login throttling, webhook signatures.

How it works:
    * A request is authenticated by ``Authorization: Bearer sq_…`` (an API token) or by the session cookie. Every
      route declares the permission it needs with :class:`Authorize`; a route without one is refused by the
      route-table test in ``tests/web``.
    * A request authenticated by the cookie that changes something (any method but GET/HEAD/OPTIONS) must carry the
      session's CSRF token in ``X-CSRF-Token`` or a ``csrf`` form field. Bearer tokens are not sent by browsers on
      their own, so they need none.
    * The login form is protected by a double-submit token (a cookie and a form field that must match).
    * Webhooks are signed with the shop's own secret like ``t=<unix seconds>,v2=<hex HMAC-SHA256(secret,
      "<t>.<METHOD>.<path>.<body>")>`` and accepted within five minutes of ``t``: the signature binds the shop
      (its path) and the kind of delivery as well as the body, so a captured delivery replayed to another shop's
      path, or another endpoint, does not verify. The header is checked before the body is read (a request
      without a well-formed, current signature costs nothing), the body is read up to WEBHOOK_MAX_BYTES only.

Things to keep in mind:
    * The cookie is ``Secure`` unless the server was started with ``secure_cookies=False`` (plain HTTP on a LAN).
      Browsers accept secure cookies from http://127.0.0.1 and http://localhost.
"""

from __future__ import annotations

import hashlib
import hmac
import time
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
STREAMED_UPLOADS = frozenset({"/imports", "/api/v1/imports"})  # routes that check the csrf field in the stream
WEBHOOK_MAX_BYTES = 64 * 1024


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
    if not sent and request.url.path in STREAMED_UPLOADS:
        return  # the upload's reader checks the csrf field before it writes the file (reading the form here would
        # store the whole upload first)
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


class LoginThrottle:
    """At most ``attempts`` password checks per user name and per client address in ``window`` seconds, counted in
    the store: every worker process sees the same count (a count per process let ``--workers 2`` check twice as
    many passwords).

    An attempt counts as a failure from the moment it begins (committed before it is counted), and is forgotten
    when it succeeds: of several attempts racing in several processes, no more than ``attempts`` get through."""

    def __init__(self, accounts: Accounts, *, attempts: int = 10, window: float = 900.0) -> None:
        self.accounts = accounts
        self.attempts = attempts
        self.window_ms = int(window * 1000)

    def begin(self, *keys: str) -> list[int] | None:
        """Count an attempt for ``keys``; None (and nothing counted) when one of them is over the limit."""
        ids = self.accounts.login_failed(keys, window_ms=self.window_ms)
        if self.accounts.login_failures(keys, window_ms=self.window_ms) > self.attempts:
            self.accounts.login_cleared((), ids)
            return None
        return ids

    def succeeded(self, attempt: list[int], *keys: str) -> None:
        """The attempt was right: it is no failure, and the failures of ``keys`` (the user name) are forgotten."""
        self.accounts.login_cleared(keys, attempt)


def _mac(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent with ``method`` to ``path`` at ``timestamp`` (what a shop
    computes; ``path`` as the request line has it, e.g. ``/api/v1/webhooks/youzan/orders``)."""
    return f"t={timestamp},v2={_mac(secret, timestamp, method, path, body)}"


def signature_timestamp(header: str, *, now: float | None = None) -> tuple[int, str | None]:
    """(``t``, None) when ``header`` is a well-formed v2 signature within the tolerance; else (0, what is wrong).
    Checked before the body is read."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        ts = int(parts.get("t", [""])[0])
    except ValueError:
        return 0, "signature header lacks t=<unix seconds>"
    if "v2" not in parts:
        return (
            0,
            "signature header lacks v2=<hex HMAC-SHA256 of t.METHOD.path.body> (v1, over the body only, is refused)",
        )
    if abs((now if now is not None else time.time()) - ts) > SIGNATURE_TOLERANCE_S:
        return 0, "signature timestamp is outside the five-minute tolerance"
    return ts, None


def verify_signature(
    secret: str, header: str, method: str, path: str, body: bytes, *, now: float | None = None
) -> str | None:
    """None when ``header`` signs ``method``, ``path`` and ``body`` with ``secret`` within the tolerance; else what
    is wrong."""
    ts, problem = signature_timestamp(header, now=now)
    if problem:
        return problem
    expected = _mac(secret, ts, method, path, body)
    given = [v for item in header.split(",") if (kv := item.strip().partition("="))[0] == "v2" for v in (kv[2],)]
    if not any(hmac.compare_digest(expected.encode(), v.encode("utf-8", "surrogateescape")) for v in given):
        return "signature does not match"
    return None


async def read_at_most(request: Request, limit: int) -> bytes:
    """The body, refused (413) when its declared length or, as it streams, its actual length passes ``limit``
    bytes (what a client declares is not trusted, nor needed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"a body here may have at most {limit // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"a body here may have at most {limit // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def cookie_args(request: Request, *, max_age: int | None = None) -> dict[str, Any]:
    secure: bool = request.app.state.secure_cookies
    return {"httponly": True, "secure": secure, "samesite": "lax", "path": "/", "max_age": max_age}
