"""Login, sessions, CSRF, throttling, API tokens (scopes, revocation, expiry), roles and the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from shequn.services.accounts import Perm
from shequn.store.schema import API_TOKEN, WEB_USER
from tests.web.conftest import PASSWORD, Site


def login_form(client) -> str:  # type: ignore[no-untyped-def]
    r = client.get("/login")
    assert r.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]


def test_login_sets_a_secure_http_only_session_cookie_and_logout_ends_it(site: Site) -> None:
    c = site.client()
    assert c.get("/").status_code == 303
    token = login_form(c)
    r = c.post("/login", data={"username": "operator", "password": PASSWORD, "csrf": token, "next": "/tasks"})
    assert r.status_code == 303 and r.headers["location"] == "/tasks"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("shequn_session="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    page = c.get("/")
    assert page.status_code == 200 and "operator" in page.text
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/").status_code == 303  # the session is gone from the store, not only from the browser


def test_wrong_password_stale_form_and_open_redirect(site: Site) -> None:
    c = site.client()
    token = login_form(c)
    r = c.post("/login", data={"username": "owner", "password": "wrong password", "csrf": token})
    assert r.status_code == 401 and "shequn_session" not in r.headers.get("set-cookie", "")
    r = c.post("/login", data={"username": "owner", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403
    token = login_form(c)
    r = c.post("/login", data={"username": "owner", "password": PASSWORD, "csrf": token, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_failed_logins_are_throttled(site: Site) -> None:
    c = site.client()
    for _ in range(10):
        token = login_form(c)
        assert c.post("/login", data={"username": "viewer", "password": "nope-nope", "csrf": token}).status_code == 401
    token = login_form(c)
    r = c.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429


def test_csrf_is_required_for_cookie_sessions_but_not_for_tokens(site: Site) -> None:
    c = site.client()
    headers = site.session("operator")
    cookie_only = {"Cookie": headers["Cookie"]}
    body = {"segment": {"community": "读书会"}, "action": "tag", "idempotency_key": "k1", "value": "x"}
    assert c.post("/api/v1/segments/actions", json=body, headers=cookie_only).status_code == 403
    bad = {**cookie_only, "X-CSRF-Token": "forged"}
    assert c.post("/api/v1/segments/actions", json=body, headers=bad).status_code == 403
    assert c.post("/api/v1/segments/actions", json=body, headers=headers).status_code == 200
    assert (
        c.post(
            "/api/v1/segments/actions", json={**body, "idempotency_key": "k2"}, headers=site.bearer("operator")
        ).status_code
        == 200
    )
    # Reading needs no CSRF token.
    assert c.get("/api/v1/groups", headers=cookie_only).status_code == 200


def test_token_scopes_are_capped_and_tokens_revocable_and_expiring(site: Site) -> None:
    c = site.client()
    owner = site.bearer("owner")
    r = c.post("/api/v1/tokens", json={"name": "reporting", "scopes": ["read"], "expires_days": 1}, headers=owner)
    assert r.status_code == 201
    created = r.json()
    ro = {"Authorization": f"Bearer {created['token']}"}
    assert c.get("/api/v1/me", headers=ro).json()["permissions"] == ["read"]
    assert c.get("/api/v1/users", headers=ro).status_code == 403  # an owner's read-only token is read-only
    # A viewer cannot mint a token wider than their role.
    assert (
        c.post("/api/v1/tokens", json={"name": "x", "scopes": ["write"]}, headers=site.bearer("viewer")).status_code
        == 403
    )
    # Only a hash is stored.
    with site.app.store.transaction() as conn:
        stored = conn.execute(select(API_TOKEN.c.token_hash)).scalars().all()
    assert created["token"] not in stored and all(len(h) == 64 for h in stored)
    # Expiry follows the workspace clock.
    site.clock.advance(timedelta(days=1, seconds=1))
    assert c.get("/api/v1/me", headers=ro).status_code == 401
    # Revocation.
    r = c.post("/api/v1/tokens", json={"name": "short", "scopes": ["read"]}, headers=owner)
    tok = r.json()
    assert c.delete(f"/api/v1/tokens/{tok['id']}", headers=owner).json() == {"revoked": True}
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {tok['token']}"}).status_code == 401


def test_demoting_or_disabling_a_user_narrows_their_tokens_and_ends_sessions(site: Site) -> None:
    c = site.client()
    owner = site.bearer("owner")
    op = site.bearer("operator")
    session = site.session("operator")
    assert "write" in c.get("/api/v1/me", headers=op).json()["permissions"]
    assert c.patch("/api/v1/users/operator", json={"role": "viewer"}, headers=owner).status_code == 200
    assert c.get("/api/v1/me", headers=op).json()["permissions"] == ["read"]
    assert c.patch("/api/v1/users/operator", json={"disabled": True}, headers=owner).status_code == 200
    assert c.get("/api/v1/me", headers=op).status_code == 401
    assert c.get("/api/v1/me", headers=session).status_code == 401


def test_the_last_owner_stays(site: Site) -> None:
    c = site.client()
    owner = site.bearer("owner")
    r = c.patch("/api/v1/users/owner", json={"role": "operator"}, headers=owner)
    assert r.status_code == 422 and "last owner" in r.json()["detail"]
    r = c.patch("/api/v1/users/owner", json={"disabled": True}, headers=owner)
    assert r.status_code == 422


def test_passwords_are_argon2_and_changes_are_audited(site: Site) -> None:
    with site.app.store.transaction() as conn:
        hashes = conn.execute(select(WEB_USER.c.password_hash)).scalars().all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    c = site.client()
    c.post(
        "/api/v1/users",
        json={"username": "amy", "password": "long enough", "role": "viewer"},
        headers=site.bearer("owner"),
    )
    audit = c.get("/api/v1/audit", headers=site.bearer("owner")).json()
    mine = [a for a in audit if a["verb"] == "user.create" and a["object_id"] == "amy"]
    assert mine and mine[0]["actor"].startswith("token:") and "(owner)" in mine[0]["actor"]


def test_security_headers(site: Site) -> None:
    r = site.client().get("/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert Perm.ADMIN.value == "admin"
