"""``shequn moderation …``: correct the ad detection, see why a text would be flagged, list the shared blacklist.

An operator's correction is an event (``label``) appended to the log and run through the engine like any other:
the classifier that learns from corrections is rebuilt by a replay, and "not an ad" withdraws what the mistaken
verdict caused (the offence, the blacklisting).
"""

from __future__ import annotations

import getpass

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import Edit, Message, UserError
from shequn.i18n import t

app = typer.Typer(help="审核 · moderation: labels, checks, the blacklist", no_args_is_help=True)


def _mask(text: str) -> str:
    """Contact details masked (reports show evidence, not contact details): the one masking moderation posts with."""
    from shequn.policies.moderation.evidence import mask_contacts

    return mask_contacts(text)


def _mask_id(key: str) -> str:
    platform, _, pid = key.partition(":")
    return f"{platform}:{pid[:3]}***{pid[-2:]}" if len(pid) > 6 else key


@app.command("label")
def label(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="消息的事件 id · the message's event id (shequn export events)"),
    verdict: str = typer.Argument(..., help="ad 或 not-ad · ad or not-ad"),
    by: str = typer.Option("", "--by", help="标注人 · who labels (default: the system user)"),
) -> None:
    """标注广告 · tell shequn a message was (not) an ad; the classifier learns, a false alarm is withdrawn."""
    from shequn.policies.moderation import label_for

    with open_app(ctx) as a:
        with a.store.transaction() as conn:
            event = a.store.events.get(conn, a.ws.id, event_id)
        if event is None:
            raise UserError(t("policies.cli.no_event", None, id=event_id), exit_code=2)
        if not isinstance(event, Message | Edit):
            raise UserError(t("policies.cli.not_a_message", None, id=event_id, kind=event.kind.value), exit_code=2)
        try:
            labelled = label_for(event, verdict, by=by or _user(), at=a.clock.now())
        except ValueError as exc:
            raise UserError(f"{verdict!r}: {exc}", exit_code=2) from None
        report = a.ingest([labelled])
    key = "policies.cli.labelled" if report.added else "policies.cli.labelled_before"
    console.print(t(key, None, id=event_id, label=labelled.label, actions=report.actions + report.staff_tasks))


def _user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("check")
def check(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="要检查的文字 · the text to check"),
    community: str = typer.Option(..., "--community", "-c", help="社群名称 · the community whose settings apply"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """检查一段文字 · show the evidence and score the ad detection gives a text (as from a regular member)."""
    from shequn.engine import build_community_config
    from shequn.policies.moderation import ModerationSettings
    from shequn.policies.moderation.classifier import SCOPE

    with open_app(ctx) as a:
        record = a.community(community)
        learned = a.saved_state().workspace.get(SCOPE, {})
    cfg = build_community_config(record.spec, source=f"community {community}")
    s = cfg.settings["moderation"]
    assert isinstance(s, ModerationSettings)
    from datetime import UTC, datetime

    from shequn.domain import ContentKind
    from shequn.policies.moderation import judge

    verdict = judge(s, text, ContentKind.TEXT, "", None, datetime.now(UTC), learned)
    flagged = verdict.score >= s.threshold
    if as_json:
        print_json(
            {
                "score": verdict.score,
                "threshold": s.threshold,
                "ad": flagged,
                "evidence": [{"kind": e.kind, "detail": _mask(e.detail), "weight": e.weight} for e in verdict.evidence],
            }
        )
        return
    for e in verdict.evidence:
        console.print(f"  {e.weight:+.2f}  {e.kind}  {_mask(e.detail)}")
    console.print(
        t(
            "policies.cli.verdict_ad" if flagged else "policies.cli.verdict_ok",
            None,
            score=verdict.score,
            threshold=s.threshold,
        )
    )


@app.command("blacklist")
def blacklist(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
    show_ids: bool = typer.Option(False, "--show-ids", help="显示完整 id · show ids and evidence unmasked"),
) -> None:
    """共享黑名单 · the blacklist shared by every group of the workspace."""
    from shequn.policies.moderation import BLACKLIST

    with open_app(ctx) as a:
        entries = a.saved_state().workspace.get(BLACKLIST, {})
    rows = [
        {
            "member": key if show_ids else _mask_id(key),
            "at": e.get("at", ""),
            "community": e.get("community", ""),
            "violation": e.get("violation", ""),
            "evidence": e.get("evidence", "") if show_ids else _mask(e.get("evidence", "")),
        }
        for key, e in sorted(entries.items(), key=lambda kv: kv[1].get("at", ""))
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(t("policies.cli.blacklist_empty", None))
        return
    from rich.table import Table

    table = Table(title=t("policies.cli.blacklist_title", None, n=len(rows)))
    for col in ("member", "at", "community", "violation", "evidence"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["member"], r["at"], r["community"], r["violation"], r["evidence"])
    console.print(table)
