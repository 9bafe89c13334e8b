"""The FastAPI application: the API under ``/api/v1``, the console pages, static assets shipped in the package.

Nothing answers without authentication except ``/login``, ``/healthz``, ``/static`` (the console's own CSS, JS and
ECharts) and the shop webhooks, which verify their own signatures.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shequn import __version__
from shequn.app import App
from shequn.domain import UserError
from shequn.services.accounts import Accounts
from shequn.services.console import NotFoundError, Operations
from shequn.services.uploads import Uploads
from shequn.web import api, inbox_pages, member, pages, wecom
from shequn.web.routes import flatten
from shequn.web.schemas import Health
from shequn.web.security import LoginThrottle, NotAuthenticatedError, is_api

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeaders:
    """A plain ASGI wrapper (cheaper than Starlette's ``BaseHTTPMiddleware``): adds the security headers, no-store
    for everything but static assets, and ``Server-Timing`` with the time the application took."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(app: App, *, secure_cookies: bool = True) -> FastAPI:
    """The web application for one workspace of ``app`` (which it shares with whoever made it)."""
    web = FastAPI(
        title="shequn API",
        version=__version__,
        description="社群运营平台 · shequn: communities, groups, members, events, staff tasks, segments, webhooks.",
        openapi_url=None,  # published at /api/v1/openapi.json, to authenticated clients only
        docs_url=None,
        redoc_url=None,
    )
    web.state.app = app
    web.state.ops = Operations(app)
    web.state.accounts = Accounts(app)
    web.state.uploads = Uploads(web.state.ops)
    web.state.secure_cookies = secure_cookies
    web.state.throttle = LoginThrottle(web.state.accounts)
    web.openapi_url = "/api/v1/openapi.json"  # what app.openapi() puts in "servers"-free schemas; route is ours

    static = resources.files("shequn.web").joinpath("static")
    web.mount("/static", StaticFiles(directory=str(static)), name="static")
    for router in (api.router, pages.router, wecom.router):  # issue 7: WeCom callbacks
        flatten(web.router, router)  # one flat route table: see shequn.web.routes
    flatten(web.router, member.router)  # issue 23: member pages, opened by a signed link
    flatten(web.router, inbox_pages.router)  # issue 20: the operator's inbox
    web.add_exception_handler(member.RefusedError, lambda request, exc: member.refused_page(request))

    @web.get("/healthz", response_model=Health, tags=["meta"])
    async def health() -> Health:
        """Liveness: answers without authentication and says nothing about the workspace."""
        return Health(status="ok", version=__version__)

    @web.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "authentication required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @web.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return pages.error_page(request, 404, str(exc))

    @web.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return pages.error_page(request, 422, str(exc))

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or request.url.path.startswith("/static/") or exc.status_code == 405:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    @web.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return pages.error_page(request, 422, text)

    web.add_middleware(SecurityHeaders)
    return web
