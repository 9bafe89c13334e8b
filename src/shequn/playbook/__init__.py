"""Playbook (方法论数据): the methodology of the seeds as data, every default citing its seed file and line.

Owns: the YAML files under ``data/``, their typed models, and the community spec that selects a type and overrides
defaults. May import: ``domain``, pydantic and PyYAML. No I/O beyond reading its own package data.
"""

from shequn.playbook.loader import Playbook, load_lexicon, load_playbook, verify_sources
from shequn.playbook.models import LOCALES, Cited, CitedText, CommunityType, Default, Kpi, PolicyBook, Source, Text

__all__ = [
    "LOCALES",
    "Cited",
    "CitedText",
    "CommunityType",
    "Default",
    "Kpi",
    "Playbook",
    "PolicyBook",
    "Source",
    "Text",
    "load_lexicon",
    "load_playbook",
    "verify_sources",
]
