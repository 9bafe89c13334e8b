"""Moderation (群规执行): ad detection, the offence ladder, paid ads, flooding and the classifier learned from labels.

May import: ``domain``, ``playbook``, ``i18n`` (a policy package: pure, no I/O).
"""

from shequn.policies.moderation.detect import WEIGHTS, Detector, Evidence, Verdict
from shequn.policies.moderation.policy import BLACKLIST, Moderation, ModerationSettings, judge, label_for

__all__ = [
    "BLACKLIST",
    "WEIGHTS",
    "Detector",
    "Evidence",
    "Moderation",
    "ModerationSettings",
    "Verdict",
    "judge",
    "label_for",
]
