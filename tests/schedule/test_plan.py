"""The planner: local times in the community's zone, weekdays, the case-study day, the preheat, the daily cap, cron
jobs, and specs that put a job in the quiet hours refused with the field named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shequn.playbook.spec import CommunitySpec
from shequn.policies import GroupConfig
from shequn.schedule.plan import day_plan, plan, rhythm_groups
from tests.support.builders import spec

MONDAY = date(2026, 11, 2)


def groups(s: CommunitySpec) -> list[GroupConfig]:
    return [GroupConfig(f"{g.platform}:{g.id}", g.platform, g.id, s.name, g.name, g.role) for g in s.groups]


def jobs(occs: list, status: str = "due") -> list[tuple[str, str]]:
    return [(o.local.strftime("%H:%M"), o.job) for o in occs if o.status == status]


def test_a_growth_community_weekday_in_its_own_time_zone() -> None:
    s = spec()
    plan_ = day_plan(s, groups(s), MONDAY)
    # The book's day for a growth community (2365): 7:30 check-in, the 8:00 activity, the preheat the evening before.
    assert jobs(plan_) == [("07:30", "check_in"), ("08:00", "daily_activity"), ("20:00", "activity_preheat")]
    assert all(o.local.tzinfo == ZoneInfo("Asia/Shanghai") for o in plan_)
    assert plan_[0].at == datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    # Tuesday is the growth type's case-study day: it takes the daily activity's place (and Monday's preheat is for it).
    tuesday = jobs(day_plan(s, groups(s), MONDAY + timedelta(days=1)))
    assert ("08:00", "case_study") in tuesday and ("08:00", "daily_activity") not in tuesday
    # Saturday: no games (weekdays only); the sales day and the ad window are off for a growth community.
    saturday = [j for _, j in jobs(day_plan(s, groups(s), MONDAY + timedelta(days=5)))]
    assert "games" not in saturday and "ad_window" not in saturday and "sales_day" not in saturday


def test_type_specific_jobs_and_another_time_zone() -> None:
    s = spec(type="money", timezone="America/New_York")
    wednesday = jobs(day_plan(s, groups(s), MONDAY + timedelta(days=2)))
    assert ("10:00", "sales_day") in wednesday and ("08:00", "case_study") not in wednesday
    saturday = day_plan(s, groups(s), MONDAY + timedelta(days=5))
    ad = next(o for o in saturday if o.job == "ad_window")
    assert ad.at == datetime(2026, 11, 7, 19, 0, tzinfo=UTC)  # 14:00 in New York (EST)
    assert s.rhythm.ad_window_open(datetime(2026, 11, 7, 15, 0)) and not s.rhythm.ad_window_open(
        datetime(2026, 11, 7, 19, 0)
    )


def test_the_daily_cap_skips_the_least_important_posts() -> None:
    s = spec(rhythm={"max_posts_per_day": 2, "jobs": {"evening_report": {"enabled": True}}})
    plan_ = day_plan(s, groups(s), MONDAY)
    counted = [(o.job, o.status) for o in plan_ if o.counts]
    assert counted == [
        ("check_in", "due"),
        ("daily_activity", "capped"),
        ("activity_preheat", "capped"),
        ("evening_report", "due"),
    ]
    assert s.rhythm.max_posts_per_day == 2 and spec().rhythm.max_posts_per_day == 3  # book 2210: 2~3
    # Every post counts unless the community turns that off for a job.
    s = spec(rhythm={"max_posts_per_day": 2, "jobs": {"check_in": {"counts_toward_cap": False}}})
    assert [(o.job, o.status) for o in day_plan(s, groups(s), MONDAY)] == [
        ("check_in", "due"),
        ("daily_activity", "due"),
        ("activity_preheat", "due"),
    ]


def test_operator_cron_jobs_and_which_groups_get_the_rhythm() -> None:
    s = spec(
        groups=("g1", "g2"),
        rhythm={
            "jobs": {"games": {"enabled": False}, "check_in": {"at": "07:40", "text": "早起打卡 {date}"}},
            "custom": [{"key": "reading", "cron": "30 21 * * 1,3", "text": "读书时间", "groups": ["g2"]}],
        },
    )
    occs = day_plan(s, groups(s), MONDAY)
    assert ("07:40", "check_in") in jobs(occs) and "games" not in {o.job for o in occs}
    reading = [o for o in occs if o.job == "custom:reading"]
    assert [(o.group.platform_id, o.local.strftime("%H:%M")) for o in reading] == [("g2", "21:30")]
    assert next(o for o in occs if o.job == "check_in").text == "早起打卡 {date}"
    admin = [*groups(s), GroupConfig("sandbox:admins", "sandbox", "admins", s.name, role="admin")]
    assert [g.platform_id for g in rhythm_groups(s, admin)] == ["g1", "g2"]


def test_keys_are_deterministic_and_windows_are_half_open() -> None:
    s = spec()
    start = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # 07:30 local, exactly the check-in
    first = plan(s, groups(s), start, start + timedelta(hours=1))
    again = plan(s, groups(s), start, start + timedelta(hours=1))
    assert [o.key for o in first] == [o.key for o in again]
    assert "check_in" not in {o.job for o in first}  # (start, end]: the check-in belongs to the window before
    assert first[0].key == "rhythm:读书会:sandbox:g1:2026-11-02T08:00:daily_activity"


@pytest.mark.parametrize(
    ("rhythm", "message"),
    [
        (
            {"jobs": {"check_in": {"at": "23:00"}}},
            "rhythm.jobs.check_in.at: 23:00 falls in the quiet hours 22:30-07:30",
        ),
        ({"custom": [{"key": "late", "cron": "0 23 * * *", "text": "x"}]}, "rhythm.custom.0.cron"),
        ({"custom": [{"key": "bad", "cron": "every day", "text": "x"}]}, "not a cron expression"),
        ({"jobs": {"breakfast": {"at": "08:00"}}}, "unknown job(s) ['breakfast']"),
        ({"topics": [{"type": "weather", "text": "x"}]}, "unknown topic type 'weather'"),
        (
            {"quiet_hours": {"start": "06:00", "end": "09:00"}},
            "rhythm.jobs.check_in.at: 07:30 falls in the quiet hours",
        ),
    ],
)
def test_bad_rhythm_settings_are_refused_naming_the_field(rhythm: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec(rhythm=rhythm)
    assert message in str(info.value)


def test_the_complete_spec_round_trips() -> None:
    s = spec(rhythm={"max_posts_per_day": 2, "topics": [{"type": "成长经历", "text": "你的第一本书？"}]})
    again = CommunitySpec.model_validate(s.model_dump(mode="json"))
    assert again == s and again.rhythm.topics[0].type == "growth_stories"
