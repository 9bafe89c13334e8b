"""What every connector's end-to-end run through ``shequn run -c PLATFORM`` starts from: the community spec and the
relaxed platform limits (the runs measure the connector, not the outbox's pacing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from shequn.playbook import load_playbook


def live_spec(
    platform: str,
    groups: Sequence[tuple[object, str, str]],
    report_at: datetime,
    *,
    settings: Sequence[str] = (),
    policies: Sequence[str] = (),
) -> str:
    """A 读书会 (成长型, zh-CN, UTC) on ``platform`` with ``groups`` ((id, name, role or "")): the ladder warn → remove,
    check-ins answered at once (by default gathered for 5 minutes), and the 早报 at ``report_at`` as the only rhythm
    job, the quiet hours well away from the run. ``settings`` and ``policies`` are extra YAML lines (top level and
    under ``policies:``)."""
    quiet = (report_at + timedelta(hours=6)).strftime("%H:00"), (report_at + timedelta(hours=8)).strftime("%H:00")
    off = [f"    {j.key}: {{enabled: false}}" for j in load_playbook().rhythm.jobs if j.key != "morning_report"]
    bound = [
        f'  - {{platform: {platform}, id: "{gid}", name: {name}' + (f", role: {role}}}" if role else "}")
        for gid, name, role in groups
    ]
    return "\n".join(
        [
            "name: 读书会",
            "type: growth",
            "locale: zh-CN",
            "timezone: UTC",
            *settings,
            "groups:",
            *bound,
            "policies:",
            "  moderation: {ladder: [warn, remove]}",
            '  checkin: {opens_at: "00:00"}',
            "  acks: {batch_minutes: 0}",
            *policies,
            "rhythm:",
            f'  quiet_hours: {{start: "{quiet[0]}", end: "{quiet[1]}"}}',
            "  jobs:",
            f'    morning_report: {{enabled: true, at: "{report_at:%H:%M}", days: daily}}',
            *off,
            "",
        ]
    )


def relaxed_limits(platform: str, url: str) -> str:
    """A ``--limits`` file lifting ``platform``'s per-bot rate for a test run (``url``: its documented limits)."""
    return (
        f"platforms:\n  - platform: {platform}\n    limits: [{{scope: bot, count: 1000, seconds: 1, documented: "
        f'{{url: "{url}", quote: "relaxed for tests"}}}}]\n'
    )
