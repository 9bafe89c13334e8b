"""The member pages (成员页面, issue 23) under ``/m/<link>``: mobile-first, server-rendered, no script, no font.

The signed link in the path is the credential (see :mod:`shequn.services.member`): there is no console session
here. A link that does not verify gets one 403 page in the reader's language that says nothing about why. Forms post
back with the link's CSRF token and a nonce; the actions are written through the console's writer lock in the
thread pool (plain ``def`` routes), then redirect (303) back to the page, so a reload posts nothing.
"""

from __future__ import annotations

import io
import secrets
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from shequn.i18n import t as translate
from shequn.services.member import LinkRefusedError, MemberPages, View
from shequn.web.deps import locale_of
from shequn.web.security import LANG_COOKIE, cookie_args

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(str(resources.files("shequn.web").joinpath("templates"))),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TABS = ("card", "boards", "checkin", "rules", "activities", "invite", "rewards")
# CJK fonts for the poster, the first found wins (Debian's fonts-wqy-zenhei, fonts-noto-cjk, Droid); without any,
# Pillow's own font draws the Latin text only.
POSTER_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
REASONS = frozenset({"message", "checkin", "streak", "spend", "expire"})  # ledger reasons with a text of their own
TOKEN = Annotated[str, Path(max_length=2000)]


def pages_of(request: Request) -> MemberPages:
    mp: MemberPages | None = getattr(request.app.state, "member_pages", None)
    if mp is None:
        mp = request.app.state.member_pages = MemberPages(request.app.state.ops)
    return mp


class RefusedError(Exception):
    """A link that does not open (answered with the 403 page)."""


def view_of(request: Request, token: TOKEN) -> View:
    try:
        return pages_of(request).open(token)
    except (LinkRefusedError, ValueError, TypeError) as exc:
        raise RefusedError from exc


ViewDep = Annotated[View, Depends(view_of)]


def member_locale(request: Request, view: View | None) -> str:
    """``?lang=`` or the cookie or the browser's language (locale_of), else the community's."""
    if view is not None and not (
        request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or request.headers.get("accept-language")
    ):
        return view.config.spec.locale
    return locale_of(request)


def render(request: Request, template: str, view: View | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    locale = member_locale(request, view)

    def t(key: str, **params: Any) -> str:
        return translate(key, locale, **params)

    def reason(text: str) -> str:
        head, _, detail = text.partition(":")
        return translate(f"member.reason.{head}", locale, detail=detail) if head in REASONS else text

    query = {k: v for k, v in request.query_params.items() if k != "done"}
    langs = {loc: request.url.path + "?" + urlencode({**query, "lang": loc}) for loc in ("zh-CN", "en")}
    html = _env.get_template(f"member/{template}").render(
        t=t,
        locale=locale,
        view=view,
        base=f"/m/{view.token}" if view else "",
        tabs=TABS,
        langs=langs,
        nonce=secrets.token_urlsafe(12),
        done=request.query_params.get("done", ""),
        reason=reason,
        zone=ZoneInfo,
        **ctx,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Referrer-Policy"] = "no-referrer"  # the link is the credential: never in a Referer
    response.headers["X-Robots-Tag"] = "noindex"
    if "lang" in request.query_params:  # the choice holds on the next pages (the tabs' links carry no ?lang=)
        response.set_cookie(LANG_COOKIE, locale, **cookie_args(request, max_age=365 * 86400))
    return response


def refused_page(request: Request) -> Response:
    return render(request, "refused.html", None, status=403)


def _back(view: View, page: str, done: str) -> RedirectResponse:
    path = f"/m/{view.token}" + ("" if page == "card" else f"/{page}")
    return RedirectResponse(f"{path}?done={done}", status_code=303)


def _checked(request: Request, view: View, csrf: str, nonce: str) -> None:
    """The link's CSRF token and a nonce the page drew; a form without them gets the member's 403 page (not the
    console's validation error)."""
    if len(nonce) < 8 or not pages_of(request).check_csrf(view, csrf):
        raise RefusedError


Csrf = Annotated[str, Form(max_length=100)]
Nonce = Annotated[str, Form(max_length=64)]


# -- the community link: identify with a one-time code --------------------------------------------------------


def _community(request: Request, token: str) -> tuple[Any, Any, str]:
    try:
        return pages_of(request).open_community(token)
    except (LinkRefusedError, ValueError, TypeError) as exc:
        raise RefusedError from exc


@router.get("/m/c/{token}")
def join_page(request: Request, token: TOKEN) -> Response:
    _, record, csrf = _community(request, token)
    return render(request, "join.html", None, community=record.name, csrf=csrf, token=token, step="who")


@router.post("/m/c/{token}")
def join_send(
    request: Request,
    token: TOKEN,
    csrf: Csrf = "",
    who: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    _, record, expected = _community(request, token)
    if not secrets.compare_digest(csrf.encode(), expected.encode()):
        raise RefusedError
    pages_of(request).send_code(record, who)
    return render(request, "join.html", None, community=record.name, csrf=expected, token=token, step="code", who=who)


@router.post("/m/c/{token}/verify")
def join_verify(
    request: Request,
    token: TOKEN,
    csrf: Csrf = "",
    who: Annotated[str, Form(max_length=100)] = "",
    code: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    _, record, expected = _community(request, token)
    if not secrets.compare_digest(csrf.encode(), expected.encode()):
        raise RefusedError
    personal = pages_of(request).verify_code(record, who, code)
    if personal is None:
        return render(
            request, "join.html", None, status=403, community=record.name, csrf=expected, token=token, step="code",
            who=who, wrong=True,
        )  # fmt: skip
    return RedirectResponse(f"/m/{personal}", status_code=303)


# -- pages ------------------------------------------------------------------------------------------------------


@router.get("/m/{token}")
def card(request: Request, view: ViewDep) -> Response:
    locale = member_locale(request, view)
    return render(request, "card.html", view, tab="card", card=pages_of(request).card(view, locale))


@router.get("/m/{token}/boards")
def boards(request: Request, view: ViewDep) -> Response:
    locale = member_locale(request, view)
    return render(request, "boards.html", view, tab="boards", boards=pages_of(request).boards(view, locale))


@router.get("/m/{token}/checkin")
def checkin_page(request: Request, view: ViewDep) -> Response:
    locale = member_locale(request, view)
    return render(request, "checkin.html", view, tab="checkin", card=pages_of(request).card(view, locale))


@router.post("/m/{token}/checkin")
def checkin(request: Request, view: ViewDep, csrf: Csrf = "", nonce: Nonce = "") -> Response:
    _checked(request, view, csrf, nonce)
    pages_of(request).check_in(view, nonce)
    return _back(view, "checkin", "checkin")


@router.get("/m/{token}/rules")
def rules_page(request: Request, view: ViewDep) -> Response:
    return render(request, "rules.html", view, tab="rules", rules=pages_of(request).rules(view))


@router.post("/m/{token}/rules")
def accept_rules(request: Request, view: ViewDep, csrf: Csrf = "", nonce: Nonce = "") -> Response:
    _checked(request, view, csrf, nonce)
    pages_of(request).accept_rules(view, nonce)
    return _back(view, "rules", "rules")


@router.get("/m/{token}/activities")
def activities_page(request: Request, view: ViewDep) -> Response:
    items = pages_of(request).activities(view)
    tz = view.config.spec.timezone
    return render(request, "activities.html", view, tab="activities", items=items, tz=tz, qr=_qr_svg)


@router.post("/m/{token}/activities/{key}")
def register(
    request: Request,
    view: ViewDep,
    key: Annotated[str, Path(max_length=100)],
    csrf: Csrf = "",
    nonce: Nonce = "",
    cancel: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    _checked(request, view, csrf, nonce)
    status = pages_of(request).register(view, key, nonce, cancel=bool(cancel))
    return _back(view, "activities", status or "unchanged")


@router.get("/m/{token}/invite")
def invite_page(request: Request, view: ViewDep) -> Response:
    return render(request, "invite.html", view, tab="invite", invite=pages_of(request).invite(view))


@router.get("/m/{token}/poster.png")
def poster(request: Request, view: ViewDep) -> Response:
    locale = member_locale(request, view)
    link = pages_of(request).invite_link(view)
    png = poster_png(
        view.record.name,
        translate("member.poster.line", locale, name=view.member.name or view.platform_id),
        link.url or link.code,
        translate("member.poster.code", locale, code=link.code),
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.get("/m/{token}/rewards")
def rewards_page(request: Request, view: ViewDep) -> Response:
    return render(request, "rewards.html", view, tab="rewards", rewards=pages_of(request).rewards(view))


@router.post("/m/{token}/rewards")
def redeem(
    request: Request,
    view: ViewDep,
    csrf: Csrf = "",
    nonce: Nonce = "",
    item: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    _checked(request, view, csrf, nonce)
    return _back(view, "rewards", pages_of(request).redeem(view, item, nonce))


# -- images -------------------------------------------------------------------------------------------------------


def _qr_svg(data: str) -> Markup:
    """A QR code as inline SVG (segno writes it; the data is ours, the markup safe)."""
    import segno

    return Markup(segno.make(data, error="m").svg_inline(scale=5, border=2, title=""))


@lru_cache(maxsize=4)
def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in POSTER_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def poster_png(title: str, line: str, qr_data: str, caption: str) -> bytes:
    """The invite poster: the community's name, who invites, the QR code of the invite link, the code (PNG)."""
    import segno
    from PIL import Image, ImageDraw

    width, height, top, qr_side = 750, 960, 300, 480
    img = Image.new("RGB", (width, height), "#fff7ec")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 240), fill="#c2410c")
    draw.text((width // 2, 100), title, font=_font(64), fill="white", anchor="mm")
    draw.text((width // 2, 185), line, font=_font(34), fill="#ffedd5", anchor="mm")
    code = segno.make(qr_data, error="m")
    modules = code.symbol_size(scale=1, border=2)[0]
    buf = io.BytesIO()
    code.save(buf, kind="png", scale=max(1, qr_side // modules), border=2)  # whole pixels per module: crisp
    buf.seek(0)
    qr = Image.open(buf).convert("RGB")
    img.paste(qr, ((width - qr.size[0]) // 2, top + (qr_side - qr.size[1]) // 2))
    draw.text((width // 2, top + qr_side + 80), caption, font=_font(32), fill="#431407", anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
