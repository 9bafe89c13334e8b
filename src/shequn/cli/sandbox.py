"""``shequn sandbox``: a terminal chat in which you act as members and watch what shequn does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.connectors import capabilities
from shequn.connectors.sandbox import Output, SandboxSession
from shequn.domain import UserError
from shequn.domain.records import parse_iso
from shequn.engine import build_community_config
from shequn.i18n import system_locale, t

_STYLE = {"staff_task": "yellow", "info": "dim", "error": "red"}


def _show(out: Output, tz: str, groups: dict[str, str], here: str) -> None:
    """One line of what shequn did; an action in another group than the chat you are in names that group."""
    from zoneinfo import ZoneInfo

    from rich.markup import escape

    when = out.at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
    if out.kind == "info":
        console.print(out.text, style="dim", markup=False)
        return
    who = f" → {out.target_name}" if out.target_name else ""
    where = f" @ {groups.get(out.group) or out.group}" if out.group and out.group != here else ""
    style = _STYLE.get(out.kind, "green")
    head = escape(f"{when} shequn {out.kind}{where}{who}")
    console.print(f"[{style}]{head}[/{style}]  {escape(out.text)}", markup=True)


def sandbox(
    ctx: typer.Context,
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · the community to play with"),
    script: Path | None = typer.Option(None, "--script", help="脚本文件 · run commands from a file"),
    as_json: bool = typer.Option(False, "--json", help="每个动作一行 JSON · one JSON line per action"),
    platform: str | None = typer.Option(
        None, "--platform", help="模拟平台能力 · act as this platform can (e.g. wecom: staff tasks show)"
    ),
    start: str | None = typer.Option(None, "--start", help="虚拟时钟起点 · where the virtual clock starts (ISO)"),
) -> None:
    """沙盒 · a local chat: /as NAME, /join, /leave, plain text to speak, /time +1h, /help."""
    from sqlalchemy import func, select

    from shequn.schedule.service import load_activities
    from shequn.store.schema import MEMBERSHIP

    with open_app(ctx) as a:
        record = a.community(community)
        with a.store.transaction() as conn:
            activities = load_activities(a.store, conn, a.ws.id)
            last = conn.execute(
                select(func.max(MEMBERSHIP.c.number)).where(MEMBERSHIP.c.community_id == record.id)
            ).scalar_one()
    config = build_community_config(record.spec, source=f"community {community}")
    try:
        begin = parse_iso(start) if start else datetime.now(UTC).replace(microsecond=0)
    except ValueError:
        raise UserError(t("cli.err.not_iso", None, option="--start", value=start), exit_code=2) from None
    caps = None
    if platform:
        caps = capabilities(platform)
        if caps is None:
            caps = frozenset()
    session = SandboxSession(
        config, start=begin, platform_capabilities=caps, emulate=platform or "sandbox", activities=activities,
        next_number=(last or 0) + 1,
    )  # fmt: skip
    tz = record.spec.timezone
    groups = {g.id: g.name or g.id for g in record.spec.groups}
    if script is not None:
        try:
            lines = script.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(t("cli.err.cannot_read", None, path=script, reason=exc.strerror), exit_code=2) from None
        outputs = session.run_script(lines, source=str(script))
        for out in outputs:
            if as_json:
                if out.kind != "info":
                    print_json(out.to_json())
            else:
                _show(out, tz, groups, session.group)
        return
    loc = system_locale()
    console.print(t("cli.sandbox_intro", loc, community=community))
    while True:
        try:
            line = console.input(f"[bold]{session.names.get(session.speaker, '?')}@{session.group}>[/bold] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if line.strip() in ("/quit", "/exit"):
            return
        try:
            outputs = session.run(line)
        except ValueError as exc:
            console.print(str(exc), style="red")
            continue
        for out in outputs:
            if as_json and out.kind != "info":
                print_json(out.to_json())
            else:
                _show(out, tz, groups, session.group)
