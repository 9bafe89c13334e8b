"""``shequn group …``: a group's lifecycle (split, merge, archive, dissolve, reopen, hand over, temporary, bind, list);
the work is :mod:`shequn.services.lifecycle`'s."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

app = typer.Typer(
    help="群的生命周期 · a group's lifecycle: split, merge, archive, dissolve, hand over", no_args_is_help=True
)

_COMMUNITY = typer.Argument(..., help="社群名称 · community name")
_GROUP = typer.Argument(..., help="群：平台:id、id 或群名 · the group: platform:id, id or name")
_JSON = typer.Option(False, "--json", help="JSON 输出 · print JSON")


def _show(outcome: object, as_json: bool) -> None:
    from shequn.services.lifecycle import Outcome

    assert isinstance(outcome, Outcome)
    if as_json:
        print_json(outcome.to_dict())
        return
    other = t("lifecycle.other", None, other=outcome.other) if outcome.other else ""
    verb = t(f"lifecycle.verb.{outcome.verb}", None)
    console.print(t("lifecycle.done", None, **{**outcome.to_dict(), "verb": verb, "other": other}))


@app.command("list")
def list_(ctx: typer.Context, community: str = _COMMUNITY, as_json: bool = _JSON) -> None:
    """列出社群的群及其状态 · list a community's groups with their lifecycle state."""
    from shequn.policies.lifecycle import LIFECYCLE

    with open_app(ctx) as a:
        record = a.community(community)
        with a.store.transaction() as conn:
            groups = a.store.groups.list(conn, a.ws.id, community_id=record.id)
            state = a.store.state.load_community(conn, a.ws.id, community)
    scope = (state.policy.get(LIFECYCLE) if state else None) or {}
    rows = [
        {"group": g.key, "name": g.name, "role": g.role, "state": g.state, "ends": (scope.get(g.key) or {}).get("ends")}
        for g in groups
    ]
    if as_json:
        print_json(rows)
        return
    table = Table()
    for col in ("group", "name", "role", "state", "ends"):
        table.add_column(t(f"lifecycle.col.{col}", None))
    for r in rows:
        state_name = t(f"lifecycle.state.{r['state']}", None)
        table.add_row(r["group"], r["name"] or "-", r["role"], state_name, r["ends"] or "-")
    console.print(table)


@app.command()
def bind(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    key: str = typer.Argument(..., help="平台:id · platform:id of the group"),
    name: str = typer.Option("", "--name", "-n", help="群名 · the group's name"),
    role: str = typer.Option("main", "--role", help="角色 · main, chitchat, core, admin, paid, fan, temporary"),
    as_json: bool = _JSON,
) -> None:
    """绑定群到社群 · bind a group (one created by hand) to a community."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).bind(community, key, name=name, role=role), as_json)


@app.command()
def split(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    group: str = _GROUP,
    by: str | None = typer.Option(
        None, "--by", help="分出谁：activity（最不活跃的）、joined（最晚入群的）、tag:标签 · who moves"
    ),
    count: int | None = typer.Option(None, "--count", help="分出多少人（默认一半）· how many move (half by default)"),
    into: str | None = typer.Option(
        None, "--into", help="已建好的新群（平台:id 或 id；不填则由机器人建群或给人工任务）· the new group if it exists"
    ),
    name: str = typer.Option("", "--name", "-n", help="新群名 · the new group's name"),
    force: bool = typer.Option(False, "--force", help="未到上限也分群 · split even under the cap"),
    as_json: bool = _JSON,
) -> None:
    """分群 · split a crowded group: a segment invited to a new group, the announcement in both."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).split(community, group, by=by, count=count, into=into, name=name, force=force), as_json)


@app.command()
def merge(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    group: str = _GROUP,
    into: str = typer.Option(..., "--into", help="并入哪个群 · the group to merge into"),
    as_json: bool = _JSON,
) -> None:
    """合并 · merge a dying group into another: its active members invited, the announcement, the old one archived."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).merge(community, group, into), as_json)


@app.command()
def archive(ctx: typer.Context, community: str = _COMMUNITY, group: str = _GROUP, as_json: bool = _JSON) -> None:
    """归档 · archive a group: the farewell, nobody posts any more, the data kept."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).archive(community, group), as_json)


@app.command()
def dissolve(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    group: str = _GROUP,
    yes: bool = typer.Option(False, "--yes", "-y", help="不再确认 · do not ask"),
    as_json: bool = _JSON,
) -> None:
    """解散 · dissolve a group: the farewell, the group closed on the platform, the members' data kept."""
    from shequn.services.lifecycle import Lifecycle

    if not yes:
        typer.confirm(f"{t('lifecycle.verb.dissolve', None)} {group}?", abort=True)
    with open_app(ctx) as a:
        _show(Lifecycle(a).dissolve(community, group), as_json)


@app.command()
def reopen(ctx: typer.Context, community: str = _COMMUNITY, group: str = _GROUP, as_json: bool = _JSON) -> None:
    """恢复归档的群 · make an archived group active again."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).reopen(community, group), as_json)


@app.command()
def handover(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    group: str = _GROUP,
    to: str = typer.Option(..., "--to", help="新负责人的平台 id · the new holder's platform id"),
    role: str = typer.Option("architect", "--role", help="角色（默认 architect 群主）· the role handed over"),
    from_: str = typer.Option("", "--from", help="离开的人（默认该角色的全部）· who leaves (default: every holder)"),
    as_json: bool = _JSON,
) -> None:
    """移交 · hand a group over when its owner or lead leaves: the role moves, staff transfer the rights."""
    from shequn.services.lifecycle import Lifecycle

    with open_app(ctx) as a:
        _show(Lifecycle(a).handover(community, group, to=to, role=role, from_=from_), as_json)


@app.command()
def temporary(
    ctx: typer.Context,
    community: str = _COMMUNITY,
    group: str = _GROUP,
    ends: str = typer.Option("", "--ends", help="结束日期或时间（社群时区）· the end (community's time zone)"),
    no_end: bool = typer.Option(False, "--no-end", help="取消结束时间 · take the end away"),
    as_json: bool = _JSON,
) -> None:
    """临时群 · make a group temporary: reminders before its end, then it is archived."""
    from shequn.services.lifecycle import Lifecycle

    when: datetime | None = None
    if not no_end:
        try:
            when = datetime.fromisoformat(ends)
        except ValueError:
            raise UserError(t("lifecycle.bad_date", None, value=ends), exit_code=2) from None
    with open_app(ctx) as a:
        _show(Lifecycle(a).temporary(community, group, when), as_json)
