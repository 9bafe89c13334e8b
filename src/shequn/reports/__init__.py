"""Reports (报告): the analytics :class:`~shequn.analytics.model.Report` as HTML, Markdown or JSON.

Owns: the renderers and the assets the HTML report carries inline (ECharts, Apache-2.0, from the npm package
``echarts``; its licence ships beside it in ``assets/``), so a report is one file that works offline.
May import: ``analytics.model``, ``i18n``, ``playbook``, the standard library, ``orjson``.

    from shequn.reports import render
    html = render(report, "html")
"""

from __future__ import annotations

from shequn.analytics.model import Report

FORMATS = ("html", "md", "json")


def window(report: Report, loc: str) -> str:
    """The window as a person reads it, the same in every renderer: its first and last local day (the end is
    exclusive: a window to 10-01 00:00 ends on 09-30), its length and time zone, and when the report was made."""
    from datetime import datetime, timedelta

    from shequn.i18n import t

    start = datetime.fromisoformat(report.start)
    last = datetime.fromisoformat(report.end) - timedelta(microseconds=1)
    made = datetime.fromisoformat(report.generated).strftime("%Y-%m-%d %H:%M")
    text = t("report.window", loc, start=f"{start:%Y-%m-%d}", end=f"{last:%Y-%m-%d}", days=report.days,
             tz=report.timezone)  # fmt: skip
    return f"{text} · {t('report.generated', loc, at=made)}"


def render(report: Report, fmt: str) -> str:
    """The report as text in ``fmt`` (``html``, ``md`` or ``json``)."""
    if fmt == "html":
        from shequn.reports.html import render_html

        return render_html(report)
    if fmt == "md":
        from shequn.reports.markdown import render_markdown

        return render_markdown(report)
    if fmt == "json":
        import orjson

        return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render", "window"]
