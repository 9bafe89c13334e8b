"""Every route × every role: nothing answers without authentication except the login page, the health check, the
static assets and the signed webhooks; each route's permission holds for sessions and API tokens alike. A route
added without an :class:`Authorize` dependency fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from shequn.services.accounts import Perm
from shequn.web.security import Authorize
from tests.web.conftest import ROLES, Site

# Routes that authenticate otherwise, or need no authentication by design.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/healthz"),
    ("POST", "/api/v1/webhooks/{source}/orders"),  # HMAC signature, see test_webhooks
    ("POST", "/api/v1/webhooks/{source}/payments"),
    ("GET", "/wecom/callback"),  # WeCom's msg_signature, see tests/connectors/wecom
    ("POST", "/wecom/callback"),
    # member pages: the signed link in the path is the credential, see test_member_pages
    *(("GET", f"/m/{{token}}{p}") for p in ("", "/boards", "/checkin", "/rules", "/activities", "/invite")),
    *(("GET", f"/m/{{token}}{p}") for p in ("/rewards", "/poster.png")),
    *(("POST", f"/m/{{token}}{p}") for p in ("/checkin", "/rules", "/activities/{key}", "/rewards")),
    ("GET", "/m/c/{token}"),  # a community link: a member identifies with a one-time code
    ("POST", "/m/c/{token}"),
    ("POST", "/m/c/{token}/verify"),
}
RANK = {"viewer": {Perm.READ}, "operator": {Perm.READ, Perm.WRITE}, "owner": {Perm.READ, Perm.WRITE, Perm.ADMIN}}


def authorizers(route: APIRoute) -> list[Authorize]:
    found: list[Authorize] = []
    stack = [route.dependant]
    while stack:
        d = stack.pop()
        if isinstance(d.call, Authorize):
            found.append(d.call)
        stack.extend(d.dependencies)
    return found


def routes(site: Site) -> list[tuple[str, str, Perm | None]]:
    out = []
    for rc in iter_route_contexts(site.web.routes):
        r = rc.original_route
        if isinstance(r, Mount):
            assert rc.path == "/static", f"unexpected mount {rc.path}"
            continue
        assert isinstance(r, APIRoute), r
        path = rc.path
        for method in sorted((rc.methods or set()) - {"HEAD"}):
            auth = authorizers(r)
            if (method, path) in PUBLIC:
                assert not auth, f"{method} {path} is public but declares {auth}"
                out.append((method, path, None))
            else:
                assert len({a.perm for a in auth}) == 1, f"{method} {path} must declare exactly one Authorize"
                out.append((method, path, auth[0].perm))
    return out


def fill(path: str, site: Site) -> str:
    values = {"name": "读书会", "group_id": "1", "person_id": "1", "task_id": "999999", "token_id": "999999",
              "username": "nobody-here", "source": "shop", "job": "20260101000000-deadbeef", "key": "weekly",
              "code": "dushu", "n": "999999", "verb": "reopen"}  # fmt: skip
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    return url + "?seconds=0" if url.endswith("/stream") else url  # a live feed ends at once


def test_every_route_is_classified(site: Site) -> None:
    table = routes(site)
    assert len(table) > 30
    public = {(m, p) for m, p, perm in table if perm is None}
    assert public == PUBLIC


@pytest.mark.parametrize("via", ["token", "session"])
def test_route_table_by_role(site: Site, via: str) -> None:
    client = site.client()
    checked = 0
    for method, path, perm in routes(site):
        if perm is None:
            continue
        url = fill(path, site)
        api = path.startswith("/api/")
        if via == "token" and not api:
            continue
        # Anonymous: the API says 401, pages send to the login.
        r = client.request(method, url)
        if api:
            assert r.status_code == 401, f"anonymous {method} {url}: {r.status_code}"
            assert r.headers["www-authenticate"] == "Bearer"
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), f"anonymous {method} {url}"
        # A bad token or cookie is anonymous too.
        r = client.request(method, url, headers={"Authorization": "Bearer sq_nope_nope"})
        assert r.status_code in (401, 303), f"bad token {method} {url}: {r.status_code}"
        for role in ROLES:
            headers = site.bearer(role) if via == "token" else site.session(role)
            kwargs: dict[str, Any] = {"headers": headers}
            r = client.request(method, url, **kwargs)
            if perm in RANK[role]:
                assert r.status_code not in (401, 403), f"{role} {method} {url}: {r.status_code} {r.text[:200]}"
            else:
                assert r.status_code == 403, f"{role} {method} {url} should be refused: {r.status_code}"
            checked += 1
    assert checked > 30


def test_public_routes_answer_without_login(site: Site) -> None:
    client = site.client()
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/login").status_code == 200
    assert client.get("/static/echarts.min.js").status_code == 200
    # The webhooks answer, but refuse what is not signed.
    r = client.post("/api/v1/webhooks/shop/orders", content=b"{}")
    assert r.status_code == 401


def test_openapi_needs_authentication_and_lists_every_api_route(site: Site) -> None:
    client = site.client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    schema = client.get("/api/v1/openapi.json", headers=site.bearer("viewer")).json()
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    for method, path, _ in routes(site):
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            assert (method, path) in documented, (method, path)
