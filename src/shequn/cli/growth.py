"""``shequn referral …``, ``shequn livecode …``, ``shequn growth …``: invite links, attribution, leaderboards and
their weekly settlement; live codes; group-fill campaigns, AB groups, the upgrade path, the benchmark programme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

if TYPE_CHECKING:
    from shequn.services.growth import Growth

referral_app = typer.Typer(help="推荐裂变 · referral: invite links, leaderboards, settlement", no_args_is_help=True)
livecode_app = typer.Typer(help="群活码 · live codes: one entry point, the right group", no_args_is_help=True)
growth_app = typer.Typer(
    help="增长 · growth: group fill, AB groups, upgrade path, benchmark programme", no_args_is_help=True
)

COMMUNITY = typer.Option(..., "--community", "-c", help="社群名称 · community name")
AT = typer.Option(None, "--at", help="把此刻当作现在（ISO 时间）· take this moment as now (ISO time)")
JSON = typer.Option(False, "--json", help="JSON 输出 · print JSON")


def parse_at(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        d = datetime.fromisoformat(at)
    except ValueError:
        raise UserError(t("cli.err.not_iso", None, option="--at", value=at), exit_code=2) from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@contextmanager
def growth(ctx: typer.Context, at: str | None = None) -> Iterator[Growth]:
    from shequn.services.growth import Growth

    with open_app(ctx, at=parse_at(at)) as app:
        yield Growth(app)


def pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise UserError(f"{what}: {v!r} is not KEY=VALUE", exit_code=2)
        out[k] = val
    return out


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    tb = Table(title=title)
    for c in columns:
        tb.add_column(c)
    for r in rows:
        tb.add_row(*[str(x) for x in r])
    console.print(tb)


# -- referral ---------------------------------------------------------------------------------------------------


@referral_app.command("link")
def link(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="成员：昵称、平台 id 或 平台:id · a member"),
    community: str = COMMUNITY,
    group: str = typer.Option("", "--group", help="只进这个群（平台 id）· a link into this group"),
    campaign: str = typer.Option("", "--campaign"),
    as_json: bool = JSON,
) -> None:
    """成员专属邀请链接/邀请码 · a member's personal invite link or code (the same one every time)."""
    with growth(ctx) as gr:
        x = gr.link(community, member, group=group, campaign=campaign)
    out = {"code": x.code, "owner": x.owner, "platform": x.platform, "url": x.url, "group": x.group}
    if as_json:
        print_json(out)
    else:
        console.print(f"{x.code}  {x.url or '(' + x.platform + ': the connector creates the link)'}")


@referral_app.command("channel")
def channel(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="渠道名 · the channel (海报, 公众号, ad …)"),
    community: str = COMMUNITY,
    code: str = typer.Option("", "--code", help="自定义邀请码 · your own code"),
    platform: str = typer.Option("sandbox", "--platform"),
    as_json: bool = JSON,
) -> None:
    """渠道码 · a link for an acquisition channel (its joins are counted by channel)."""
    with growth(ctx) as gr:
        x = gr.channel_link(community, name, code=code, platform=platform)
    if as_json:
        print_json({"code": x.code, "channel": x.channel, "platform": x.platform, "url": x.url})
    else:
        console.print(f"{x.code}  {x.channel}  {x.url}")


@referral_app.command("contest")
def contest(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the contest's key"),
    community: str = COMMUNITY,
    start: str = typer.Option(None, "--start", help="开始时间 · start (ISO; default now)"),
    prizes: int = typer.Option(None, "--prizes", min=0, help="每期获奖名额 · winners per period"),
    setting: list[str] = typer.Option([], "--set", help="weekday=4 at=17:00 min_stay_hours=24 burst_max=20 …"),
) -> None:
    """推荐排行榜活动（每周五17:00结算）· a referral contest, settled every week (Friday 17:00 by default)."""
    values: dict[str, Any] = {}
    for k, v in pairs(setting, "--set").items():
        values[k] = v if k == "at" else _int(k, v)
    with growth(ctx) as gr:
        c = gr.contest(community, key, start=parse_at(start), prizes=prizes, settings=values)
    console.print(f"{c.key}: {c.params}")


def _int(key: str, v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise UserError(f"--set {key}: {v!r} is not a whole number", exit_code=2) from None


@referral_app.command("board")
def board(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="活动标识 · the contest's key"),
    limit: int = typer.Option(20, "--limit", min=1),
    at: str = AT,
    as_json: bool = JSON,
) -> None:
    """本期推荐榜 · the leaderboard of the running period: confirmed, pending (under 24 h) and rejected invites."""
    with growth(ctx, at) as gr:
        b = gr.leaderboard(key, now=parse_at(at), limit=limit)
    board = b.to_dict()
    rows: list[dict[str, Any]] = board["ranks"]
    if as_json:
        print_json(board)
        return
    table(
        f"{key} · {b.community} · {b.start.astimezone(ZoneInfo(b.timezone)):%Y-%m-%d %H:%M} → "
        f"{b.end.astimezone(ZoneInfo(b.timezone)):%Y-%m-%d %H:%M} ({b.timezone})",
        ["#", "referrer", "name", "confirmed", "pending", "rejected"],
        [
            [
                r["rank"],
                r["referrer"],
                r["name"],
                r["confirmed"],
                r["pending"],
                ", ".join(f"{k}:{v}" for k, v in r["rejected"].items()),
            ]
            for r in rows
        ],
    )


@referral_app.command("settle")
def settle(
    ctx: typer.Context,
    key: str = typer.Option(None, "--key", help="只结算这个活动 · only this contest"),
    at: str = AT,
    as_json: bool = JSON,
) -> None:
    """结算已结束的各期（可反复运行，不会重复结算）· settle every ended period (idempotent: run it from cron)."""
    with growth(ctx, at) as gr:
        done = gr.settle(now=parse_at(at), key=key)
    if as_json:
        print_json(done)
        return
    for r in done:
        console.print(
            f"{r['campaign']} {r['start']} → {r['end']}: winners {r['winners']}, "
            f"{r['confirmed']} confirmed, rejected {r['rejected']}"
        )
    if not done:
        console.print("—")


@referral_app.command("history")
def history(ctx: typer.Context, key: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """已结算的各期 · the settled periods of a contest."""
    with growth(ctx) as gr:
        rows = gr.settlements(key)
    if as_json:
        print_json(rows)
        return
    table(
        key,
        ["period", "winners", "confirmed", "rejected"],
        [[f"{r['start']} → {r['end']}", ", ".join(r["winners"]), r["confirmed"], r["rejected"]] for r in rows],
    )


@referral_app.command("tree")
def tree(
    ctx: typer.Context,
    community: str = COMMUNITY,
    member: str = typer.Option(None, "--member", help="只看此人的下线 · one member's downline"),
    as_json: bool = JSON,
) -> None:
    """推荐关系树 · the referral tree: who brought whom (valid referrals only)."""
    with growth(ctx) as gr:
        tr = gr.tree(community)
        root = gr.member(community, member).key if member else None
    roots = [root] if root else sorted(set(tr.children) - set(tr.parent))
    if as_json:
        print_json({"parent": tr.parent, "children": tr.children, "roots": roots})
        return
    lines: list[str] = []

    def walk(node: str, depth: int) -> None:
        lines.append(f"{'  ' * depth}{node} ({tr.size(node)})")
        for c in tr.children.get(node, [])[:200]:
            walk(c, depth + 1)

    for r in roots[:200]:
        walk(r, 0)
    console.print("\n".join(lines) or "—")


@referral_app.command("channels")
def channels(ctx: typer.Context, community: str = COMMUNITY, at: str = AT, as_json: bool = JSON) -> None:
    """入群来源与反作弊 · joins by channel, valid referrals, and what the fraud checks threw out."""
    with growth(ctx, at) as gr:
        atts, _names = gr.attributions(community, now=parse_at(at))
    by: dict[str, dict[str, int]] = {}
    for a in atts:
        box = by.setdefault(a.channel, {"joins": 0, "confirmed": 0})
        box["joins"] += 1
        box["confirmed"] += a.confirmed_ms is not None
        for f in a.flags:
            box[f] = box.get(f, 0) + 1
    if as_json:
        print_json(by)
        return
    from shequn.growth.referral import FLAGS

    table(
        community,
        ["channel", "joins", "confirmed", *FLAGS],
        [[ch, v["joins"], v["confirmed"], *(v.get(f, 0) for f in FLAGS)] for ch, v in sorted(by.items())],
    )


# -- live codes -------------------------------------------------------------------------------------------------


@livecode_app.command("create")
def livecode_create(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="活码 · the live code"),
    community: str = COMMUNITY,
    template: str = typer.Option("", "--template", help="新群名称模板 · new groups' name, e.g. 读书会{n}群"),
    capacity: int = typer.Option(None, "--capacity", min=1, help="每群上限 · members per group"),
    reserve: int = typer.Option(None, "--reserve", min=0, help="每群预留 · places kept free"),
    owner: list[str] = typer.Option([], "--owner", help="GROUP_ID=OWNER: 群主"),
    owner_capacity: list[str] = typer.Option([], "--owner-capacity", help="OWNER=N: 群主可承接人数"),
) -> None:
    """创建/修改群活码 · create or change a live code."""
    caps = {k: _int("--owner-capacity", v) for k, v in pairs(owner_capacity, "--owner-capacity").items()}
    with growth(ctx) as gr:
        c = gr.live_code(
            community,
            code,
            template=template,
            capacity=capacity,
            reserve=reserve,
            owners=pairs(owner, "--owner"),
            owner_capacity=caps,
        )
    console.print(f"{c.key}: {c.params}")


@livecode_app.command("route")
def livecode_route(ctx: typer.Context, code: str = typer.Argument(...), at: str = AT, as_json: bool = JSON) -> None:
    """下一位新人去哪个群 · where the live code sends the next newcomer (creating a group when all are full)."""
    with growth(ctx, at) as gr:
        r = gr.route(code)
    if as_json:
        print_json(r)
    else:
        console.print(" ".join(f"{k}={v}" for k, v in r.items() if k != "skipped"))


# -- growth -----------------------------------------------------------------------------------------------------


@growth_app.command("fill")
def fill(
    ctx: typer.Context,
    key: str = typer.Argument(...),
    community: str = COMMUNITY,
    group: str = typer.Option(..., "--group", help="群的平台 id · the group's platform id"),
    target: int = typer.Option(None, "--target", min=2, help="目标人数（默认400）· target members (400)"),
    reward: int = typer.Option(None, "--reward", min=0, help="红包，分（默认50000）· red packet in fen"),
) -> None:
    """满群活动（群满400人发500元红包）· a group-fill campaign (book 2620)."""
    with growth(ctx) as gr:
        c = gr.fill(community, key, group=group, target=target, reward=reward)
    console.print(f"{c.key}: {c.params}")


@growth_app.command("fill-check")
def fill_check(ctx: typer.Context, as_json: bool = JSON) -> None:
    """满群进度；达标即公告并交办红包 · progress; announce and hand the red packet to staff once reached."""
    with growth(ctx) as gr:
        rows = gr.fill_check()
    if as_json:
        print_json(rows)
    else:
        table(
            "group fill",
            ["campaign", "group", "members", "target", "reached"],
            [[r["campaign"], r["group"], r["members"], r["target"], r["reached"]] for r in rows],
        )


@growth_app.command("ab")
def ab(
    ctx: typer.Context,
    community: str = COMMUNITY,
    group_a: str = typer.Option(..., "--from", help="A 群 · group A"),
    group_b: str = typer.Option(..., "--to", help="B 群 · group B"),
    top: int = typer.Option(None, "--top", min=1),
    days: int = typer.Option(30, "--days", min=1),
    invite: bool = typer.Option(False, "--invite", help="发出邀请 · send the invitations"),
    as_json: bool = JSON,
) -> None:
    """AB群法：A群最活跃、建议最好的成员 · the AB-group method: group A's most engaged members for group B."""
    with growth(ctx) as gr:
        rows = gr.ab(community, group_a, group_b, top=top, days=days, invite=invite)
    if as_json:
        print_json(rows)
    else:
        table(
            f"{group_a} → {group_b}",
            ["member", "name", "messages", "replies", "suggestions", "score"],
            [[r["member"], r["name"], r["messages"], r["replies"], r["suggestions"], r["score"]] for r in rows],
        )


@growth_app.command("promote")
def promote(
    ctx: typer.Context,
    community: str = COMMUNITY,
    invite: bool = typer.Option(False, "--invite", help="邀请进下一级群 · invite them into the next level's group"),
    as_json: bool = JSON,
) -> None:
    """升级路径：粉丝群→会员群→管理群→核心群 · who meets the next level's rule (book 2065)."""
    with growth(ctx) as gr:
        rows = gr.promotions(community, invite=invite)
    if as_json:
        print_json(rows)
    else:
        table(community, ["member", "name", "from", "to"], [[r["member"], r["name"], r["from"], r["to"]] for r in rows])


@growth_app.command("chapter")
def chapter(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="分会/新社群名称 · the chapter's name"),
    template: str = typer.Option(..., "--template", "-t", help="模板社群 · the community it replicates"),
    stage: str = typer.Option(..., "--stage", help="applied screened created growing benchmark"),
    leader: str = typer.Option("", "--leader"),
    city: str = typer.Option("", "--city"),
    note: str = typer.Option("", "--note"),
) -> None:
    """标杆社群计划：推进一个分会的阶段 · the benchmark-group programme: move a chapter on (book 2311-2331)."""
    with growth(ctx) as gr:
        r = gr.chapter(template, name, stage=stage, leader=leader, city=city, note=note)
    console.print(" ".join(f"{k}={v}" for k, v in r.items()))


@growth_app.command("chapters")
def chapters(ctx: typer.Context, as_json: bool = JSON) -> None:
    """标杆社群计划的各分会 · the programme's chapters."""
    with growth(ctx) as gr:
        rows = gr.chapters()
    if as_json:
        print_json(rows)
    else:
        table(
            "chapters",
            ["name", "template", "stage", "leader", "city", "members"],
            [[r["name"], r["template"], r["stage"], r["leader"], r["city"], r["members"]] for r in rows],
        )
