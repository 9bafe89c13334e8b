"""The lifecycle's pure parts: a temporary group's end (the spec's, or the operator's which wins; naive is local
time) and who a split moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shequn.domain.state import MemberState
from shequn.playbook.spec import CommunitySpec
from shequn.policies.lifecycle import split_segment, temporary_ends

T = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_temporary_groups_end_comes_from_the_spec_or_the_operator() -> None:
    spec = CommunitySpec.model_validate({
        "name": "训练营", "type": "growth", "timezone": "Asia/Shanghai",
        "groups": [{"platform": "qq", "id": "1", "role": "temporary", "ends": "2026-12-31T20:00"},
                   {"platform": "qq", "id": "2", "role": "main"}],
    })  # fmt: skip
    assert temporary_ends(spec, {}) == {"qq:1": datetime(2026, 12, 31, 12, 0, tzinfo=UTC)}
    override = {"qq:1": {"state": "active", "ends": "2027-01-05T00:00:00+00:00"}, "qq:2": {"state": "archived"}}
    assert temporary_ends(spec, override) == {"qq:1": datetime(2027, 1, 5, tzinfo=UTC)}


def test_a_split_moves_the_quietest_the_latest_or_a_tag() -> None:
    members = []
    for i in range(6):
        m = MemberState(key=f"qq:{i}", number=i + 1)
        m.messages, m.joined_at = 10 - i, T + timedelta(days=i)
        if i % 2:
            m.tags.add("上海")
        members.append(m)
    assert [m.key for m in split_segment(members, "activity")] == ["qq:5", "qq:4", "qq:3"]
    assert [m.key for m in split_segment(members, "joined", 2)] == ["qq:5", "qq:4"]
    assert [m.key for m in split_segment(members, "tag:上海")] == ["qq:1", "qq:3", "qq:5"]
