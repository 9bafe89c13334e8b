"""``shequn plan``: plan a community from the operator's answers (建群规划), or review an existing spec.

``shequn plan`` asks the questions in the terminal (zh-CN or en by locale); ``--answers FILE`` reads them from YAML
and names the missing or contradictory field (exit 2, nothing written); ``--check SPEC`` reviews a spec against the
same questions (exit 1 when something is missing). A plan writes ``spec.yaml``, ``plan.md`` and ``plan.html`` (and,
after an interview, ``answers.yaml`` to re-run it) into ``--output``.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import catalogue, normalize_locale, system_locale, t

if TYPE_CHECKING:
    from shequn.planner import Plan


def plan(
    ctx: typer.Context,
    answers_file: Path | None = typer.Option(
        None, "--answers", "-a", help="回答文件 · answer the questions from a YAML file instead of the terminal"
    ),
    output: Path = typer.Option(
        Path("."), "--output", "-o", help="输出目录 · folder for spec.yaml, plan.md, plan.html"
    ),
    check: Path | None = typer.Option(None, "--check", help="检查已有社群配置 · review an existing spec.yaml"),
    locale: str | None = typer.Option(None, "--locale", help="语言 · zh-CN or en (default: SHEQUN_LANG / LANG)"),
    apply: bool = typer.Option(False, "--apply", help="同时应用到工作区 · also apply the spec to the workspace"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出（--check）· print the review as JSON"),
) -> None:
    """建群规划 · plan a community: type, rules, threshold, rhythm, roles, KPIs, first 90 days (or --check a spec)."""
    loc = normalize_locale(locale) if locale else system_locale()
    if check is not None:
        if answers_file is not None:
            raise UserError(t("planner.err.both", loc), exit_code=2)
        raise typer.Exit(_check(check, loc, as_json))
    from shequn.planner import build_plan, interview, to_html, to_markdown
    from shequn.planner.answers import parse_answers, where
    from shequn.planner.checks import OpenQuestionsError

    if answers_file is not None:
        try:
            text = answers_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise UserError(
                f"{answers_file}: {t('planner.err.not_readable', loc, reason=reason)}", exit_code=2
            ) from None
        answers, root = parse_answers(text, source=str(answers_file), locale=loc)
        try:
            result = build_plan(answers, locale=loc, today=_today(answers.timezone))
        except OpenQuestionsError as exc:
            lines = [
                f"{where(str(answers_file), root, f.field)}: {f.field}: {f.text(loc)} ({f.source})"
                for f in exc.findings
            ]
            raise UserError("\n".join(lines), exit_code=2) from None
        interviewed = False
    else:
        if not sys.stdin or sys.stdin.closed:
            raise UserError(t("planner.err.no_input", loc), exit_code=2)
        if sys.stdin.isatty():
            import locale as _locale

            _locale.setlocale(_locale.LC_CTYPE, "")  # so that line editing treats UTF-8 as characters, not bytes
            import readline  # noqa: F401  (line editing for input())
        try:
            answers = interview(_ask, _say, locale=loc, today=_today("Asia/Shanghai"))
        except EOFError:
            raise typer.Abort from None
        result = build_plan(answers, locale=loc, today=_today(answers.timezone))
        interviewed = True

    carrier = _carrier(answers.platform, loc)
    files = {
        "spec.yaml": result.spec.to_yaml(),
        "plan.md": to_markdown(result) + f"\n## {t('planner.cli.platform_title', loc)}\n\n{carrier}\n",
        "plan.html": to_html(result),
    }
    if interviewed:
        files["answers.yaml"] = answers.to_yaml()
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (output / name).write_text(body, encoding="utf-8")
    except OSError as exc:
        raise UserError(t("cli.err.cannot_write", None, path=output, reason=exc.strerror), exit_code=2) from None

    _summary(result, loc)
    console.print(carrier, markup=False)
    console.print(t("planner.cli.written", loc))
    for name in files:
        console.print(f"  {output / name}", markup=False)
    spec_path = output / "spec.yaml"
    if apply:
        with open_app(ctx) as a:
            outcome = a.apply_spec(result.spec, source=str(spec_path))
        console.print(t("planner.cli.applied", loc, outcome=t(f"cli.apply_{outcome}", loc, name=result.spec.name)))
    else:
        console.print(t("planner.cli.next", loc, spec=spec_path), markup=False)


def _carrier(platform: str, loc: str) -> str:
    """Which connector will carry the plan's platform, or what happens without one (after "Live where the
    communities are": imports for the analysis, staff tasks for what shequn cannot send)."""
    from shequn.connectors import REGISTRY

    name = t(f"planner.cli.platform.{platform}", loc) if f"planner.cli.platform.{platform}" in catalogue() else platform
    if platform in REGISTRY:
        return t("planner.cli.carried", loc, platform=name, connector=platform)
    live = ", ".join(sorted(p for p in REGISTRY if p not in ("sandbox", "fake")))
    return t("planner.cli.not_carried", loc, platform=name, connectors=live)


def _today(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def _ask(prompt: str) -> str:
    return input(prompt)


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False)


def _summary(result: Plan, loc: str) -> None:
    rec = result.recommendation
    if result.chosen_by_operator and result.type != rec.type:
        from shequn.playbook import load_playbook

        recommended = load_playbook().types[rec.type].name.get(loc)
        console.print(t("planner.cli.chosen", loc, type=result.type_name, recommended=recommended), markup=False)
    else:
        console.print(t("planner.cli.recommended", loc, type=result.type_name), markup=False)
    for r in result.reasons[:4]:
        console.print(f"  · {r.text}  [dim]({r.refs[0].source})[/dim]", markup=True, highlight=False)
    if result.maintenance:
        console.print(t("planner.cli.maintenance", loc), markup=False)
        for e in result.maintenance:
            console.print(f"  · {e.name.get(loc)}：{e.missing.get(loc)} ({e.source})", markup=False)
    for w in result.warnings:
        console.print(f"! {w.text(loc)} ({w.source})", markup=False)


def _check(path: Path, loc: str, as_json: bool) -> int:
    from rich.table import Table

    from shequn.planner import review_spec
    from shequn.playbook.spec import load_spec_file

    review = review_spec(load_spec_file(path), locale=loc)
    failed = bool(review.missing or review.maintenance)
    if as_json:
        print_json(
            {
                "name": review.name,
                "type": review.type,
                "recommended_type": review.recommendation.type,
                "maintenance_group": bool(review.maintenance),
                "missing_essentials": [e.key for e in review.maintenance],
                "items": [
                    {
                        "key": line.key,
                        "status": line.status,
                        "title": line.title,
                        "detail": line.text,
                        "sources": [r.source for r in line.refs],
                    }
                    for line in review.lines
                ],
            }
        )
        return 1 if failed else 0
    console.print(f"[bold]{t('planner.cli.review_title', loc, name=review.name)}[/bold]", markup=True)
    table = Table(show_lines=False)
    table.add_column(t("planner.cli.col.status", loc), no_wrap=True)
    for col in ("item", "detail", "source"):
        table.add_column(t(f"planner.cli.col.{col}", loc), overflow="fold")
    for line in review.lines:
        table.add_row(
            t(f"planner.cli.status.{line.status}", loc),
            line.title,
            line.text,
            ", ".join(r.source for r in line.refs),
        )
    console.print(table)
    if review.maintenance:
        console.print(t("planner.cli.maintenance", loc), markup=False)
        for e in review.maintenance:
            console.print(f"  · {e.name.get(loc)}：{e.missing.get(loc)} ({e.source})", markup=False)
    missing = len(review.missing)
    console.print(t("planner.cli.review_missing", loc, n=missing) if missing else t("planner.cli.review_complete", loc))
    return 1 if failed else 0
