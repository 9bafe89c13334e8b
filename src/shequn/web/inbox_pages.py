"""The console's inbox pages (收件箱): the queue, updated live from ``/api/v1/inbox/stream`` by ``static/inbox.js``,
and one item with its context, the member's card, the canned answers and the reply form (issue 20)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from shequn.web.api.inbox import inbox_of
from shequn.web.deps import LocaleDep, Reader, Writer
from shequn.web.pages import render

router = APIRouter(include_in_schema=False)
N = Path(ge=1, le=2**31)
VIEWS = ("active", "mine", "resolved", "all")


@router.get("/inbox")
def queue(
    request: Request, principal: Reader, locale: LocaleDep, view: str = Query("active", max_length=10)
) -> Response:
    if view not in VIEWS:
        view = "active"
    inbox = inbox_of(request)
    status = {"active": "active", "mine": "active", "resolved": "resolved", "all": None}[view]
    items = inbox.items(status=status, assignee=principal.user.username if view == "mine" else None)
    load = inbox.times()
    return render(
        request, "inbox.html", principal, locale, items=items, view=view, load=load, views=VIEWS,
        tz=inbox.app.ws.timezone,
    )  # fmt: skip


@router.get("/inbox/{name}/{n}")
def item(request: Request, principal: Reader, locale: LocaleDep, name: str, n: int = N) -> Response:
    inbox = inbox_of(request)
    it = inbox.item(name, n)
    staff = [s.username for s in inbox.staff() if name in s.communities]
    return render(request, "inbox_item.html", principal, locale, it=it, staff=staff, tz=inbox.app.ws.timezone)


def _back(name: str, n: int) -> RedirectResponse:
    return RedirectResponse(f"/inbox/{name}/{n}", status_code=303)


@router.post("/inbox/{name}/{n}/reply")
def reply(
    request: Request,
    principal: Writer,
    name: str,
    n: int = N,
    text: str = Form(..., max_length=4000),
    private: bool = Form(False),
    resolve: bool = Form(False),
    faq_keys: str = Form("", max_length=400),
) -> Response:
    inbox = inbox_of(request)
    who = principal.user.username
    inbox.reply(name, n, text, actor=who, private=private)
    if faq_keys.strip():
        inbox.add_to_faq(name, n, text, faq_keys.split(","), actor=principal.actor)
    if resolve:
        inbox.set_status(name, n, "resolved", actor=who)
    return _back(name, n)


@router.post("/inbox/{name}/{n}/assign")
def assign(request: Request, principal: Writer, name: str, n: int = N, to: str = Form("", max_length=100)) -> Response:
    inbox_of(request).assign(name, n, to, actor=principal.user.username)
    return _back(name, n)


@router.post("/inbox/{name}/{n}/status")
def status(
    request: Request, principal: Writer, name: str, n: int = N, value: str = Form(..., max_length=10)
) -> Response:
    inbox_of(request).set_status(name, n, value, actor=principal.user.username)
    return _back(name, n)


@router.post("/inbox/{name}/{n}/reverse")
def reverse(request: Request, principal: Writer, name: str, n: int = N) -> Response:
    inbox_of(request).reverse(name, n, actor=principal.user.username)
    return _back(name, n)
