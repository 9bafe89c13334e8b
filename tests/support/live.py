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


def book_talk(db: str, community: str, group: str, key: str, starts: datetime, seconds: float) -> None:
    """Put a guest talk (嘉宾分享) in a running ``shequn run``'s store: ``group`` held from ``starts`` for ``seconds``
    (the scheduler picks it up on its next pass)."""
    from shequn.app import App
    from shequn.schedule.activities import Activity, ActivityKind, new_secret
    from shequn.store._sql import to_ms

    ends = starts + timedelta(seconds=seconds)
    talk = Activity(key=key, community=community, kind=ActivityKind.GUEST_TALK, title="嘉宾分享", starts=starts,
                    ends=ends, groups=(group,), guest="op", created=datetime.now(starts.tzinfo),
                    secret=new_secret())  # fmt: skip
    app = App(db)
    try:
        with app.store.transaction() as conn:
            app.store.schedule.put_activity(
                conn, app.ws.id, community_id=app.community(community).id, key=key, kind=talk.kind.value,
                title=talk.title, status=talk.status, starts_ms=to_ms(starts), ends_ms=to_ms(ends),
                spec=talk.to_dict(), now_ms=app.now_ms(),
            )  # fmt: skip
    finally:
        app.close()
