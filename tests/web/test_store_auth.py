"""The security records in the store on SQLite and PostgreSQL, and revision i8a matching ``store/schema.py``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from shequn.app import App
from shequn.services.accounts import ROLE_PERMS, Accounts, Role, sha256
from shequn.store import Store
from shequn.store.partitions import pg_only
from shequn.store.schema import Base


def test_migrations_match_the_models(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.db.engine.connect() as conn:
            # On PostgreSQL the log is partitioned (revision part19_a): its partitions and id table are not models.
            ctx = MigrationContext.configure(
                conn, opts={"include_object": pg_only} if conn.dialect.name != "sqlite" else {}
            )
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        store.close()


def test_users_sessions_tokens_and_secrets(db_url: str) -> None:
    app = App(db_url)
    try:
        accounts = Accounts(app)
        assert not accounts.has_owner()
        owner = accounts.create_user("owner", "a long password", "owner", actor="test")
        viewer = accounts.create_user("viewer", "a long password", "viewer", actor="test")
        assert accounts.has_owner() and [u.username for u in accounts.users()] == ["owner", "viewer"]
        token, csrf = accounts.login(viewer)
        principal = accounts.session(token)
        assert principal is not None and principal.user.username == "viewer" and principal.session.csrf == csrf  # type: ignore[union-attr]
        accounts.logout(token)
        assert accounts.session(token) is None
        record, text = accounts.create_token(owner, "ci", ROLE_PERMS[Role.OWNER], actor="test")
        with app.store.transaction() as conn:
            assert app.store.auth.token_by_hash(conn, app.ws.id, sha256(text)).id == record.id  # type: ignore[union-attr]
        assert accounts.verify_token(text) is not None
        assert accounts.revoke_token(record.id, actor="test") and not accounts.revoke_token(record.id, actor="test")
        assert accounts.verify_token(text) is None
        secret = accounts.webhook_secret("shop")
        assert secret == accounts.webhook_secret("shop") and secret != accounts.rotate_webhook_secret("shop", actor="t")
        assert accounts.shop_secret("other") is None and accounts.webhook_secret("other") != secret
    finally:
        app.close()
