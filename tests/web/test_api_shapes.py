"""Every GET route of the API answers in the shape its OpenAPI schema publishes.

The busiest reads build their JSON without Pydantic (``shequn.web.schemas.json_response``); this walks every GET
route that declares a response model, with real ids of a small workspace (members with messages, an open staff task,
tags, a points ledger), and checks that the body validates against the model and that Pydantic writes it back
identically (no field missing, none extra, times written the same way)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from shequn.services.console import Operations
from shequn.store import Segment
from shequn.web.schemas import GroupOut, MemberOut, TaskOut, group_json, json_response, member_json, task_json
from tests.web.conftest import Site


def _dressed(site: Site) -> dict[str, str]:
    """Give the workspace an open staff task and a tag; the ids to put in the routes' paths."""
    ops = Operations(site.app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    with site.app.store.transaction() as conn:
        community_id = site.app.store.communities.ids(conn, site.app.ws.id)["读书会"]
    ops.act_on_segment(Segment(community_id=community_id), "invite", actor="t", key="inv", group_id=g1.id, text="来")
    member = ops.roster(g1.id)[0]
    assert member.person_id is not None
    ops.tag_member(member.person_id, "读书会", "vip", remove=False, actor="t")
    return {"group_id": str(g1.id), "person_id": str(member.person_id), "name": "读书会"}


def test_every_get_route_answers_in_its_models_shape(site: Site) -> None:
    values = _dressed(site)
    client = site.client()
    checked: list[str] = []
    for route in site.web.routes:
        if not (isinstance(route, APIRoute) and route.path.startswith("/api/v1/") and "GET" in route.methods):
            continue
        if route.response_model is None or route.path.endswith("openapi.json"):
            continue
        if not route.param_convertors.keys() <= values.keys():  # an import job, a token: not read here
            continue
        path = route.path.format(**values)
        params = {"shop": "shop"} if path.endswith("/webhook-secret") else None  # a required query parameter
        response = client.get(path, params=params, headers=site.bearer("owner"))
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body: Any = response.json()
        adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
        assert adapter.dump_python(adapter.validate_python(body), mode="json") == body, path
        checked.append(path)
    for hot in ("/groups/{group_id}", "/groups/{group_id}/members", "/groups/{group_id}/heatmap",
                "/members/{person_id}", "/members/{person_id}/timeline", "/tasks", "/events", "/overview",
                "/communities", "/communities/{name}"):  # fmt: skip
        assert "/api/v1" + hot.format(**values) in checked, hot


def test_the_json_builders_write_what_the_models_write(site: Site) -> None:
    _dressed(site)
    ops = Operations(site.app)
    tasks = ops.tasks()
    members = [m for g in ops.groups() for m in ops.roster(g.id)]
    assert tasks and any(m.tags for m in members)

    def same(model: Any, built: dict[str, Any]) -> None:
        assert model.model_dump(mode="json") == orjson.loads(json_response(built).body)

    for g in ops.groups():
        same(GroupOut.of(g), group_json(g))
    for m in members:
        same(MemberOut.of(m), member_json(m))
    for t in tasks:
        same(TaskOut.of(t), task_json(t))
