"""The dependencies routes declare (``Annotated`` aliases): who asks and with what permission, the operations, the
accounts, the reader's locale. They do no I/O of their own, so they are ``async``: FastAPI would run plain functions
in its thread pool, one hop per dependency per request.

Quick read routes (GET) are ``async`` too and call the store directly: their queries take about a millisecond, and a
hop to the thread pool and back cost as much again (the server is CPU-bound; threads add no parallelism under the
GIL). Routes that may take long stay plain functions, run in the thread pool, so they never stall the event loop:
writes (they may wait for the workspace's writer lock) and whole-workspace computations (a community's trends,
segments). The overview is served from what a background thread computed at most a few seconds ago."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shequn.i18n import normalize_locale
from shequn.services.accounts import Accounts, Perm, Principal
from shequn.services.console import Operations
from shequn.web.security import LANG_COOKIE, Authorize

READ = Authorize(Perm.READ)
WRITE = Authorize(Perm.WRITE)
ADMIN = Authorize(Perm.ADMIN)

Reader = Annotated[Principal, Depends(READ)]
Writer = Annotated[Principal, Depends(WRITE)]
Admin = Annotated[Principal, Depends(ADMIN)]


async def get_ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


async def get_accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def locale_of(request: Request) -> str:
    """``?lang=``, then the language cookie, then the user's saved choice, then Accept-Language, then the
    workspace's."""
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if lang:
        return normalize_locale(lang)
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and principal.user.locale:
        return normalize_locale(principal.user.locale)
    accept = request.headers.get("accept-language", "")
    if accept:
        return normalize_locale(accept.split(",")[0])
    ws_locale: str = request.app.state.ops.app.ws.locale
    return normalize_locale(ws_locale)


async def request_locale(request: Request) -> str:
    return locale_of(request)


async def wants_fresh(request: Request) -> bool:
    """The client asked for figures computed now (``Cache-Control: no-cache``, as a browser's hard reload sends)."""
    return "no-cache" in request.headers.get("cache-control", "")


OpsDep = Annotated[Operations, Depends(get_ops)]
FreshDep = Annotated[bool, Depends(wants_fresh)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
LocaleDep = Annotated[str, Depends(request_locale)]
