"""Reviewing an existing community spec against the planner's questions (``shequn plan --check spec.yaml``).

Each question the planner asks becomes a line of the review: answered (ok), missing (the spec says nothing, and
the methodology says it must), or a warning (answered, but not the way the playbook suggests for the type). The
three essentials decide whether the community is only a 用户维护群 (book 648-672), and the positioning the spec
records is run through the same recommendation as a plan's answers, to see whether the chosen type fits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shequn.i18n import t
from shequn.planner.answers import resolve_option
from shequn.planner.plan import Ref
from shequn.planner.recommend import Recommendation, facts_from_spec, recommend
from shequn.playbook import Cited, load_playbook
from shequn.playbook.planner import Essential
from shequn.playbook.spec import CommunitySpec

Status = Literal["ok", "missing", "warning"]


@dataclass(frozen=True, slots=True)
class ReviewLine:
    key: str
    status: Status
    title: str
    text: str
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class Review:
    """What an existing spec answers, what it lacks, and whether it is a community at all."""

    name: str
    type: str
    lines: tuple[ReviewLine, ...]
    maintenance: tuple[Essential, ...]
    recommendation: Recommendation

    @property
    def missing(self) -> list[ReviewLine]:
        return [line for line in self.lines if line.status == "missing"]

    @property
    def warnings(self) -> list[ReviewLine]:
        return [line for line in self.lines if line.status == "warning"]


def _purpose_name(purpose: str, locale: str) -> str:
    key = resolve_option("purposes", purpose) if purpose else None
    return load_playbook().planner.option("purposes", key).name.get(locale) if key else purpose


def review_spec(spec: CommunitySpec, *, locale: str = "zh-CN") -> Review:
    """Review ``spec`` (already validated) in ``locale``."""
    pb = load_playbook()
    p = pb.planner
    pos = spec.positioning
    ctype = pb.types[spec.type]
    lines: list[ReviewLine] = []

    def add(key: str, ok: bool, cited: Cited, title: str, problem: str, *, warn: bool = False, done: str = "") -> None:
        status: Status = "ok" if ok else ("warning" if warn else "missing")
        lines.append(ReviewLine(key, status, title, done if ok else problem, (Ref.of(cited),)))

    for q in p.three_questions:
        answer = getattr(pos, q.key)
        add(
            f"positioning.{q.key}",
            bool(answer),
            q,
            q.text.get(locale),
            t("planner.review.unanswered", locale),
            done=answer,
        )
    purpose = p.question("purpose")
    add(
        "positioning.purpose",
        bool(pos.purpose),
        purpose,
        t("planner.h.purpose", locale),
        t("planner.review.unanswered", locale),
        done=_purpose_name(pos.purpose, locale),
    )
    essentials = {e.key: e for e in p.essentials}
    has_attributes = bool(pos.tags) or bool(
        pos.persona.age or pos.persona.gender or pos.persona.region or pos.persona.occupation or pos.persona.interests
    )
    e = essentials["shared_attributes"]
    add(
        "positioning.persona",
        has_attributes,
        e,
        e.name.get(locale),
        e.missing.get(locale),
        done=t("planner.review.ok", locale),
    )
    e = essentials["shared_goal"]
    goal = pos.goal
    add("positioning.goal", bool(goal.text), e, e.name.get(locale), e.missing.get(locale), done=goal.text)
    if goal.text:
        unquantified = p.check("goal_without_number")
        quantified = goal.target is not None and goal.deadline is not None
        add(
            "positioning.goal.quantified",
            quantified,
            unquantified,
            t("planner.review.goal_quantified", locale),
            unquantified.message.get(locale).format(goal=goal.text),
            done=f"{goal.metric or goal.text} → {goal.target:g} @ {goal.deadline}" if quantified else "",
        )
    no_value = p.check("no_value")
    add(
        "positioning.value",
        bool(pos.value),
        no_value,
        t("planner.h.value", locale),
        no_value.message.get(locale),
        done=", ".join(p.option("values", v).name.get(locale) for v in pos.value),
    )
    nf = pb.templates["nickname_reminder"]
    add(
        "nickname_format",
        bool(spec.nickname_format),
        nf,
        t("planner.h.nickname", locale),
        t("planner.review.no_nickname", locale),
        done=spec.nickname_format,
    )
    defaults = spec.default_rules()
    tailored = [k for k, v in spec.rules.sections.items() if v != defaults[k]]
    req = pb.rules.requirements[3]  # 不断完善 (book 784)
    add(
        "rules",
        bool(tailored),
        req,
        t("planner.doc.rules", locale),
        t("planner.review.default_rules", locale),
        warn=True,
        done=t("planner.review.tailored", locale, n=len(tailored)),
    )
    kinds = {k.key: k for k in pb.thresholds.kinds}
    add(
        "threshold",
        not (spec.threshold.kind == "none" and ctype.recommended_threshold != "none"),
        kinds["none"],
        t("planner.h.threshold", locale),
        t(
            "planner.review.no_threshold",
            locale,
            type=ctype.name.get(locale),
            kind=kinds[ctype.recommended_threshold].name.get(locale),
        ),
        warn=True,
        done=kinds[spec.threshold.kind].name.get(locale),
    )
    policies = {s.key: s for s in pb.sizes.policies}
    size, recommended = policies[spec.size.policy], policies[ctype.recommended_size]
    capacity = spec.size.capacity or size.capacity
    add(
        "size",
        capacity <= recommended.capacity,
        recommended,
        t("planner.h.size", locale),
        t(
            "planner.review.size",
            locale,
            capacity=capacity,
            type=ctype.name.get(locale),
            recommended=recommended.name.get(locale),
        ),
        warn=True,
        done=f"{size.name.get(locale)} ({capacity})",
    )
    architect = next(r for r in p.role_plan if r.role == "architect")
    add(
        "roles",
        bool(spec.roles),
        architect,
        t("planner.doc.roles", locale),
        t("planner.review.no_roles", locale),
        done=", ".join(spec.roles),
    )
    rules_first = next(c for c in p.first_90_days if c.key == "rules_first")
    add(
        "groups",
        bool(spec.groups),
        rules_first,
        t("planner.review.groups", locale),
        t("planner.review.no_groups", locale),
        warn=True,
        done=str(len(spec.groups)),
    )

    missing = []
    if not has_attributes:
        missing.append(essentials["shared_attributes"])
    if not goal.text:
        missing.append(essentials["shared_goal"])
    rec = recommend(facts_from_spec(spec))
    if rec.best.score > 0 and rec.type != spec.type and rec.best.score > rec.score_of(spec.type).score:
        check = p.check("type_differs")
        names = {k: v.name.get(locale) for k, v in pb.types.items()}
        reasons = ("; " if locale == "en" else "；").join(r.text(locale) for r in rec.best.reasons[:2])
        lines.append(
            ReviewLine(
                "type",
                "warning",
                t("planner.doc.type", locale),
                t(
                    "planner.review.type_differs",
                    locale,
                    chosen=names[spec.type],
                    recommended=names[rec.type],
                    reasons=reasons,
                ),
                (Ref.of(check), *(Ref(r.source, r.quote) for r in rec.best.reasons[:2])),
            )
        )
    return Review(spec.name, spec.type, tuple(lines), tuple(missing), rec)
