"""``shequn member …``: a member's own pages (issue 23): the signed link that opens them, the key that signs it."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

app = typer.Typer(help="成员页面 · member pages: signed links to a member's own pages", no_args_is_help=True)


@app.command("page-url")
def page_url(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="成员：昵称、平台 id 或 平台:id · a member"),
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · community name"),
    days: int = typer.Option(30, "--days", min=1, max=366, help="有效天数 · days the link stays valid"),
    base_url: str = typer.Option(
        "", "--base-url", help="控制台的公网地址（默认 $SHEQUN_PUBLIC_URL）· the server's public address"
    ),
    send: bool = typer.Option(False, "--send", help="由机器人私信发给成员 · the bot sends it to the member in a DM"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """成员页面链接（签名、会过期）· a member's signed, expiring page link (not the invite link)."""
    from shequn.services.console import Operations
    from shequn.services.member import MemberPages
    from shequn.store._sql import from_ms

    base = _base(base_url)
    if send and not base:
        raise UserError(t("member.cli.send_needs_base", None), exit_code=2)
    with open_app(ctx) as a:
        pages = MemberPages(Operations(a))
        token, grant = pages.link(community, member, days=days)
        tz = a.community(community).spec.timezone
        url = f"{base}/m/{token}"
        if send:
            pages.send(grant, url)
    expires = from_ms(grant.expires * 1000).astimezone(ZoneInfo(tz))
    if as_json:
        out = {"url": url, "member": grant.member, "community": grant.community, "expires": expires.isoformat()}
        print_json({**out, "sent": send})
        return
    console.print(url, soft_wrap=True)
    console.print(t("member.cli.expires", None, at=expires.strftime("%Y-%m-%d %H:%M"), days=days))
    if not base:
        console.print(t("member.cli.no_base", None))
    if send:
        console.print(t("member.cli.sent", None))


@app.command("community-url")
def community_url(
    ctx: typer.Context,
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · community name"),
    days: int = typer.Option(30, "--days", min=1, max=366, help="有效天数 · days the link stays valid"),
    base_url: str = typer.Option(
        "", "--base-url", help="控制台的公网地址（默认 $SHEQUN_PUBLIC_URL）· the server's public address"
    ),
) -> None:
    """社群链接（发在群公告里），成员凭机器人私信的验证码打开自己的页面 · a link for the whole group: members identify
    with a one-time code the bot sends them."""
    from shequn.services.console import Operations
    from shequn.services.member import MemberPages

    base = _base(base_url)
    with open_app(ctx) as a:
        token, _ = MemberPages(Operations(a)).community_link(community, days=days)
    console.print(f"{base}/m/c/{token}", soft_wrap=True)
    console.print(t("member.cli.community", None))


def _base(base_url: str) -> str:
    base = (base_url or os.environ.get("SHEQUN_PUBLIC_URL", "")).rstrip("/")
    if base and not base.startswith(("https://", "http://")):
        raise UserError(f"--base-url: {base!r} is not an http(s) address", exit_code=2)
    return base


@app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """更换成员链接密钥：之前的链接全部失效 · rotate the key: every member page link issued so far is revoked."""
    from shequn.services.console import Operations
    from shequn.services.member import MemberPages

    with open_app(ctx) as a:
        MemberPages(Operations(a)).rotate_key(actor="cli")
    console.print(t("member.cli.rotated", None))
