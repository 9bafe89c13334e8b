"""Web (控制台与 API): the FastAPI application with the versioned HTTP API, the server-rendered console, security.

Owns: ``/api/v1`` (one router per resource in :mod:`.api`), the console pages (:mod:`.pages`, Jinja2 templates and
static assets shipped in the package, ECharts included: no CDN), authentication and authorization
(:mod:`.security`, :mod:`.deps`).
May import: everything inside shequn (it sits beside the command line, at the edge). Routes stay thin: parse,
authorize, call one operation of :mod:`shequn.services.console` or :mod:`shequn.services.accounts`, answer.
"""

from __future__ import annotations

from shequn.web.app import create_app

__all__ = ["create_app"]
