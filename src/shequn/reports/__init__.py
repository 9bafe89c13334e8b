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


__all__ = ["FORMATS", "render"]
