"""The console's inbox pages (收件箱): the queue, updated live from ``/inbox/stream`` (server-sent events) by
``static/inbox.js``, and one item with its context, the member's card, the canned answers and the reply form
(issue 20), and the moderation cases (``/inbox/cases``: the list by status, one case with its evidence, notes
and the reverse button). The feed is the console's, not the API's: a stream has no place in the published schema."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from shequn.services.inbox import CASE_STATUSES
from shequn.web.api.inbox import inbox_of
from shequn.web.deps import LocaleDep, Reader, Writer
from shequn.web.pages import render

router = APIRouter(include_in_schema=False)
N = Path(ge=1, le=2**31)
VIEWS = ("active", "mine", "resolved", "all")
POLL_SECONDS = 2.0  # how often the live feed looks for changes


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


@router.get("/inbox/stream")
async def stream(request: Request, principal: Reader, seconds: float = Query(300, ge=0, le=3600)) -> StreamingResponse:
    """Server-sent events: ``inbox`` with the open load whenever the items change (then again at most every
    ``POLL_SECONDS``); the stream ends after ``seconds`` and the browser's EventSource reconnects."""
    inbox = inbox_of(request)

    async def feed() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        last = ""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            items = await asyncio.to_thread(inbox.items, status="active")
            body = orjson.dumps(
                {
                    "active": len(items),
                    "open": sum(1 for i in items if i["status"] == "open"),
                    "overdue": sum(1 for i in items if i["overdue"]),
                    "items": [
                        [i["community"], i["n"], i["status"], i.get("assignee", ""), i.get("follow", 0)] for i in items
                    ],
                }
            )
            digest = hashlib.sha256(body).hexdigest()
            if digest != last:
                last = digest
                yield b"event: inbox\ndata: " + body + b"\n\n"
            if loop.time() >= end or await request.is_disconnected():
                return
            await asyncio.sleep(min(POLL_SECONDS, max(end - loop.time(), 0)))

    return StreamingResponse(feed(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/inbox/cases")
def cases(request: Request, principal: Reader, locale: LocaleDep, status: str = Query("", max_length=10)) -> Response:
    """The moderation cases, newest first, by status."""
    inbox = inbox_of(request)
    status = status if status in CASE_STATUSES else ""
    rows = inbox.cases(status=status or None)
    return render(
        request, "inbox_cases.html", principal, locale, cases=rows, status=status, views=("", *CASE_STATUSES),
        tz=inbox.app.ws.timezone,
    )  # fmt: skip


@router.get("/inbox/cases/{name}/{n}")
def case(request: Request, principal: Reader, locale: LocaleDep, name: str, n: int = N) -> Response:
    inbox = inbox_of(request)
    return render(request, "inbox_case.html", principal, locale, k=inbox.case(name, n), tz=inbox.app.ws.timezone)


@router.post("/inbox/cases/{name}/{n}/note")
def case_note(
    request: Request, principal: Writer, name: str, n: int = N, text: str = Form(..., max_length=2000)
) -> Response:
    inbox_of(request).case_note(name, n, text, actor=principal.user.username)
    return RedirectResponse(f"/inbox/cases/{name}/{n}", status_code=303)


@router.post("/inbox/cases/{name}/{n}/reverse")
def case_reverse(request: Request, principal: Writer, name: str, n: int = N) -> Response:
    inbox_of(request).reverse_case(name, n, actor=principal.user.username)
    return RedirectResponse(f"/inbox/cases/{name}/{n}", status_code=303)


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


@router.post("/inbox/{name}/{n}/note")
def note(
    request: Request, principal: Writer, name: str, n: int = N, text: str = Form(..., max_length=2000)
) -> Response:
    inbox_of(request).note(name, n, text, actor=principal.user.username)
    return _back(name, n)
