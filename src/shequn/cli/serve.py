"""``shequn serve`` (the console and the API over HTTP) and ``shequn user …`` (console users: the first-run owner)."""

from __future__ import annotations

import getpass
import os
import sys

import typer

from shequn.cli.common import console, err_console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

user_app = typer.Typer(help="控制台用户 · console users and their roles", no_args_is_help=True)


def check_port(host: str, port: int) -> None:
    """Fail before anything starts when ``host:port`` cannot be listened on (taken by another program), naming the
    port and suggesting ``--port``; binds with SO_REUSEADDR as uvicorn does, so a port in TIME_WAIT is free."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(t("cli.serve_bad_host", None, host=host, reason=exc.strerror), exit_code=2) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            raise UserError(t("cli.serve_port_busy", None, host=host, port=port, next=port + 1), exit_code=2) from None


def run_server(
    ctx: typer.Context, *, host: str, port: int, secure_cookies: bool, workers: int = 1, trusted_proxies: str = ""
) -> None:
    """Serve the console for the workspace of the global options until interrupted.

    With several workers each process builds its own app (:mod:`shequn.web.factory`); writes stay one at a time
    through the operations' cross-process lock. ``X-Forwarded-For`` (the client's address, which login throttling
    counts by) is believed only from the addresses in ``trusted_proxies`` (uvicorn trusted any local client).
    Ctrl+C or SIGTERM stop it: uvicorn shuts down, then the analysis child (and with it multiprocessing's resource
    tracker) is ended, and one line says so.
    """
    import signal

    import uvicorn

    from shequn.analytics.apart import shutdown
    from shequn.cli.common import Globals
    from shequn.services.accounts import Accounts
    from shequn.web import create_app

    check_port(host, port)
    proxies = ",".join(p.strip() for p in trusted_proxies.split(",") if p.strip())
    options = dict(host=host, port=port, log_level="warning", access_log=False, server_header=False,
                   proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)  # fmt: skip
    # uvicorn re-raises the signal that stopped it once it has shut down: SIGTERM then ends here as Ctrl+C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with open_app(ctx) as a:  # opening migrates the store once, before any worker starts
            if not Accounts(a).has_owner():
                err_console.print(t("cli.serve_no_owner", None), style="yellow")
            url = a.store.db.url
            console.print(t("cli.serving", None, url=f"http://{host}:{port}/", db=a.store.db.url))
            if workers == 1:
                uvicorn.run(create_app(a, secure_cookies=secure_cookies), **options)  # type: ignore[arg-type]
                return
        g: Globals = ctx.obj if isinstance(ctx.obj, Globals) else ctx.find_root().obj
        os.environ.update(
            SHEQUN_DB=url, SHEQUN_WORKSPACE=g.workspace, SHEQUN_SECURE_COOKIES="1" if secure_cookies else "0"
        )
        uvicorn.run("shequn.web.factory:make", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutdown()
        console.print(t("cli.serve_stopped", None))


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址 · address to listen on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="端口 · port"),
    secure_cookies: bool = typer.Option(
        True, "--secure-cookies/--insecure-cookies", help="仅 HTTPS 发送会话 Cookie · session cookie only over HTTPS"
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="工作进程数 · worker processes (one per core)"),
    trusted_proxies: str = typer.Option(
        "",
        "--trusted-proxies",
        envvar="SHEQUN_TRUSTED_PROXIES",
        help="只信任这些反向代理的 X-Forwarded-For · trust X-Forwarded-For only from these proxies (IPs or CIDRs, "
        "comma-separated; none by default)",
    ),
) -> None:
    """运行控制台与 API · serve the console and the HTTP API (127.0.0.1:8000 by default)."""
    run_server(ctx, host=host, port=port, secure_cookies=secure_cookies, workers=workers,
               trusted_proxies=trusted_proxies)  # fmt: skip


def _password(from_stdin: bool) -> str:
    env = os.environ.get("SHEQUN_PASSWORD")
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if env:
        return env
    if not sys.stdin.isatty():
        raise UserError(t("cli.password_needed", None), exit_code=2)
    first = getpass.getpass(t("cli.password_prompt", None))
    if getpass.getpass(t("cli.password_again", None)) != first:
        raise UserError(t("cli.password_mismatch", None), exit_code=2)
    return first


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="用户名 · user name"),
    role: str = typer.Option("operator", "--role", help="角色 · owner, operator or viewer"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="从标准输入读密码 · read the password from stdin"
    ),
) -> None:
    """新建用户 · create a console user (the first one: --role owner). Password from the prompt, --password-stdin
    or $SHEQUN_PASSWORD."""
    from shequn.services.accounts import Accounts

    password = _password(password_stdin)
    with open_app(ctx) as a:
        user = Accounts(a).create_user(username, password, role, actor="cli")
    console.print(t("cli.user_created", None, name=user.username, role=user.role))


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON")) -> None:
    """列出用户 · list console users."""
    from rich.table import Table

    from shequn.services.accounts import Accounts

    with open_app(ctx) as a:
        users = Accounts(a).users()
    if as_json:
        print_json([{"username": u.username, "role": u.role, "disabled": u.disabled} for u in users])
        return
    table = Table()
    for col in ("user", "role", "disabled"):
        table.add_column(col)
    for u in users:
        table.add_row(u.username, u.role, "yes" if u.disabled else "")
    console.print(table)


@user_app.command("role")
def user_role(ctx: typer.Context, username: str = typer.Argument(...), role: str = typer.Argument(...)) -> None:
    """改角色 · change a user's role."""
    from shequn.services.accounts import Accounts

    with open_app(ctx) as a:
        Accounts(a).set_role(username, role, actor="cli")
    console.print(t("cli.user_role", None, name=username, role=role))


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="从标准输入读密码 · read the password from stdin"
    ),
) -> None:
    """重设密码 · set a user's password (their sessions end)."""
    from shequn.services.accounts import Accounts

    password = _password(password_stdin)
    with open_app(ctx) as a:
        Accounts(a).set_password(username, password, actor="cli")
    console.print(t("cli.user_password", None, name=username))
