"""A QQ export and the live QQ group are one group: ``shequn import --group <group number>`` binds the export to the
live group, and an export imported without it is matched by the QQ name the live group keeps (both reported)."""

from __future__ import annotations

import json
from pathlib import Path

from shequn.app import App
from tests.connectors.matrix.live import query, shequn

EXPORT = Path(__file__).parents[2] / "importers" / "fixtures" / "qq-export.txt"  # two chats: 跑步爱好者, 读书会
SPEC = """name: 读书会
type: growth
locale: zh-CN
timezone: Asia/Shanghai
threshold: {kind: none}
groups:
  - {platform: qq, id: "123456789", name: 一群}
"""


def live_group(db: str, tmp_path: Path, qq_name: str) -> None:
    """A community with its live QQ group, whose QQ name the connector has kept (``get_group_info``)."""
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "spec.yaml"))
    app = App(db)
    with app.store.transaction() as conn:
        app.store.cursors.put(conn, app.ws.id, "qq", "name:123456789", qq_name, now_ms=app.now_ms())
    app.close()


def groups_of(db: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (payload,) in query(db, "select payload from event where platform='qq' and kind='message'"):
        group = json.loads(payload)["group"]
        out[group] = out.get(group, 0) + 1
    return out


def test_an_export_is_matched_to_the_live_group_by_its_name(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    live_group(db, tmp_path, "读书会")
    out = shequn(db, "import", str(EXPORT))
    assert "123456789" in out.stderr and ("读书会" in out.stderr)  # the match is reported
    assert groups_of(db) == {"123456789": 1, "跑步爱好者": 5}  # the other chat keeps its name as its id


def test_group_binds_the_export_to_a_live_group_number(tmp_path: Path) -> None:
    db = str(tmp_path / "b.db")
    live_group(db, tmp_path, "跑步爱好者")
    out = shequn(db, "import", str(EXPORT), "--group", "123456789")
    assert "123456789" in out.stderr  # the binding is reported
    assert groups_of(db) == {"123456789": 5}  # only the chat the live group's name names
    rows = query(
        db,
        "select c.name from chat_group g join community c on c.id = g.community_id "
        "where g.platform='qq' and g.platform_id='123456789'",
    )
    assert rows == [("读书会",)]  # the live group, bound to its community: the history counts there


def test_group_number_without_a_known_name_binds_the_chats_of_the_export(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    out = shequn(db, "import", str(EXPORT), "--group", "987654321")
    assert "987654321" in out.stderr
    assert groups_of(db) == {"987654321": 6}


def test_qq_numbers_in_text_are_masked_like_phone_numbers() -> None:
    from shequn.importers.pii import Masker

    m = Masker(b"k")
    assert m.text("加我QQ：123456789 详聊") == "加我QQ：12*****89 详聊"
    assert m.text("扣扣 10086123，或 qq号12345") == "扣扣 10****23，或 qq号12*45"
    assert m.text("第 2024 期，共 123456 人") == "第 2024 期，共 123456 人"  # numbers without the label stay
