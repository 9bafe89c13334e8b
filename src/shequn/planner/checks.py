"""Checks on the answers: contradictions that send a question back, warnings, and the 用户维护群 test.

A ``question`` finding means the answers cannot make a plan yet (a 消费型 community with nothing to buy, a goal with
no number or date, a paid community of 5,000 in one group, an interest group charging a high fee …): the interview
asks that question again; the file form names the field and exits 2. A ``warning`` goes into the plan. The texts
and their seed lines are ``checks`` in ``playbook/data/planner.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shequn.domain import UserError
from shequn.planner.answers import Answers, fold
from shequn.planner.recommend import Recommendation
from shequn.playbook import Text, load_playbook
from shequn.playbook.planner import Check, Essential

PAYING = ("entry_fee", "membership")  # models where joining costs money
PRICED = ("entry_fee", "membership", "courses")  # models that need an amount
# Words that say "for everyone" (book 1390: 千万别说你的社群面向所有人).
EVERYONE = ("所有人", "任何人", "每个人", "everyone", "anyone", "anybody", "allpeople")


@dataclass(frozen=True, slots=True)
class Finding:
    """One check that fired, with the values its message needs (``Text`` values are chosen by locale)."""

    check: Check
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.check.key

    @property
    def field(self) -> str:
        return self.check.field

    @property
    def severity(self) -> str:
        return self.check.severity

    @property
    def source(self) -> str:
        return self.check.source

    @property
    def quote(self) -> str | None:
        return self.check.quote

    def text(self, locale: str) -> str:
        values = {k: (v.get(locale) if isinstance(v, Text) else v) for k, v in self.params.items()}
        return self.check.message.get(locale).format(**self.check.params, **values)


class OpenQuestionsError(UserError):
    """The answers leave questions open; ``findings`` says which (exit status 2)."""

    def __init__(self, findings: list[Finding], locale: str) -> None:
        super().__init__("\n".join(f"{f.field}: {f.text(locale)} ({f.source})" for f in findings), exit_code=2)
        self.findings = findings


def platform_cap(platform: str) -> int | None:
    """The most members a group on ``platform`` can hold, where the seeds say (WeChat 500, QQ 2000)."""
    caps = {c.platform: c.members for c in load_playbook().sizes.platform_caps}
    return caps.get(platform)


def effective_type(answers: Answers, rec: Recommendation) -> str:
    """The type the plan follows: the operator's choice when they made one, else the recommendation."""
    return answers.type or rec.type


def check_answers(answers: Answers, rec: Recommendation, *, today: date) -> list[Finding]:
    """Every check that fires for these answers, questions first."""
    pb = load_playbook()
    p = pb.planner
    found: list[Finding] = []

    def add(key: str, **params: Any) -> None:
        found.append(Finding(p.check(key), params))

    ctype = effective_type(answers, rec)
    type_name = pb.types[ctype].name
    charging = answers.charging
    model_name = p.option("charging", charging.model).name

    if not answers.value:
        add("no_value")
    words = fold(" ".join([answers.persona.text() if answers.persona else "", *answers.tags]))
    if any(w in words for w in EVERYONE):
        add("everyone")
    if answers.goal is not None:
        g = answers.goal
        if g.target is None:
            add("goal_without_number", goal=g.text)
        if g.deadline is None:
            add("goal_without_date", goal=g.text)
        elif g.deadline < today:
            add("goal_date_past", deadline=g.deadline.isoformat())
    if charging.model in PRICED and not charging.amount:
        add("fee_without_amount", model=model_name)
    if charging.model == "membership" and charging.period is None:
        add("membership_without_period")
    ceiling = p.check("interest_high_fee").params["ceiling"]
    if ctype == "interest" and charging.model in PAYING and (charging.amount or 0) > ceiling:
        add("interest_high_fee", amount=charging.amount, model=model_name)
    if not answers.product.strip():
        if ctype == "consumption":
            add("consumption_without_product")
        elif answers.purpose == "selling":
            add("selling_without_product")
    per_group, cap = answers.per_group, platform_cap(answers.platform)
    sizes = {"size": answers.expected_size, "groups": answers.groups, "per_group": per_group}
    if cap is not None and per_group > cap:
        add("over_platform_cap", platform=answers.platform, cap=cap, **sizes)
    elif charging.model in PAYING and per_group > p.check("paid_group_too_big").params["max_per_group"]:
        add("paid_group_too_big", **sizes)
    elif per_group > 500:
        add("big_free_group", **sizes)
    if per_group < 30:
        add("too_small", **sizes)
    small = {s.key: s for s in pb.sizes.policies}["small"].capacity
    if ctype == "interest" and per_group > small:
        add("interest_too_big", **sizes)
    if ctype == "growth" and charging.model not in PAYING:
        add("growth_free")
    if answers.groups > answers.team.size * p.check("team_stretched").params["groups_per_person"]:
        add("team_stretched", team=answers.team.size, groups=answers.groups)
    if answers.type and answers.type != rec.type:
        reasons = rec.best.reasons[:2]
        add(
            "type_differs",
            chosen=type_name,
            recommended=pb.types[rec.type].name,
            reasons=Text.model_validate(
                {"zh-CN": "；".join(r.text("zh-CN") for r in reasons), "en": "; ".join(r.text("en") for r in reasons)}
            ),
        )
    found.sort(key=lambda f: f.severity != "question")
    return found


def questions(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "question"]


def missing_essentials(answers: Answers) -> list[Essential]:
    """The three essentials (book 666-672) these answers lack; any missing makes it a 用户维护群."""
    by_key = {e.key: e for e in load_playbook().planner.essentials}
    missing = []
    if answers.persona is None and not answers.tags:
        missing.append(by_key["shared_attributes"])
    if answers.goal is None:
        missing.append(by_key["shared_goal"])
    if not answers.accept_rules:
        missing.append(by_key["own_rules"])
    return missing
