"""Schedule (节奏与活动): when shequn speaks in each community's groups, and what it says then.

Owns: the rhythm (早报/晚报, the daily topic and the content loop, check-in, preheat, games, the level bulletin's time,
the sales day, the ad window, the operator's cron jobs) planned per community in its time zone with quiet hours and
the daily cap; activities (guest talks with their run-of-show, offline events); the digest of a group's day; the
registry of content builders keyed by job kind; the scheduler service that turns what is due into outbox actions
with deterministic idempotency keys.
May import: ``domain``, ``i18n``, ``playbook``, ``store``. Never ``engine`` internals, ``connectors``, ``outbox``,
``app`` or ``cli`` (the service receives its host, the application, from outside).
"""

from shequn.schedule.activities import Activity, ActivityKind
from shequn.schedule.content import BUILDERS, JobContext, register
from shequn.schedule.digest import Digest, compute_digest
from shequn.schedule.plan import GroupTarget, Occurrence, plan
from shequn.schedule.questions import is_question

__all__ = [
    "BUILDERS",
    "Activity",
    "ActivityKind",
    "Digest",
    "GroupTarget",
    "JobContext",
    "Occurrence",
    "compute_digest",
    "is_question",
    "plan",
    "register",
]
