"""``shequn points ledger``: a member's points ledger, entry by entry, with the balance after each."""

from __future__ import annotations

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

app = typer.Typer(help="积分 · points: the ledger", no_args_is_help=True)


@app.command("ledger")
def ledger(
    ctx: typer.Context,
    member: str = typer.Argument(
        ..., help="成员：昵称、平台 id 或 平台:id · a member: name, platform id or platform:id"
    ),
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · community name"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """积分流水 · every award, spending and expiry of a member's points, with the reason and the balance."""
    from shequn.domain.records import iso

    with open_app(ctx) as a:
        record = a.community(community)
        state = a.saved_state().communities.get(record.name)
        members = state.members if state else {}
        found = [m for m in members.values() if member in (m.key, m.name, m.key.partition(":")[2])]
        if not found:
            raise UserError(t("policies.cli.no_member", None, member=member, community=community), exit_code=2)
        if len(found) > 1:
            keys = ", ".join(sorted(m.key for m in found))
            raise UserError(t("policies.cli.many_members", None, member=member, keys=keys), exit_code=2)
        m = found[0]
        with a.store.transaction() as conn:
            entries = a.store.points.entries(conn, a.ws.id, community=record.name, member_key=m.key)
    rows = [
        {
            "at": iso(e.at),
            "points": e.points,
            "balance": e.balance,
            "reason": e.reason,
            "policy": e.policy,
            "cause": e.cause,
        }
        for e in entries
    ]
    if as_json:
        print_json({"member": m.key, "name": m.name, "points": m.points, "entries": rows})
        return
    from rich.table import Table

    table = Table(title=t("policies.cli.ledger_title", None, name=m.name or m.key, points=m.points, n=len(rows)))
    for col, justify in (
        ("at", "left"),
        ("points", "right"),
        ("balance", "right"),
        ("reason", "left"),
        ("policy", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(str(r["at"]), f"{r['points']:+d}", str(r["balance"]), str(r["reason"]), str(r["policy"]))
    console.print(table)
