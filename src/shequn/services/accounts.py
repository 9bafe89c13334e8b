"""Accounts (账号与权限): console users with roles, login sessions, scoped API tokens, the webhook secret.

Shared by the command line (``shequn user create``) and the web. Every change is written to the audit log with the
actor who made it.

How it works:
    * Passwords are hashed with argon2id (argon2-cffi's defaults); a login for an unknown user still spends one
      verification, so timing does not tell which user names exist.
    * A session or API token is 32 random bytes; the store keeps only its SHA-256. A session carries its own CSRF
      token. API tokens look like ``sq_<prefix>_<secret>``: the prefix names the token in lists and logs.
    * Permissions: ``read`` (viewer), ``write`` (operator: acting on members, tasks, specs, imports), ``admin``
      (owner: users, tokens of others, the shops' webhook secrets, the audit log). A token's scopes are capped by its
      creator's role *at the time of use*, so demoting or disabling a user also narrows their tokens.
    * Sessions and tokens are looked up in the store on every request (an indexed read of a row, well under a
      millisecond), never cached in a process: a logout, a revocation, a role change, a disabled user or an expiry
      takes effect in every web worker at once.

Things to keep in mind:
    * The last active owner can be neither demoted nor disabled: a workspace always has someone who can manage it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shequn.app import App
from shequn.domain import UserError
from shequn.store import SessionRecord, TokenRecord, UserRecord


class Role(StrEnum):
    OWNER = "owner"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Perm(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset({Perm.READ}),
    Role.OPERATOR: frozenset({Perm.READ, Perm.WRITE}),
    Role.OWNER: frozenset({Perm.READ, Perm.WRITE, Perm.ADMIN}),
}
SESSION_DAYS = 14
DAY_MS = 86_400_000
WEBHOOK_SECRET = "webhook"
USERNAME = re.compile(r"^[\w.@-]{1,100}$")
MIN_PASSWORD = 8

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise UserError(f"unknown role {value!r}; roles are owner, operator, viewer", exit_code=2) from None


def parse_scopes(values: Sequence[str] | str) -> frozenset[Perm]:
    items = values.replace(",", " ").split() if isinstance(values, str) else list(values)
    out = set()
    for v in items:
        try:
            out.add(Perm(v))
        except ValueError:
            raise UserError(f"unknown scope {v!r}; scopes are read, write, admin", exit_code=2) from None
    if not out:
        raise UserError("a token needs at least one scope (read, write, admin)", exit_code=2)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a logged-in user (with their session) or an API token (with its scopes)."""

    user: UserRecord
    perms: frozenset[Perm]
    session: SessionRecord | None = None
    token: TokenRecord | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        if self.token is not None:
            return f"token:{self.token.prefix}({self.user.username})"
        return f"user:{self.user.username}"

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    def can(self, perm: Perm) -> bool:
        return perm in self.perms


class Accounts:
    """Users, sessions, tokens and secrets of one workspace of ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = app.store
        self.ws = app.ws.id

    def _audit(self, conn: object, actor: str, verb: str, object_type: str, object_id: str, **detail: object) -> None:
        self.store.audit.record(
            conn,  # type: ignore[arg-type]
            self.ws,
            actor=actor,
            verb=verb,
            object_type=object_type,
            object_id=object_id,
            detail=dict(detail),
            now_ms=self.app.now_ms(),
        )

    # -- users ----------------------------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        with self.store.transaction() as conn:
            return self.store.auth.users(conn, self.ws)

    def has_owner(self) -> bool:
        with self.store.transaction() as conn:
            return self.store.auth.count_owners(conn, self.ws) > 0

    def create_user(self, username: str, password: str, role: str, *, actor: str) -> UserRecord:
        r = parse_role(role)
        if not USERNAME.match(username):
            raise UserError(f"user name {username!r}: use 1-100 letters, digits, '.', '_', '@' or '-'", exit_code=2)
        check_password(password)
        with self.store.transaction() as conn:
            if self.store.auth.user(conn, self.ws, username=username):
                raise UserError(f"user {username!r} already exists", exit_code=2)
            uid = self.store.auth.create_user(
                conn, self.ws, username=username, password_hash=_hasher.hash(password), role=r.value,
                now_ms=self.app.now_ms(),
            )  # fmt: skip
            self._audit(conn, actor, "user.create", "user", username, role=r.value)
            user = self.store.auth.user(conn, self.ws, id=uid)
        assert user is not None
        return user

    def set_role(self, username: str, role: str, *, actor: str) -> None:
        r = parse_role(role)
        with self.store.transaction() as conn:
            user = self._user(conn, username)
            if user.role == Role.OWNER and r is not Role.OWNER and self.store.auth.count_owners(conn, self.ws) <= 1:
                raise UserError("the last owner cannot be demoted; make someone else owner first", exit_code=2)
            self.store.auth.update_user(conn, self.ws, user.id, role=r.value)
            self._audit(conn, actor, "user.role", "user", username, role=r.value, was=user.role)

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> None:
        with self.store.transaction() as conn:
            user = self._user(conn, username)
            if disabled and user.role == Role.OWNER and self.store.auth.count_owners(conn, self.ws) <= 1:
                raise UserError("the last owner cannot be disabled", exit_code=2)
            self.store.auth.update_user(conn, self.ws, user.id, disabled=int(disabled))
            if disabled:
                self.store.auth.delete_sessions_of(conn, user.id)
            self._audit(conn, actor, "user.disable" if disabled else "user.enable", "user", username)

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        check_password(password)
        with self.store.transaction() as conn:
            user = self._user(conn, username)
            self.store.auth.update_user(conn, self.ws, user.id, password_hash=_hasher.hash(password))
            self.store.auth.delete_sessions_of(conn, user.id)
            self._audit(conn, actor, "user.password", "user", username)

    def set_locale(self, user_id: int, locale: str) -> None:
        with self.store.transaction() as conn:
            self.store.auth.update_user(conn, self.ws, user_id, locale=locale)

    def _user(self, conn: object, username: str) -> UserRecord:
        user = self.store.auth.user(conn, self.ws, username=username)  # type: ignore[arg-type]
        if user is None:
            raise UserError(f"no user named {username!r}", exit_code=2)
        return user

    # -- sessions -------------------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> UserRecord | None:
        """The user if the password is right and the account enabled (None otherwise, in constant work)."""
        with self.store.transaction() as conn:
            user = self.store.auth.user(conn, self.ws, username=username)
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            with self.store.transaction() as conn:
                self.store.auth.update_user(conn, self.ws, user.id, password_hash=_hasher.hash(password))
        return user

    def login(self, user: UserRecord) -> tuple[str, str]:
        """Open a session for ``user``; return (session token for the cookie, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            self.store.auth.purge_sessions(conn, now_ms=now)
            self.store.auth.create_session(
                conn, session_hash=sha256(token), user_id=user.id, csrf=csrf, now_ms=now,
                expires_ms=now + SESSION_DAYS * DAY_MS,
            )  # fmt: skip
            self.store.auth.update_user(conn, self.ws, user.id, last_login_ms=now)
            self._audit(conn, f"user:{user.username}", "session.login", "user", user.username)
        return token, csrf

    def session(self, token: str) -> Principal | None:
        now = self.app.now_ms()
        h = sha256(token)
        with self.store.transaction() as conn:
            s = self.store.auth.session(conn, self.ws, h, now_ms=now)
            if s is None:
                return None
            if now - s.last_seen_ms > 60_000:  # sliding expiry, written at most once a minute
                self.store.auth.touch_session(conn, h, now_ms=now, expires_ms=now + SESSION_DAYS * DAY_MS)
        principal = Principal(s.user, ROLE_PERMS[Role(s.user.role)], session=s)
        return principal

    def logout(self, token: str) -> None:
        with self.store.transaction() as conn:
            self.store.auth.delete_session(conn, sha256(token))

    # -- failed logins (the store's count, shared by every worker) --------------------------------------------

    def login_failures(self, keys: tuple[str, ...], *, window_ms: int) -> int:
        with self.store.transaction() as conn:
            return self.store.auth.failures(conn, self.ws, keys, since_ms=self.app.now_ms() - window_ms)

    def login_failed(self, keys: tuple[str, ...], *, window_ms: int) -> list[int]:
        """Count a failure for each of ``keys`` (committed before anyone counts again); their row ids."""
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            return self.store.auth.add_failure(conn, self.ws, keys, now_ms=now, before_ms=now - window_ms)

    def login_cleared(self, keys: tuple[str, ...], ids: list[int]) -> None:
        """Forget the failures of ``keys`` and the rows ``ids``."""
        with self.store.transaction() as conn:
            self.store.auth.clear_failures(conn, self.ws, keys)
            self.store.auth.drop_failures(conn, ids)

    # -- API tokens -----------------------------------------------------------------------------------------

    def create_token(
        self, user: UserRecord, name: str, scopes: frozenset[Perm], *, actor: str, expires_days: int | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token for ``user`` (scopes no wider than the user's role); return it and its text, shown once."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise UserError("a token needs a name of 1-100 characters", exit_code=2)
        allowed = ROLE_PERMS[Role(user.role)]
        if not scopes <= allowed:
            wide = ", ".join(sorted(scopes - allowed))
            raise UserError(f"scope(s) {wide} exceed the role {user.role} of {user.username}", exit_code=2)
        if expires_days is not None and not 1 <= expires_days <= 3650:
            raise UserError("expires_days must be between 1 and 3650", exit_code=2)
        prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        text = f"sq_{prefix}_{secret}"
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            tid = self.store.auth.create_token(
                conn, self.ws, user_id=user.id, name=name, prefix=prefix, token_hash=sha256(text),
                scopes=frozenset(s.value for s in scopes), now_ms=now,
                expires_ms=now + expires_days * DAY_MS if expires_days else None,
            )  # fmt: skip
            self._audit(conn, actor, "token.create", "token", prefix, name=name, scopes=sorted(scopes))
            record = self.store.auth.token(conn, self.ws, tid)
        assert record is not None
        return record, text

    def tokens(self, *, user_id: int | None = None) -> list[TokenRecord]:
        with self.store.transaction() as conn:
            return self.store.auth.tokens(conn, self.ws, user_id=user_id)

    def token(self, token_id: int) -> TokenRecord | None:
        with self.store.transaction() as conn:
            return self.store.auth.token(conn, self.ws, token_id)

    def verify_token(self, text: str) -> Principal | None:
        if not text.startswith("sq_"):
            return None
        now = self.app.now_ms()
        h = sha256(text)
        with self.store.transaction() as conn:
            tok = self.store.auth.token_by_hash(conn, self.ws, h)
            if tok is None or tok.revoked_ms is not None or tok.user.disabled:
                return None
            if tok.expires_ms is not None and tok.expires_ms <= now:
                return None
            if tok.last_used_ms is None or now - tok.last_used_ms > 60_000:
                self.store.auth.touch_token(conn, tok.id, now_ms=now)
        perms = frozenset(Perm(s) for s in tok.scopes) & ROLE_PERMS[Role(tok.user.role)]
        principal = Principal(tok.user, perms, token=tok)
        return principal

    def revoke_token(self, token_id: int, *, actor: str) -> bool:
        with self.store.transaction() as conn:
            done = self.store.auth.revoke_token(conn, self.ws, token_id, now_ms=self.app.now_ms())
            if done:
                self._audit(conn, actor, "token.revoke", "token", str(token_id))
        return done

    # -- the shops' webhook secrets -------------------------------------------------------------------------

    def webhook_secret(self, shop: str) -> str:
        """The secret ``shop`` signs its webhooks with (made on first use; one per shop, so a shop's secret signs
        nothing for another)."""
        with self.store.transaction() as conn:
            value = self.store.auth.secret(conn, self.ws, _shop_key(shop))
            if value is None:
                value = "whsec_" + secrets.token_urlsafe(32)
                self.store.auth.set_secret(conn, self.ws, _shop_key(shop), value, now_ms=self.app.now_ms())
        return value

    def shop_secret(self, shop: str) -> str | None:
        """``shop``'s secret if an owner made one (what a delivery is verified with; never made here)."""
        with self.store.transaction() as conn:
            return self.store.auth.secret(conn, self.ws, _shop_key(shop))

    def rotate_webhook_secret(self, shop: str, *, actor: str) -> str:
        value = "whsec_" + secrets.token_urlsafe(32)
        with self.store.transaction() as conn:
            self.store.auth.set_secret(conn, self.ws, _shop_key(shop), value, now_ms=self.app.now_ms())
            self._audit(conn, actor, "secret.rotate", "secret", _shop_key(shop))
        return value


def _shop_key(shop: str) -> str:
    return f"{WEBHOOK_SECRET}:{shop}"


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters", exit_code=2)
    if len(password) > 1024:
        raise UserError("a password may have at most 1024 characters", exit_code=2)


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))
