"""``shequn inbox …`` and ``shequn staff …``: the operator's inbox from the command line, and who the staff are.

An item is named ``COMMUNITY#N`` (or ``N`` with ``--community``, or alone when the workspace has one community); a
moderation case likewise (``shequn inbox cases``, ``shequn inbox case N``): cases live here, beside the appeals
they are reversed from, rather than under ``shequn moderation`` (which labels messages and trains the classifier).
Every change goes through :class:`shequn.services.inbox.Inbox`: logged, audited, replies through the outbox.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import fmt, system_locale, t

app = typer.Typer(help="收件箱 · the operator's inbox: items that need a person", no_args_is_help=True)
staff_app = typer.Typer(help="工作人员 · staff: chat identities and communities of console users", no_args_is_help=True)

COMMUNITY = typer.Option(None, "--community", "-c", help="社群名称 · the community")
AS = typer.Option("", "--as", help="以哪个控制台用户操作 · act as this console user (default: the system user)")
JSON = typer.Option(False, "--json", help="JSON 输出 · print JSON")


def _actor(user: str) -> str:
    if user:
        return user
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _inbox(ctx: typer.Context) -> Iterator[Any]:
    from shequn.services.console import Operations
    from shequn.services.inbox import Inbox

    with open_app(ctx) as a:
        yield Inbox(Operations(a))


def _ref(inbox: Any, ref: str, community: str | None) -> tuple[str, int]:
    """``COMMUNITY#N`` or ``N`` → (community, n)."""
    name, sep, num = ref.rpartition("#")
    if not sep:
        name, num = community or "", ref
    if not num.strip().isdigit():
        raise UserError(t("inbox.err.ref", ref=ref), exit_code=2)
    if not name:
        names = [r.name for r in inbox.ops.communities()]
        if len(names) != 1:
            raise UserError(t("inbox.err.which", ref=ref), exit_code=2)
        name = names[0]
    return name, int(num)


def p(line: str) -> None:
    console.print(line, markup=False)


def _when(iso_time: str) -> str:
    return iso_time[:16].replace("T", " ") if iso_time else "—"


@app.command("list")
def list_(
    ctx: typer.Context,
    community: str | None = COMMUNITY,
    status: str = typer.Option("active", "--status", help="open, pending, resolved, active (open+pending) 或 all"),
    assignee: str | None = typer.Option(None, "--assignee", help="只看分给此人的 · only items assigned to this user"),
    mine: str = typer.Option("", "--mine", help="我的队列（控制台用户名）· my queue: items assigned to this user"),
    kind: str | None = typer.Option(None, "--kind", help="question, mention, direct, complaint, appeal, admission"),
    as_json: bool = JSON,
) -> None:
    """列出待办 · list inbox items, newest first, with how long each has waited."""
    with _inbox(ctx) as inbox:
        items = inbox.items(
            community=community, status=None if status == "all" else status, assignee=mine or assignee, kind=kind
        )
    if as_json:
        print_json(items)
        return
    if not items:
        console.print(t("inbox.cli.none"))
        return
    for it in items:
        console.print(
            t(
                "inbox.cli.line",
                ref=f"{it['community']}#{it['n']}",
                kind=t(f"inbox.kind.{it['kind']}"),
                status=t(f"inbox.status.{it['status']}"),
                who=it.get("name") or it["actor"],
                assignee=it.get("assignee") or "—",
                minutes=it["waiting_minutes"],
                overdue=t("inbox.cli.overdue") if it["overdue"] else "",
                text=(it.get("text") or "")[:60],
            ),
            markup=False,
        )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    community: str | None = COMMUNITY,
    as_json: bool = JSON,
) -> None:
    """查看一条待办 · an item with the messages around it, the member's card and the canned answers."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        it = inbox.item(name, n)
    if as_json:
        print_json(it)
        return
    p(
        t(
            "inbox.cli.head",
            ref=f"{name}#{n}",
            kind=t(f"inbox.kind.{it['kind']}"),
            status=t(f"inbox.status.{it['status']}"),
        )
    )
    p(
        t(
            "inbox.cli.times",
            at=_when(it["at"]),
            first=_when(it.get("first_response_at", "")),
            resolved=_when(it.get("resolved_at", "")),
            assignee=it.get("assignee") or "—",
        )
    )
    card = it["member"]
    p(
        t(
            "inbox.cli.card",
            name=card.get("name") or card["key"],
            level=card.get("level", 0),
            points=card.get("points", 0),
            offences=len(card["offences"]),
            tags=", ".join(card.get("tags", [])) or "—",
            orders=len(card["orders"]),
        )
    )
    if it.get("case"):
        at, violation, _, step, why = it["case"]
        p(t("inbox.cli.case", at=_when(at), violation=violation, step=step, why=why))
        if it.get("case_n"):
            case_ref = f"{name}#{it['case_n']}"
            p(f"{t('inbox.cli.case_ref', ref=case_ref)} · shequn inbox case {case_ref}")
    for m in it["messages"]:
        mark = "»" if m.get("id") == it["event"] else " "
        p(f"{mark} {_when(m.get('at', ''))} {m.get('actor_name') or m.get('actor', '')}: {m.get('text', '')}")
    for at, by, text in it.get("notes", []):
        p(t("inbox.cli.note", at=_when(at), by=by, text=text))
    for i, c in enumerate(it["canned"], 1):
        p(t("inbox.cli.canned", i=i, keys=c["keys"], answer=c["answer"][:80]))


@app.command("reply")
def reply(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    text: str = typer.Argument("", help="回复内容 · the reply"),
    community: str | None = COMMUNITY,
    private: bool = typer.Option(False, "--private", help="私聊回复 · answer privately through the bot"),
    canned: int = typer.Option(0, "--canned", help="用第几条常见问题回答 · answer with this FAQ entry (see show)"),
    resolve: bool = typer.Option(False, "--resolve", help="回复后标为已解决 · resolve the item after replying"),
    faq: str = typer.Option(
        "",
        "--add-to-faq",
        help="把回复加入常见问题，用这些关键词（逗号分隔）· add the reply to the FAQ with these keywords",
    ),
    user: str = AS,
) -> None:
    """回复 · answer an item through the bot, in the group (as a reply) or privately; a staff task where forbidden."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        if canned:
            answers = inbox.canned(name)
            if not 1 <= canned <= len(answers):
                raise UserError(t("inbox.err.canned", n=canned, count=len(answers)), exit_code=2)
            text = answers[canned - 1]["answer"]
        actor = _actor(user)
        out = inbox.reply(name, n, text, actor=actor, private=private)
        if faq:
            inbox.add_to_faq(name, n, text, faq.split(","), actor=actor)
        if resolve:
            inbox.set_status(name, n, "resolved", actor=actor)
    console.print(t("inbox.cli.replied", ref=f"{name}#{n}", queued=out["queued"], tasks=out["staff_tasks"]))


@app.command("assign")
def assign(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    to: str = typer.Argument(..., help="控制台用户名（空字符串取消分派）· console user name ('' unassigns)"),
    community: str | None = COMMUNITY,
    user: str = AS,
) -> None:
    """分派 · give an item to a staff member."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        inbox.assign(name, n, to, actor=_actor(user))
    console.print(t("inbox.cli.assigned", ref=f"{name}#{n}", to=to or "—"))


def _status(ctx: typer.Context, ref: str, community: str | None, status: str, user: str) -> None:
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        inbox.set_status(name, n, status, actor=_actor(user))
    console.print(t("inbox.cli.status", ref=f"{name}#{n}", status=t(f"inbox.status.{status}")))


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    community: str | None = COMMUNITY,
    user: str = AS,
) -> None:
    """标为已解决 · resolve an item (its resolution time is measured)."""
    _status(ctx, ref, community, "resolved", user)


@app.command("reopen")
def reopen(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    community: str | None = COMMUNITY,
    user: str = AS,
) -> None:
    """重新打开 · reopen a resolved item."""
    _status(ctx, ref, community, "open", user)


@app.command("note")
def note(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    text: str = typer.Argument(..., help="备注 · the note"),
    community: str | None = COMMUNITY,
    user: str = AS,
) -> None:
    """加备注 · add a note to an item (kept with who wrote it and when)."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        inbox.note(name, n, text, actor=_actor(user))
    console.print(t("inbox.cli.noted", ref=f"{name}#{n}"))


@app.command("reverse")
def reverse(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N"),
    community: str | None = COMMUNITY,
    user: str = AS,
) -> None:
    """申诉通过 · grant an appeal: withdraw the offence as label not-ad does, invite a removed member back, resolve."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        out = inbox.reverse(name, n, actor=_actor(user))
    console.print(
        t(
            "inbox.cli.reversed",
            ref=f"{name}#{n}",
            actions=out["actions"],
            tasks=out["staff_tasks"],
            invited=out["invited"],
        )
    )


@app.command("cases")
def cases(
    ctx: typer.Context,
    community: str | None = COMMUNITY,
    status: str | None = typer.Option(None, "--status", help="standing, appealed, reversed"),
    as_json: bool = JSON,
) -> None:
    """处理记录 · moderation cases, newest first: every step the moderation took, numbered per community."""
    with _inbox(ctx) as inbox:
        rows = inbox.cases(community=community, status=status)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(t("inbox.cli.no_cases"))
        return
    for k in rows:
        appeals = ", ".join(f"#{i}" for i in k["appeals"])
        p(
            t(
                "inbox.cli.case_line", ref=f"{k['community']}#{k['n']}", at=_when(k["at"]),
                status=t(f"inbox.case.{k['status']}"), who=k.get("name") or k["member"], violation=k["violation"],
                step=k["step"], appeals=t("inbox.cli.case_appeals", items=appeals) if appeals else "",
            )
        )  # fmt: skip


@app.command("case")
def case(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="COMMUNITY#N 或 N（处理记录编号 · the case number）"),
    community: str | None = COMMUNITY,
    note: str = typer.Option("", "--note", help="加备注 · add a note to the case"),
    reverse: bool = typer.Option(
        False, "--reverse", help="撤销 · reverse it: withdraw the offence as label not-ad does, invite back, resolve"
    ),
    user: str = AS,
    as_json: bool = JSON,
) -> None:
    """查看处理记录 · a moderation case with its evidence, notes and appeals (--note, --reverse to act on it)."""
    with _inbox(ctx) as inbox:
        name, n = _ref(inbox, ref, community)
        ref = f"{name}#{n}"
        if note:
            inbox.case_note(name, n, note, actor=_actor(user))
            console.print(t("inbox.cli.case_noted", ref=ref), markup=False)
        if reverse:
            out = inbox.reverse_case(name, n, actor=_actor(user))
            console.print(
                t("inbox.cli.case_undone", ref=ref, actions=out["actions"], tasks=out["staff_tasks"],
                  invited=out["invited"]),
                markup=False,
            )  # fmt: skip
        k = inbox.case(name, n)
    if as_json:
        print_json(k)
        return
    if note or reverse:
        return
    p(t("inbox.cli.case_head", ref=ref, status=t(f"inbox.case.{k['status']}"), at=_when(k["at"])))
    who = k.get("name") or k["member"]
    p(t("inbox.cli.case_what", who=who, group=k["group"] or "—", violation=k["violation"], step=k["step"]))
    score = "—" if k.get("score") is None else k["score"]
    p(t("inbox.cli.case_evidence", why=k["why"], score=score))
    m = k.get("message")
    p(t("inbox.cli.case_message", text=m["text"]) if m else t("inbox.cli.case_no_message"))
    if k["appeals"]:
        p(t("inbox.cli.case_appeals", items=", ".join(f"{name}#{i}" for i in k["appeals"])))
    if k["status"] == "reversed":
        p(t("inbox.cli.case_reversed_by", at=_when(k.get("reversed_at", "")), by=k.get("reversed_by", "")))
    for at, by, text in k.get("notes", []):
        p(t("inbox.cli.note", at=_when(at), by=by, text=text))


@app.command("times")
def times(ctx: typer.Context, community: str | None = COMMUNITY, as_json: bool = JSON) -> None:
    """响应时间 · first-response and resolution times per community and staff member, and the open load."""
    with _inbox(ctx) as inbox:
        out = inbox.times(community=community)
    if as_json:
        print_json(out)
        return
    console.print(t("inbox.cli.load", open=out["open"], pending=out["pending"], overdue=out["overdue"]), markup=False)
    if out["oldest"]:
        o = out["oldest"]
        console.print(
            t("inbox.cli.oldest", ref=f"{o['community']}#{o['n']}", waited=_num(o["waiting_minutes"])), markup=False
        )
    for title, rows in ((t("inbox.cli.by_community"), out["communities"]), (t("inbox.cli.by_staff"), out["staff"])):
        console.print(title, markup=False)
        for who, f in rows.items():
            line = t(
                "inbox.cli.times_line", who=who, n=f["items"], first=_num(f["first_response_median"]),
                first90=_num(f["first_response_p90"]), done=_num(f["resolution_median"]),
            )  # fmt: skip
            console.print(line, markup=False)


def _num(v: float | None) -> str:
    """Minutes read as every surface reads a duration (90 → 1.5 小时 / 1.5 h)."""
    return fmt.minutes(v, system_locale())


# -- staff ------------------------------------------------------------------------------------------------------


@staff_app.command("list")
def staff_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """工作人员 · console users with their chat identities and communities."""
    with _inbox(ctx) as inbox:
        rows = inbox.staff()
    if as_json:
        print_json(
            [
                {"username": s.username, "role": s.role, "identities": [f"{p}:{i}" for p, i in s.identities],
                 "communities": list(s.communities)}
                for s in rows
            ]
        )  # fmt: skip
        return
    for s in rows:
        ids = ", ".join(f"{p}:{i}" for p, i in s.identities) or "—"
        served = ", ".join(s.communities) or "—"
        console.print(t("inbox.cli.staff", user=s.username, role=s.role, ids=ids, communities=served), markup=False)


@staff_app.command("link")
def staff_link(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="控制台用户名 · console user"),
    platform: str = typer.Argument(..., help="平台 · platform (matrix, telegram, qq, wecom …)"),
    platform_id: str = typer.Argument(..., help="在该平台上的 id · their id there (e.g. @alice:example.org)"),
    remove: bool = typer.Option(False, "--remove", help="取消关联 · unlink"),
    user: str = AS,
) -> None:
    """关联聊天身份 · link a console user to their chat identity on a platform."""
    with _inbox(ctx) as inbox:
        if remove:
            inbox.unlink(username, platform, platform_id, actor=_actor(user))
        else:
            inbox.link(username, platform, platform_id, actor=_actor(user))
    console.print(
        t("inbox.cli.unlinked" if remove else "inbox.cli.linked", user=username, id=f"{platform}:{platform_id}")
    )


@staff_app.command("serve")
def staff_serve(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="控制台用户名 · console user"),
    community: str = typer.Argument(..., help="社群名称 · community"),
    stop: bool = typer.Option(False, "--stop", help="不再负责 · no longer serve it"),
    user: str = AS,
) -> None:
    """负责社群 · make a console user serve a community (its inbox items are routed to them)."""
    with _inbox(ctx) as inbox:
        inbox.serve(username, community, actor=_actor(user), stop=stop)
    console.print(t("inbox.cli.unserves" if stop else "inbox.cli.serves", user=username, community=community))
