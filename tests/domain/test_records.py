"""Events and actions: stable JSON form, round-trips, unknown fields kept, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shequn.domain import (
    ActionKind,
    EventKind,
    FormAnswer,
    Message,
    Mute,
    Order,
    Post,
    VirtualClock,
    action_from_dict,
    event_from_dict,
    group_key,
    identity_key,
    split_key,
    stable_id,
)
from shequn.domain.actions import ACTIONS
from shequn.domain.events import EVENTS
from shequn.domain.records import iso, parse_iso

T = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
texts = st.text(max_size=40)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def test_every_event_kind_of_the_design_is_registered() -> None:
    assert set(EVENTS.classes) == {k.value for k in EventKind}
    assert set(ACTIONS.classes) == {k.value for k in ActionKind}


def test_json_form_starts_with_kind_and_keeps_declaration_order() -> None:
    m = Message(id="e1", at=T, platform="telegram", group="-100123", actor="42", text="早上好", mentions=("7",))
    d = m.to_dict()
    assert list(d)[:7] == ["kind", "id", "at", "platform", "group", "actor", "actor_name"]
    assert d["kind"] == "message" and d["at"] == "2026-11-23T08:00:00Z" and d["mentions"] == ["7"]
    assert "extra" not in d


def test_compact_form_leaves_out_defaults_and_round_trips() -> None:
    m = Message(id="e1", at=T, platform="sandbox", group="g", actor="u", text="hi")
    c = m.to_dict(compact=True)
    assert set(c) == {"kind", "id", "at", "platform", "group", "actor", "text"}
    assert event_from_dict(c) == m


@given(
    id_=st.text(min_size=1, max_size=20),
    at=times,
    text=texts,
    mentions=st.lists(texts, max_size=3),
    group=st.text(max_size=12),
    actor=st.from_regex(r"[0-9]{1,25}", fullmatch=True),
)
def test_message_round_trip(id_: str, at: datetime, text: str, mentions: list[str], group: str, actor: str) -> None:
    m = Message(id=id_, at=at, platform="telegram", group=group, actor=actor, text=text, mentions=tuple(mentions))
    assert event_from_dict(m.to_dict()) == m
    assert event_from_dict(m.to_dict(compact=True)) == m


def test_platform_ids_beyond_32_bits_stay_exact_text() -> None:
    big = str(2**63 + 12345)
    m = Message(id="x", at=T, platform="telegram", group="-100" + big, actor=big)
    back = event_from_dict(m.to_dict())
    assert back.actor == big and back.group == "-100" + big


def test_unknown_fields_are_kept_in_extra() -> None:
    d = Order(id="o1", at=T, platform="shop", order_id="A1", amount=1999).to_dict()
    d["coupon_code"] = "SPRING"
    back = event_from_dict(d)
    assert back.extra == {"coupon_code": "SPRING"}
    assert back.to_dict()["extra"] == {"coupon_code": "SPRING"}


def test_missing_required_field_and_unknown_kind_are_named() -> None:
    with pytest.raises(ValueError, match="order_id"):
        event_from_dict({"kind": "order", "id": "o", "at": "2026-01-01T00:00:00Z", "platform": "shop"})
    with pytest.raises(ValueError, match="unknown event kind 'gossip'"):
        event_from_dict({"kind": "gossip"})


def test_form_answers_and_actions_round_trip() -> None:
    f = FormAnswer(id="f", at=T, platform="sandbox", form="apply", answers={"city": "北京"})
    assert event_from_dict(f.to_dict()) == f
    mute = Mute(key="k", at=T, platform="matrix", group="!r:x", target="@a:x", until=T + timedelta(hours=1))
    assert action_from_dict(mute.to_dict()) == mute
    post = Post(key="p", at=T, text="早报", pin=True)
    assert action_from_dict(post.to_dict()) == post and post.internal is False


def test_time_is_utc_with_z_and_exact() -> None:
    shanghai = datetime(2026, 11, 23, 16, 0, 0, 123000).astimezone()
    assert parse_iso(iso(shanghai)) == shanghai
    assert iso(datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC)) == "2026-01-01T00:00:00.000005Z"
    assert parse_iso("2026-01-01T00:00:00") == datetime(2026, 1, 1, tzinfo=UTC)


def test_stable_id_and_keys() -> None:
    assert stable_id("a", "b") == stable_id("a", "b") != stable_id("ab", "")
    assert identity_key("matrix", "@u:example.org") == "matrix:@u:example.org"
    assert split_key(group_key("matrix", "!r:example.org")) == ("matrix", "!r:example.org")
    with pytest.raises(ValueError):
        split_key("nocolon")


def test_virtual_clock_moves_only_forward() -> None:
    clock = VirtualClock(datetime(2026, 1, 1))
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(hours=2)) == datetime(2026, 1, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 1, 1, tzinfo=UTC))
