"""Flat route tables: the API's and the pages' routes copied onto the application's own router.

FastAPI (0.12x and later) keeps an included router as a nested branch and walks every branch twice per request
(once to find the route, once to run it), with bookkeeping at each level: on a quick read that walk cost a third of
the framework's time per request. Copying the routes (as older FastAPI's ``include_router`` did) leaves one flat list
that Starlette matches with one regular expression per route. The routes, their order and the OpenAPI schema stay
the same (``tests/web`` compares the schema).

May import FastAPI only.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

# What a route was declared with, by ``add_api_route``'s parameter names (the attributes share the names).
_COPIED = (
    "response_model",
    "status_code",
    "tags",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "name",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
    "strict_content_type",
    "max_body_size",
    "form_limits",
)


def flatten(target: APIRouter, source: APIRouter) -> None:
    """Add a copy of every route of ``source`` to ``target`` (under ``target``'s prefix), in order. ``source`` holds
    plain routes only (it includes no router)."""
    for route in source.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"flatten copies API routes only, not {route!r}")
        target.add_api_route(route.path, route.endpoint, **{k: getattr(route, k) for k in _COPIED})
