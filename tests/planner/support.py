"""Helpers for the planner's tests: the six answer files (one per type, from 000_429f995354a731ff.txt's examples)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from shequn.planner import Answers, read_answers

ANSWERS = Path(__file__).parent / "answers"
TODAY = date(2026, 11, 2)
# type → the example of 000_429f995354a731ff.txt its answers describe
EXAMPLES = {
    "consumption": "淘客优惠券群",
    "growth": "读书会",
    "ip": "小米社群",
    "money": "渠道群",
    "interest": "跑步群",
    "industry": "美容行业群",
}


def raw(type_key: str) -> dict[str, Any]:
    """The answers file of a type as data, to change before validating."""
    data: dict[str, Any] = yaml.safe_load((ANSWERS / f"{type_key}.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def answers(type_key: str, **changes: Any) -> Answers:
    """The answers of a type, with top-level ``changes`` applied."""
    data = raw(type_key)
    data.update(changes)
    return Answers.model_validate(data)


def from_file(type_key: str) -> Answers:
    path = ANSWERS / f"{type_key}.yaml"
    return read_answers(path.read_text(encoding="utf-8"), source=str(path))
