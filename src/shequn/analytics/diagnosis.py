"""The diagnosis engine (诊断): the playbook's rules (``diagnoses.yaml``) applied to measured signals.

A rule names signals, comparisons, the community types it applies to, a cause of the seeds and a prescription with
its source. A rule that judges activity (``judges_activity: true``) is never applied to a type whose activity is not
judged (``activity_judged: false`` in ``types.yaml``: 消费型 and 赚钱型), so a consumption group is never told to
chat more. A signal that could not be measured (None) never satisfies a condition: no finding without evidence.

May import: ``analytics.model``, ``playbook``, ``i18n``, the standard library.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from shequn.analytics.model import CommunityHealth, Finding, GroupHealth
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.models import Condition, DiagnosisRule

_SEVERITY = {"high": 0, "medium": 1, "low": 2}
_PENALTY = {"high": 30, "medium": 15, "low": 5}
NOTES = ("dead", "ads", "question", "staff", "newcomer", "reply", "tier", "stage", "roles")


def group_signals(g: GroupHealth) -> dict[str, Any]:
    s: dict[str, Any] = {
        k: getattr(g, k)
        for k in (
            "messages", "speakers", "members", "speakers_ratio", "messages_per_member", "key_discussants",
            "top10_share", "gini", "staff_share", "silent_members", "joins", "net_growth", "activation_24h",
            "activation_72h", "questions", "unanswered", "ad_accounts", "ads_per_1k", "link_dumps", "stage", "dead",
            "guest_talks",
        )
    }  # fmt: skip
    s["unanswered_share"] = g.unanswered / g.questions if g.questions else None
    s["silent_share"] = g.silent_members / g.members if g.members else None
    for k in g.kpis:
        s[f"kpi.{k.key}"] = k.value
        s[f"kpi_met.{k.key}"] = k.met
    return s


def community_signals(c: CommunityHealth) -> dict[str, Any]:
    s: dict[str, Any] = {
        "messages": c.messages,
        "members": c.members,
        "dead_groups": c.dead_groups,
        "essentials_missing": sum(1 for v in c.essentials.values() if not v),
        "inbox_items": c.inbox.get("items"),
        "inbox_first_response_minutes": c.inbox.get("first_response_median"),
        "inbox_unanswered": c.inbox.get("unanswered"),
    }
    for k in c.kpis:
        s[f"kpi.{k.key}"] = k.value
        s[f"kpi_met.{k.key}"] = k.met
    return s


def _holds(cond: Condition, signals: dict[str, Any]) -> bool:
    v = signals.get(cond.signal)
    if v is None:
        return False
    x = cond.value
    if cond.op == "in":
        return v in x
    if cond.op == "==":
        return bool(v == x)
    if cond.op == "!=":
        return bool(v != x)
    if isinstance(v, bool) or isinstance(x, bool):
        return False
    if cond.op == "<":
        return bool(v < x)
    if cond.op == "<=":
        return bool(v <= x)
    if cond.op == ">":
        return bool(v > x)
    return bool(v >= x)


def applies(rule: DiagnosisRule, ctype: str) -> bool:
    """Whether ``rule`` may judge a community of type ``ctype`` at all."""
    pb = load_playbook()
    if rule.judges_activity and not pb.types[ctype].activity_judged:
        return False
    if rule.types and ctype not in rule.types:
        return False
    return ctype not in rule.except_types


def _evaluate(scope: str, ctype: str, signals: dict[str, Any], loc: str) -> list[Finding]:
    pb = load_playbook()
    out = []
    for rule in pb.diagnoses.rules:
        if rule.scope != scope or not applies(rule, ctype):
            continue
        if not all(_holds(c, signals) for c in rule.when):
            continue
        cause = pb.diagnoses.cause(rule.cause)
        out.append(
            Finding(
                key=rule.key,
                severity=rule.severity,
                title=rule.title.get(loc),
                cause=f"{cause.name.get(loc)}：{cause.text.get(loc)}" if loc != "en" else
                f"{cause.name.get(loc)}: {cause.text.get(loc)}",
                cause_key=cause.key,
                prescription=rule.prescription.text.get(loc),
                evidence={c.signal: signals.get(c.signal) for c in rule.when},
                sources=[
                    {"source": cause.source, "quote": cause.quote or "", "for": "cause"},
                    {"source": rule.prescription.source, "quote": rule.prescription.quote or "", "for": "prescription"},
                ],
            )
        )  # fmt: skip
    out.sort(key=lambda f: (_SEVERITY[f.severity], f.key))
    return out


def diagnose_group(g: GroupHealth, c: CommunityHealth, loc: str, peers: Sequence[GroupHealth] = ()) -> list[Finding]:
    """The findings of a group (none for an archived or dissolved one), each with the commands that carry out its
    prescription (``peers``: the community's groups, where a dead group could merge)."""
    if g.state != "active":
        return []
    found = _evaluate("group", c.type, group_signals(g), loc)
    for f in found:
        f.commands = commands_for(f.key, g, peers)
    return found


# What carries out each prescription: the lifecycle verbs (shequn.services.lifecycle) by rule key.
_SPLIT = frozenset({"oversize", "interest_too_big"})
_CLOSE = frozenset({"dead_group", "dead_group_consumption"})


def shell_word(value: str) -> str:
    """A shell word as typed: bare when safe (Chinese names too), quoted otherwise (spaces; ``!`` of Matrix ids)."""
    return value if re.fullmatch(r"[\w@%+=:,./-]+", value) else shlex.quote(value)


def commands_for(rule: str, g: GroupHealth, peers: Sequence[GroupHealth] = ()) -> list[str]:
    """The exact ``shequn group …`` commands for a finding of ``rule`` on ``g`` (none when no verb fits)."""
    c, key = shell_word(g.community), shell_word(g.key)
    if rule in _SPLIT:
        return [f"shequn group split {c} {key}"]
    if rule in _CLOSE:
        alive = [p for p in peers if p.key != g.key and p.state == "active" and not p.dead]
        out = []
        if alive:  # into the liveliest of the community's other groups
            into = max(alive, key=lambda p: (p.messages, p.members, p.key))
            out.append(f"shequn group merge {c} {key} --into {shell_word(into.key)}")
        return [*out, f"shequn group archive {c} {key}", f"shequn group dissolve {c} {key}"]
    return []


def diagnose_community(c: CommunityHealth, groups: list[GroupHealth], loc: str) -> list[Finding]:
    return _evaluate("community", c.type, community_signals(c), loc)


def health_score(g: GroupHealth, c: CommunityHealth) -> int:
    """0..100: 100 less a penalty per finding (high 30, medium 15, low 5); a dead group scores 0."""
    if g.dead:
        return 0
    return max(0, 100 - sum(_PENALTY[f.severity] for f in g.findings))


def signal_notes(loc: str) -> dict[str, str]:
    """What each detector looks at, in words, for the report's "how we judge" section."""
    th = load_playbook().diagnoses.values()
    return {k: t(f"report.note.{k}", loc, **{x: _fmt(v) for x, v in th.items()}) for k in NOTES}


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
