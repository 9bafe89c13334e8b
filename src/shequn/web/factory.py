"""The application factory for several worker processes (``shequn serve --workers N``): each worker builds its
own app from the environment the parent set (``SHEQUN_DB``, ``SHEQUN_WORKSPACE``, ``SHEQUN_SECURE_COOKIES``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from shequn.analytics.apart import shutdown
from shequn.app import App
from shequn.web.app import create_app


def make() -> FastAPI:
    app = App(os.environ.get("SHEQUN_DB"), workspace=os.environ.get("SHEQUN_WORKSPACE", "default"))
    web = create_app(app, secure_cookies=os.environ.get("SHEQUN_SECURE_COOKIES", "1") != "0")
    inner = web.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        # A worker that stops ends its own analysis child: orphaned, the child kept the server's pipes (and
        # multiprocessing's resource tracker) open after `shequn serve` had said it stopped.
        try:
            async with inner(a) as state:
                yield state
        finally:
            shutdown()

    web.router.lifespan_context = lifespan
    return web
