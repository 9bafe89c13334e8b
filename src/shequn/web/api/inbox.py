"""``/api/v1/inbox`` and ``/api/v1/staff``: the operator's inbox (a viewer reads, an operator answers, assigns and
resolves; the owner links staff), and the moderation cases under ``/api/v1/inbox/cases`` (a viewer reads, an
operator adds notes and reverses). Its live feed is the console's (``/inbox/stream``, :mod:`shequn.web.inbox_pages`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shequn.services.inbox import Inbox
from shequn.web.deps import Admin, OpsDep, Reader, Writer
from shequn.web.schemas import json_response

router = APIRouter(tags=["inbox"])

N = Path(ge=1, le=2**31)


def inbox_of(request: Request) -> Inbox:
    """The workspace's inbox (one per web application, over its operations)."""
    inbox: Inbox | None = getattr(request.app.state, "inbox", None)
    if inbox is None:
        inbox = request.app.state.inbox = Inbox(request.app.state.ops)
    return inbox


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)
    private: bool = False
    resolve: bool = False
    faq_keys: list[str] = Field(default_factory=list, max_length=20)  # add the reply to the FAQ with these keywords
    key: str = Field("", max_length=80)  # idempotency key (a retried request sends once)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field("", max_length=100)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "pending", "resolved"]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: str = Field(min_length=1, max_length=32)
    platform_id: str = Field(min_length=1, max_length=200)
    remove: bool = False


class ServeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    community: str = Field(min_length=1, max_length=200)
    stop: bool = False


@router.get("/inbox", response_model=list[dict[str, Any]])
def list_items(
    request: Request,
    principal: Reader,
    community: str | None = Query(None, max_length=200),
    status: Literal["open", "pending", "resolved", "active", "all"] = "active",
    assignee: str | None = Query(None, max_length=100),
    mine: bool = False,
    kind: Literal["question", "mention", "direct", "complaint", "appeal", "admission"] | None = None,
) -> Response:
    """Items, newest first (``mine``: assigned to whoever asks)."""
    who = principal.user.username if mine else assignee
    items = inbox_of(request).items(
        community=community, status=None if status == "all" else status, assignee=who, kind=kind
    )
    return json_response(items)


@router.get("/inbox/times", response_model=dict[str, Any])
def times(request: Request, principal: Reader, community: str | None = Query(None, max_length=200)) -> Response:
    """Open load, the oldest waiting, first-response and resolution times per community and staff member."""
    return json_response(inbox_of(request).times(community=community))


@router.get("/inbox/cases", response_model=list[dict[str, Any]])
def list_cases(
    request: Request,
    principal: Reader,
    community: str | None = Query(None, max_length=200),
    status: Literal["standing", "appealed", "reversed"] | None = None,
) -> Response:
    """Moderation cases, newest first, each with its status and the appeal items about it."""
    return json_response(inbox_of(request).cases(community=community, status=status))


@router.get("/inbox/cases/{name}/{n}", response_model=dict[str, Any])
def show_case(request: Request, principal: Reader, name: str, n: int = N) -> Response:
    """One case: the message as the log has it, the rule and score, notes, appeals, who reversed it."""
    return json_response(inbox_of(request).case(name, n))


@router.post("/inbox/cases/{name}/{n}/note", response_model=dict[str, bool])
def note_case(request: Request, principal: Writer, body: NoteIn, name: str, n: int = N) -> dict[str, bool]:
    inbox_of(request).case_note(name, n, body.text, actor=principal.user.username)
    return {"done": True}


@router.post("/inbox/cases/{name}/{n}/reverse", response_model=dict[str, int])
def reverse_case(request: Request, principal: Writer, name: str, n: int = N) -> dict[str, int]:
    """Reverse a case: the offence withdrawn (a ``not_ad`` label), a removed member invited back, appeals resolved."""
    return inbox_of(request).reverse_case(name, n, actor=principal.user.username)


@router.get("/inbox/{name}/{n}", response_model=dict[str, Any])
def show(request: Request, principal: Reader, name: str, n: int = N) -> Response:
    """One item: the messages around it, the member's card, the moderation case of an appeal, the canned answers."""
    return json_response(inbox_of(request).item(name, n))


@router.post("/inbox/{name}/{n}/reply", response_model=dict[str, int])
def reply(request: Request, principal: Writer, body: ReplyIn, name: str, n: int = N) -> dict[str, int]:
    """Answer through the bot, in the group as a reply or privately; a staff task where the platform forbids it."""
    inbox = inbox_of(request)
    out = inbox.reply(name, n, body.text, actor=principal.user.username, private=body.private, key=body.key)
    if body.faq_keys:
        inbox.add_to_faq(name, n, body.text, body.faq_keys, actor=principal.actor)
    if body.resolve:
        inbox.set_status(name, n, "resolved", actor=principal.user.username)
    return out


@router.post("/inbox/{name}/{n}/assign", response_model=dict[str, bool])
def assign(request: Request, principal: Writer, body: AssignIn, name: str, n: int = N) -> dict[str, bool]:
    inbox_of(request).assign(name, n, body.to, actor=principal.user.username)
    return {"done": True}


@router.post("/inbox/{name}/{n}/status", response_model=dict[str, bool])
def set_status(request: Request, principal: Writer, body: StatusIn, name: str, n: int = N) -> dict[str, bool]:
    inbox_of(request).set_status(name, n, body.status, actor=principal.user.username)
    return {"done": True}


@router.post("/inbox/{name}/{n}/note", response_model=dict[str, bool])
def note(request: Request, principal: Writer, body: NoteIn, name: str, n: int = N) -> dict[str, bool]:
    inbox_of(request).note(name, n, body.text, actor=principal.user.username)
    return {"done": True}


@router.post("/inbox/{name}/{n}/reverse", response_model=dict[str, int])
def reverse(request: Request, principal: Writer, name: str, n: int = N) -> dict[str, int]:
    """Grant an appeal: the moderation step undone (as a ``not_ad`` label), a removed member invited back."""
    return inbox_of(request).reverse(name, n, actor=principal.user.username)


@router.get("/staff", response_model=list[dict[str, Any]])
def staff(request: Request, principal: Reader, ops: OpsDep) -> Response:
    """Console users with their chat identities and the communities they serve."""
    rows = inbox_of(request).staff()
    return json_response(
        [
            {"username": s.username, "role": s.role, "communities": list(s.communities),
             "identities": [{"platform": p, "platform_id": i} for p, i in s.identities]}
            for s in rows
        ]
    )  # fmt: skip


@router.post("/staff/{username}/identities", response_model=dict[str, bool])
def link(request: Request, principal: Admin, body: IdentityIn, username: str) -> dict[str, bool]:
    inbox = inbox_of(request)
    if body.remove:
        inbox.unlink(username, body.platform, body.platform_id, actor=principal.actor)
    else:
        inbox.link(username, body.platform, body.platform_id, actor=principal.actor)
    return {"done": True}


@router.post("/staff/{username}/communities", response_model=dict[str, bool])
def serve(request: Request, principal: Admin, body: ServeIn, username: str) -> dict[str, bool]:
    inbox_of(request).serve(username, body.community, actor=principal.actor, stop=body.stop)
    return {"done": True}
