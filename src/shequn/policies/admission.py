"""Admission (入群门槛, book 1692-1775): who may join, member numbers, the shared blacklist.

How it works:
    On every join (roster snapshots aside) the newcomer is checked, in order: the workspace-wide blacklist, the
    community's refusal tags (the task scheme's eliminated members), then the community's threshold — invitation
    (an active member invited them), tiered (the group's requirement: level, points, tags or a referrer), paid (the
    entry fee, or an active membership), task (proof of sharing, checked by rule or by staff) or tag screening (an
    application whose answers match the community's screening). A refused newcomer is removed and told why, and
    the event stops (no welcome). An admitted one gets the next member number (``Admit``); the ``rules`` policy then
    sends them the rules to accept.

    Applications, task proofs and payments arrive as their own events (forms and payments before the join) and are
    remembered here; a staff member confirms a task proof with the ``verify`` form
    (``member=<id or name>``, ``ok=yes``).

    A request to join (the ``join_request`` form: Telegram's join requests) gets the same checks before the person
    is in: it is answered with ``AnswerJoinRequest`` (approve, or decline after a private message saying why, the
    decline a little later so the message gets there while the request is still open). A request waiting only for
    staff to verify a task proof stays open and is answered by the ``verify`` form.

Things to keep in mind:
    * Members admitted before (they have a number) are not re-checked on a later join, except in paid communities,
      where the fee or the membership must still be valid, and against the blacklist and refusal tags.
    * The people who run the community (architect, decision-maker) are always admitted.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import (
    Action,
    Admit,
    AnswerJoinRequest,
    DirectMessage,
    EventKind,
    FormAnswer,
    Join,
    JoinMethod,
    OpenStaffTask,
    Payment,
    Remove,
    SetState,
)
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.i18n import t
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    STAFF_ROLES,
    BookSettings,
    book,
    check_texts,
    chunk_names,
    display,
    has_role,
    money,
    say,
)
from shequn.policies.moderation import BLACKLIST

NAME = "admission"
VERIFY_FORM = "verify"
JOIN_REQUEST_FORM = "join_request"  # the connectors' form for a request to join (Telegram's chat_join_request)
DECLINE_AFTER = timedelta(seconds=15)  # the why-message first: Telegram lets a bot write only while a request is open
_YES = frozenset({"yes", "y", "true", "1", "ok", "是", "通过", "同意"})


class Tier(BaseModel):
    """What entering one group of a tiered community takes (阶梯化社群, book 1719)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_level: int = Field(default=0, ge=0)
    min_points: int = Field(default=0, ge=0)
    tags: list[str] = Field(default_factory=list)
    inviter: bool = False


class AdmissionSettings(BookSettings):
    """``policies.admission``: the forms, screening, tiers, fees, blacklist."""

    application_forms: list[str] = book(NAME, "application_forms")
    screening: dict[str, str] = book(NAME, "screening")
    task_forms: list[str] = book(NAME, "task_forms")
    task_verify: Literal["rule", "staff"] = book(NAME, "task_verify")
    paid_purposes: list[str] = book(NAME, "paid_purposes")
    tiers: dict[str, Tier] = book(NAME, "tiers")
    blacklist: bool = book(NAME, "blacklist")
    refuse_tags: list[str] = book(NAME, "refuse_tags")

    @field_validator("screening")
    @classmethod
    def _patterns(cls, v: dict[str, str]) -> dict[str, str]:
        for field, pattern in v.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{field}: {pattern!r} is not a valid pattern: {exc}") from None
        return v


def membership_paid(ctx: Context, member: MemberState) -> bool | None:
    """Whether the membership policy holds a valid membership for ``member`` (None: it knows no subscription)."""
    sub = (ctx.community.policy.get("membership") or {}).get(f"s:{member.key}")
    if not sub:
        return None
    until = sub.get("until")
    if until is None:
        return True  # lifetime
    grace = sub.get("grace_until") or until
    return parse_iso(grace) > ctx.now


class Admission(Policy):
    """Check the threshold on every join; remember applications, task proofs, fees and rule acceptances."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = AdmissionSettings
    kinds = frozenset({EventKind.JOIN, EventKind.FORM_ANSWER, EventKind.PAYMENT})
    admits: ClassVar[bool] = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, AdmissionSettings)
        if member is None or e is None:
            return NOTHING
        if isinstance(e, Join):
            return NOTHING if e.method is JoinMethod.ROSTER else self._join(ctx, s, e, member)
        if isinstance(e, Payment):
            if e.purpose in s.paid_purposes or e.purpose.partition(":")[0] in s.paid_purposes:
                paid = int(ctx.scope.get(f"paid:{member.key}", 0)) + e.amount
                return Decision((ctx.act(SetState, scope=NAME, name=f"paid:{member.key}", value=paid),))
            return NOTHING
        if isinstance(e, FormAnswer):
            if e.form == JOIN_REQUEST_FORM:
                return self._join_request(ctx, s, e, member)
            if e.form in s.application_forms:
                return self._application(ctx, s, e, member)
            if e.form in s.task_forms and ctx.config.spec.threshold.kind == "task":
                return self._task(ctx, s, e, member)
            if e.form == VERIFY_FORM and has_role(ctx.config.spec, STAFF_ROLES, member, e.actor):
                return self._verify(ctx, e)
        return NOTHING

    # -- the join --------------------------------------------------------------------------------------------

    def _join(self, ctx: Context, s: AdmissionSettings, e: Join, member: MemberState) -> Decision:
        spec = ctx.config.spec
        if s.blacklist and member.key in ctx.shared(BLACKLIST):
            return self._refuse(ctx, e, "blacklist", "")
        if s.refuse_tags and member.tags.intersection(s.refuse_tags):
            return self._refuse(ctx, e, "refused_tag", "")
        if not has_role(spec, STAFF_ROLES, member, e.actor):
            problem = self._threshold(ctx, s, e, member)
            if problem is not None:
                return self._refuse(ctx, e, *problem)
        actions: list[Action] = [ctx.act(Admit, "admit", target=e.actor)]
        if member.number == 0 and member.inviter:
            n = int(ctx.scope.get(f"invites:{member.inviter}", 0)) + 1
            return Decision(tuple(actions), state={f"invites:{member.inviter}": n})
        return Decision(tuple(actions))

    def _threshold(self, ctx: Context, s: AdmissionSettings, e: Join, member: MemberState) -> tuple[str, str] | None:
        """Why ``member`` may not join (text key, detail), or None when they may."""
        spec = ctx.config.spec
        kind = spec.threshold.kind
        params: dict[str, Any] = spec.threshold.params
        gconf = ctx.group_config
        gid = gconf.platform_id if gconf else e.group
        tier = s.tiers.get(gid)
        if kind == "paid":
            fee = int(params.get("fee") or 0)
            valid = membership_paid(ctx, member)
            if valid is None:
                valid = int(ctx.scope.get(f"paid:{member.key}", 0)) >= fee
            if not valid:
                return "refused_paid", money(fee, str(params.get("currency", "CNY")))
        if tier is None and kind == "tiered":
            if gconf is not None and gconf.role != "main":
                tier = Tier(min_level=int(params.get("min_level") or 0))
            elif member.number == 0:
                tier = Tier(inviter=True)  # the entry group only needs a referrer (book 1719)
        if tier is not None:
            missing = self._tier_missing(ctx, tier, e, member)
            if missing:
                return "refused_tier", missing
        if member.number > 0:
            return None  # admitted before: the threshold of first entry is not asked again
        if kind == "invitation" and params.get("inviter_required", True):
            inviter = ctx.member_of(e.platform, e.inviter) if e.inviter else None
            if inviter is None or not inviter.active:
                return "refused_invitation", ""
        elif kind == "task":
            task = ctx.scope.get(f"task:{member.key}")
            if not task or not task.get("ok"):
                return "refused_task", str(int(params.get("min_shares") or 1))
        elif kind == "tag_screening":
            app = ctx.scope.get(f"app:{member.key}")
            if app is None:
                return "refused_no_application", ""
            if not app.get("ok"):
                return "refused_screening", str(app.get("reason", ""))
        return None

    def _tier_missing(self, ctx: Context, tier: Tier, e: Join, member: MemberState) -> str:
        parts: list[str] = []
        if member.level < tier.min_level:
            parts.append(say(ctx, NAME, "req_level", level=tier.min_level))
        if member.points < tier.min_points:
            parts.append(say(ctx, NAME, "req_points", points=tier.min_points))
        missing_tags = [x for x in tier.tags if x not in member.tags]
        if missing_tags:
            parts.append(say(ctx, NAME, "req_tags", tags=chunk_names(missing_tags, ctx.locale)))
        if tier.inviter and not (e.inviter or member.inviter):
            parts.append(say(ctx, NAME, "req_inviter"))
        return chunk_names(parts, ctx.locale)

    def _join_request(self, ctx: Context, s: AdmissionSettings, e: FormAnswer, member: MemberState) -> Decision:
        spec = ctx.config.spec
        join = Join(
            id=e.id,
            at=e.at,
            platform=e.platform,
            group=e.group,
            actor=e.actor,
            actor_name=e.actor_name,
            method=JoinMethod.APPROVED,
            inviter=str(e.answers.get("inviter", "")),
        )
        problem: tuple[str, str] | None = None
        if s.blacklist and member.key in ctx.shared(BLACKLIST):
            problem = ("blacklist", "")
        elif s.refuse_tags and member.tags.intersection(s.refuse_tags):
            problem = ("refused_tag", "")
        elif not has_role(spec, STAFF_ROLES, member, e.actor):
            problem = self._threshold(ctx, s, join, member)
        if problem is None:
            return Decision((ctx.act(AnswerJoinRequest, "answer", target=e.actor, approve=True),))
        task = ctx.scope.get(f"task:{member.key}")
        if problem[0] == "refused_task" and s.task_verify == "staff" and task and "verified_by" not in task:
            # The proof is in, staff have not looked yet: the request stays open until they do.
            value = {"group": e.group, "platform": e.platform, "at": iso(ctx.now)}
            return Decision((ctx.act(SetState, scope=NAME, name=f"request:{member.key}", value=value),))
        refused = self._refuse(ctx, join, *problem)
        actions = [a for a in refused.actions if not isinstance(a, Remove)]
        answer = ctx.act(AnswerJoinRequest, "answer", target=e.actor, approve=False, reason=problem[0])
        actions.append(replace(answer, at=ctx.now + DECLINE_AFTER) if actions else answer)
        return Decision(tuple(actions), stop=True)

    def _refuse(self, ctx: Context, e: Join, key: str, detail: str) -> Decision:
        actions: list[Action] = [ctx.act(Remove, "refuse", target=e.actor, reason=key)]
        if key not in ("blacklist", "refused_tag"):
            group = self._group_name(ctx)
            values: dict[str, Any] = {"group": group}
            if key == "refused_paid":
                values["fee"] = detail
            elif key == "refused_task":
                values["shares"] = detail
            elif key == "refused_tier":
                values["requirement"] = detail
            elif key == "refused_screening":
                values["reason"] = detail
            actions.append(ctx.act(DirectMessage, "why", target=e.actor, text=say(ctx, NAME, key, **values)))
        return Decision(tuple(actions), stop=True)

    @staticmethod
    def _group_name(ctx: Context) -> str:
        return (ctx.group_config.name if ctx.group_config else "") or ctx.config.name

    # -- forms -----------------------------------------------------------------------------------------------

    def _application(self, ctx: Context, s: AdmissionSettings, e: FormAnswer, member: MemberState) -> Decision:
        answers = {k.strip(): str(v).strip() for k, v in e.answers.items()}
        reasons = []
        for field, pattern in s.screening.items():
            answer = answers.get(field, "")
            if not answer:
                reasons.append(f"{field}: —")
            elif not re.search(pattern, answer, re.IGNORECASE):
                reasons.append(f"{field}: {answer}")
        ok = bool(answers) and not reasons
        value = {"at": iso(ctx.now), "ok": ok, "reason": "; ".join(reasons), "answers": answers}
        actions: list[Action] = [ctx.act(SetState, scope=NAME, name=f"app:{member.key}", value=value)]
        if not ok and ctx.config.spec.threshold.kind == "tag_screening":
            reason = "; ".join(reasons) or "—"
            group = self._group_name(ctx)
            text = say(ctx, NAME, "refused_screening", group=group, reason=reason)
            actions.append(ctx.act(DirectMessage, "why", target=e.actor, text=text))
        return Decision(tuple(actions))

    def _task(self, ctx: Context, s: AdmissionSettings, e: FormAnswer, member: MemberState) -> Decision:
        params = ctx.config.spec.threshold.params
        need = int(params.get("min_shares") or 1)
        proof = "; ".join(f"{k}={v}" for k, v in e.answers.items())
        group = self._group_name(ctx)
        if s.task_verify == "staff":
            value = {"at": iso(ctx.now), "ok": False, "proof": proof}
            name = display(member, e.actor)
            title = t("policies.admission.verify_task", ctx.locale, name=name, group=group)
            instructions = t("policies.admission.verify_how", ctx.locale, proof=proof, id=e.actor, form=VERIFY_FORM)
            return Decision(
                (
                    ctx.act(SetState, scope=NAME, name=f"task:{member.key}", value=value),
                    ctx.act(OpenStaffTask, "verify", target=e.actor, title=title, instructions=instructions),
                )
            )
        shares = str(e.answers.get("shares", "0")).strip()
        ok = shares.isdigit() and int(shares) >= need
        value = {"at": iso(ctx.now), "ok": ok, "proof": proof}
        key = "task_passed" if ok else "refused_task"
        text = say(ctx, NAME, key, group=group, shares=need)
        return Decision(
            (
                ctx.act(SetState, scope=NAME, name=f"task:{member.key}", value=value),
                ctx.act(DirectMessage, "task", target=e.actor, text=text),
            )
        )

    def _verify(self, ctx: Context, e: FormAnswer) -> Decision:
        who = str(e.answers.get("member", "")).strip()
        ok = str(e.answers.get("ok", "yes")).strip().lower() in _YES
        target = ctx.member_of(e.platform, who) or next(
            (m for m in ctx.community.members.values() if m.name == who), None
        )
        if target is None:
            return NOTHING
        old = ctx.scope.get(f"task:{target.key}") or {}
        value = {**old, "ok": ok, "verified_by": e.actor, "at": iso(ctx.now)}
        actions: list[Action] = [ctx.act(SetState, scope=NAME, name=f"task:{target.key}", value=value)]
        request = ctx.scope.get(f"request:{target.key}")
        if request:  # their request to join waited for this verdict
            pid = target.key.partition(":")[2]
            answer = ctx.act(
                AnswerJoinRequest,
                "answer",
                platform=str(request.get("platform", e.platform)),
                group=str(request.get("group", "")),
                target=pid,
                approve=ok,
                reason="" if ok else "refused_task",
            )
            actions += [answer, ctx.act(SetState, scope=NAME, name=f"request:{target.key}", value=None)]
        if ok:
            pid = target.key.partition(":")[2]
            text = say(ctx, NAME, "task_passed", group=self._group_name(ctx))
            actions.append(ctx.act(DirectMessage, "passed", target=pid, text=text))
        return Decision(tuple(actions))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, AdmissionSettings)
        problems = check_texts(NAME, settings)
        params = spec.threshold.params
        for key in ("fee", "min_level", "min_shares"):
            v = params.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                problems.append(
                    ("threshold", f"threshold.params.{key} must be a whole number ≥ 0 (fees in fen: 9900 = ¥99)")
                )
        groups = {g.id for g in spec.groups}
        for gid in settings.tiers:
            if groups and gid not in groups:
                problems.append((f"tiers.{gid}", f"no group {gid!r} in this community; groups are {sorted(groups)}"))
        return problems
