"""The application factory for several worker processes (``shequn serve --workers N``): each worker builds its
own app from the environment the parent set (``SHEQUN_DB``, ``SHEQUN_WORKSPACE``, ``SHEQUN_SECURE_COOKIES``)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from shequn.app import App
from shequn.web.app import create_app


def make() -> FastAPI:
    app = App(os.environ.get("SHEQUN_DB"), workspace=os.environ.get("SHEQUN_WORKSPACE", "default"))
    return create_app(app, secure_cookies=os.environ.get("SHEQUN_SECURE_COOKIES", "1") != "0")
