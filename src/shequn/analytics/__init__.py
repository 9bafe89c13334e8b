"""Analytics (分析): how each group and community is doing, judged by its type, and what to do next.

Owns: the columnar snapshot of the event log (DuckDB over Parquet), the metrics (activity, newcomers, conversation,
health signals, heatmap, daily series), the detectors (dead groups, ad accounts, roles), lifecycle stages, type KPIs,
the AARRR funnel and the diagnosis engine that maps signals to the playbook's causes and prescriptions.
May import: ``domain``, ``playbook``, ``i18n``, ``store`` (to find the database), ``duckdb``. Never ``cli`` or ``web``.

    from shequn.analytics import analyze
    report = analyze(app)            # the whole workspace, the 30 days up to the last event
    report.groups["sim:g0001"].stage  # "mature"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine imports DuckDB; keep `import shequn.analytics.conversation` light
    from shequn.analytics.engine import analyze as analyze
    from shequn.analytics.model import Report as Report


def __getattr__(name: str) -> Any:
    if name == "analyze":
        from shequn.analytics.engine import analyze

        return analyze
    if name == "Report":
        from shequn.analytics.model import Report

        return Report
    raise AttributeError(name)


__all__ = ["Report", "analyze"]
