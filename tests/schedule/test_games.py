"""Game time (book 1688): the post promises a red packet; the answers are checked, the first right one named, and
the red packet becomes a staff task — once per game."""

from __future__ import annotations

from shequn.connectors.sandbox import SandboxSession
from shequn.engine import build_community_config
from shequn.playbook import load_playbook
from tests.conftest import T0
from tests.support.builders import spec

RIGHT = {"lyrics": "芬芳美丽满枝桠", "riddle": "水", "idioms": "意气风发", "riddle2": "砖头"}


def test_game_time_checks_the_answers_names_the_winner_and_opens_the_red_packet_as_a_task() -> None:
    # Game time is on by default for 兴趣型 and IP型; a 成长型's Tuesday has three posts before 14:00 (the cap).
    games_on = {"max_posts_per_day": 4, "jobs": {"games": {"enabled": True}}}
    s = SandboxSession(build_community_config(spec(rhythm=games_on)), start=T0)
    out = s.run_script(["/join 小王", "/join 小李", "/time 2026-11-03 14:01"], source="t")
    [post] = [o.text for o in out if o.kind == "post" and "【游戏时间】" in o.text]
    asked = [g for g in load_playbook().topics.games if g.text.get("zh-CN") in post]
    assert len(asked) == 2 and "红包" in post
    first, second = asked
    out = s.run_script(["/as 小李", "不知道呀", f"{RIGHT[first.key]}"], source="t")
    wins = [o for o in out if o.kind == "post" and "答对" in o.text]
    tasks = [o for o in out if o.kind == "staff_task"]
    assert len(wins) == 1 and "小李" in wins[0].text and first.name.get("zh-CN") in wins[0].text
    assert len(tasks) == 1 and "小李" in tasks[0].text and "红包" in tasks[0].text
    # The same game again: already won. The other game: a new winner.
    out = s.run_script(["/as 小王", f"{RIGHT[first.key]}", f"{RIGHT[second.key]}"], source="t")
    wins = [o.text for o in out if o.kind == "post" and "答对" in o.text]
    assert len(wins) == 1 and "小王" in wins[0] and second.name.get("zh-CN") in wins[0]
    assert len([o for o in out if o.kind == "staff_task"]) == 1
