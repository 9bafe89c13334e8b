"""Console and API security records: web users (控制台用户), login sessions, API tokens, workspace secrets.

Only hashes of session and API tokens are stored (SHA-256 of a high-entropy random token: a fast hash is right for
those); passwords arrive here already hashed with argon2 by :mod:`shequn.services.accounts`. The webhook signing
secret is kept in clear because verifying an HMAC needs it. Failed logins are counted here too, so that every web
worker throttles on the same count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Label, Select, delete, func, insert, select, update

from shequn.store.schema import API_TOKEN, LOGIN_FAILURE, WEB_SESSION, WEB_USER, WORKSPACE_SECRET


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: str
    locale: str
    disabled: bool
    created_ms: int
    last_login_ms: int | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user: UserRecord
    csrf: str
    created_ms: int
    expires_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    user: UserRecord
    name: str
    prefix: str
    scopes: frozenset[str]
    created_ms: int
    expires_ms: int | None
    last_used_ms: int | None
    revoked_ms: int | None


def _user(r: Any, prefix: str = "") -> UserRecord:
    return UserRecord(
        getattr(r, prefix + "id"),
        getattr(r, prefix + "username"),
        getattr(r, prefix + "role"),
        getattr(r, prefix + "locale"),
        bool(getattr(r, prefix + "disabled")),
        getattr(r, prefix + "created_ms"),
        getattr(r, prefix + "last_login_ms"),
        getattr(r, prefix + "password_hash"),
    )


def _user_columns() -> list[Label[Any]]:
    return [c.label(f"u_{c.name}") for c in WEB_USER.c]


class AuthStore:
    # -- users ----------------------------------------------------------------------------------------------

    def create_user(
        self, conn: Connection, ws_id: int, *, username: str, password_hash: str, role: str, now_ms: int
    ) -> int:
        res = conn.execute(
            insert(WEB_USER).values(
                workspace_id=ws_id,
                username=username,
                password_hash=password_hash,
                role=role,
                locale="",
                disabled=0,
                created_ms=now_ms,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    def user(
        self, conn: Connection, ws_id: int, *, username: str | None = None, id: int | None = None
    ) -> UserRecord | None:
        u = WEB_USER
        q = select(u).where(u.c.workspace_id == ws_id)
        q = q.where(u.c.username == username) if username is not None else q.where(u.c.id == id)
        r = conn.execute(q).first()
        return _user(r) if r else None

    def users(self, conn: Connection, ws_id: int) -> list[UserRecord]:
        u = WEB_USER
        return [_user(r) for r in conn.execute(select(u).where(u.c.workspace_id == ws_id).order_by(u.c.id))]

    def count_owners(self, conn: Connection, ws_id: int) -> int:
        u = WEB_USER
        q = select(func.count()).where(u.c.workspace_id == ws_id, u.c.role == "owner", u.c.disabled == 0)
        return int(conn.execute(q).scalar_one())

    def update_user(self, conn: Connection, ws_id: int, user_id: int, **values: object) -> None:
        u = WEB_USER
        conn.execute(update(u).where(u.c.workspace_id == ws_id, u.c.id == user_id).values(**values))

    # -- sessions -------------------------------------------------------------------------------------------

    def create_session(
        self, conn: Connection, *, session_hash: str, user_id: int, csrf: str, now_ms: int, expires_ms: int
    ) -> None:
        conn.execute(
            insert(WEB_SESSION).values(
                id=session_hash,
                user_id=user_id,
                csrf=csrf,
                created_ms=now_ms,
                expires_ms=expires_ms,
                last_seen_ms=now_ms,
            )
        )

    def session(self, conn: Connection, ws_id: int, session_hash: str, *, now_ms: int) -> SessionRecord | None:
        """The live session with this token hash (None when unknown, expired, or its user is disabled)."""
        s, u = WEB_SESSION, WEB_USER
        q = (
            select(*s.c, *_user_columns())
            .select_from(s.join(u, s.c.user_id == u.c.id))
            .where(s.c.id == session_hash, u.c.workspace_id == ws_id, s.c.expires_ms > now_ms, u.c.disabled == 0)
        )
        r = conn.execute(q).first()
        if r is None:
            return None
        return SessionRecord(r.id, _user(r, "u_"), r.csrf, r.created_ms, r.expires_ms, r.last_seen_ms)

    def touch_session(self, conn: Connection, session_hash: str, *, now_ms: int, expires_ms: int) -> None:
        s = WEB_SESSION
        conn.execute(update(s).where(s.c.id == session_hash).values(last_seen_ms=now_ms, expires_ms=expires_ms))

    def delete_session(self, conn: Connection, session_hash: str) -> None:
        conn.execute(delete(WEB_SESSION).where(WEB_SESSION.c.id == session_hash))

    def delete_sessions_of(self, conn: Connection, user_id: int) -> None:
        conn.execute(delete(WEB_SESSION).where(WEB_SESSION.c.user_id == user_id))

    def purge_sessions(self, conn: Connection, *, now_ms: int) -> None:
        conn.execute(delete(WEB_SESSION).where(WEB_SESSION.c.expires_ms <= now_ms))

    # -- API tokens -----------------------------------------------------------------------------------------

    def create_token(
        self,
        conn: Connection,
        ws_id: int,
        *,
        user_id: int,
        name: str,
        prefix: str,
        token_hash: str,
        scopes: frozenset[str],
        now_ms: int,
        expires_ms: int | None,
    ) -> int:
        res = conn.execute(
            insert(API_TOKEN).values(
                workspace_id=ws_id,
                user_id=user_id,
                name=name,
                prefix=prefix,
                token_hash=token_hash,
                scopes=" ".join(sorted(scopes)),
                created_ms=now_ms,
                expires_ms=expires_ms,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    def _token_query(self, ws_id: int) -> Select[Any]:
        t, u = API_TOKEN, WEB_USER
        return (
            select(*t.c, *_user_columns())
            .select_from(t.join(u, t.c.user_id == u.c.id))
            .where(t.c.workspace_id == ws_id)
        )

    @staticmethod
    def _token(r: object) -> TokenRecord:
        return TokenRecord(
            r.id,  # type: ignore[attr-defined]
            _user(r, "u_"),
            r.name,  # type: ignore[attr-defined]
            r.prefix,  # type: ignore[attr-defined]
            frozenset(r.scopes.split()),  # type: ignore[attr-defined]
            r.created_ms,  # type: ignore[attr-defined]
            r.expires_ms,  # type: ignore[attr-defined]
            r.last_used_ms,  # type: ignore[attr-defined]
            r.revoked_ms,  # type: ignore[attr-defined]
        )

    def token_by_hash(self, conn: Connection, ws_id: int, token_hash: str) -> TokenRecord | None:
        r = conn.execute(self._token_query(ws_id).where(API_TOKEN.c.token_hash == token_hash)).first()
        return self._token(r) if r else None

    def token(self, conn: Connection, ws_id: int, token_id: int) -> TokenRecord | None:
        r = conn.execute(self._token_query(ws_id).where(API_TOKEN.c.id == token_id)).first()
        return self._token(r) if r else None

    def tokens(self, conn: Connection, ws_id: int, *, user_id: int | None = None) -> list[TokenRecord]:
        q = self._token_query(ws_id)
        if user_id is not None:
            q = q.where(API_TOKEN.c.user_id == user_id)
        return [self._token(r) for r in conn.execute(q.order_by(API_TOKEN.c.id))]

    def touch_token(self, conn: Connection, token_id: int, *, now_ms: int) -> None:
        t = API_TOKEN
        conn.execute(update(t).where(t.c.id == token_id).values(last_used_ms=now_ms))

    def revoke_token(self, conn: Connection, ws_id: int, token_id: int, *, now_ms: int) -> bool:
        t = API_TOKEN
        res = conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.id == token_id, t.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms)
        )
        return bool(res.rowcount)

    # -- failed logins (the throttle every worker shares) ---------------------------------------------------------

    def failures(self, conn: Connection, ws_id: int, keys: tuple[str, ...], *, since_ms: int) -> int:
        """The most failures any of ``keys`` had since ``since_ms``."""
        f = LOGIN_FAILURE
        q = (
            select(func.count())
            .where(f.c.workspace_id == ws_id, f.c.key.in_([k[:200] for k in keys]), f.c.at_ms >= since_ms)
            .group_by(f.c.key)
        )
        return max((int(n) for n in conn.execute(q).scalars()), default=0)

    def add_failure(
        self, conn: Connection, ws_id: int, keys: tuple[str, ...], *, now_ms: int, before_ms: int
    ) -> list[int]:
        """Count a failure for each of ``keys`` (their row ids), forgetting failures older than ``before_ms``."""
        f = LOGIN_FAILURE
        conn.execute(delete(f).where(f.c.workspace_id == ws_id, f.c.at_ms < before_ms))
        ids = []
        for k in keys:
            res = conn.execute(insert(f).values(workspace_id=ws_id, key=k[:200], at_ms=now_ms))
            ids.append(int(res.inserted_primary_key[0]))  # type: ignore[index]
        return ids

    def drop_failures(self, conn: Connection, ids: list[int]) -> None:
        conn.execute(delete(LOGIN_FAILURE).where(LOGIN_FAILURE.c.id.in_(ids)))

    def clear_failures(self, conn: Connection, ws_id: int, keys: tuple[str, ...]) -> None:
        f = LOGIN_FAILURE
        conn.execute(delete(f).where(f.c.workspace_id == ws_id, f.c.key.in_([k[:200] for k in keys])))

    # -- workspace secrets ----------------------------------------------------------------------------------

    def secret(self, conn: Connection, ws_id: int, name: str) -> str | None:
        s = WORKSPACE_SECRET
        value = conn.execute(select(s.c.value).where(s.c.workspace_id == ws_id, s.c.name == name)).scalar()
        return str(value) if value is not None else None

    def set_secret(self, conn: Connection, ws_id: int, name: str, value: str, *, now_ms: int) -> None:
        s = WORKSPACE_SECRET
        conn.execute(delete(s).where(s.c.workspace_id == ws_id, s.c.name == name))
        conn.execute(insert(s).values(workspace_id=ws_id, name=name, value=value, created_ms=now_ms))
