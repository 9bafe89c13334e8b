"""Messages a person reads, in zh-CN and en (界面文字).

Owns: the message catalogue ``messages/*.yaml`` (one file per area; key → {zh-CN, en}) and :func:`t`, which
renders one in a locale.
May import: the standard library and PyYAML. Pure: no I/O beyond its own package data.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from typing import Any

import yaml

LOCALES = ("zh-CN", "en")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every message of every area file, checked once: each key has both languages and is defined once."""
    data: dict[str, dict[str, str]] = {}
    folder = resources.files("shequn.i18n").joinpath("messages")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        part: dict[str, dict[str, str]] = yaml.safe_load(item.read_text(encoding="utf-8")) or {}
        for key, entry in part.items():
            if key in data:
                raise RuntimeError(f"i18n/messages/{item.name}: {key} is also defined in another file")
            missing = [loc for loc in LOCALES if not entry.get(loc)]
            if missing:
                raise RuntimeError(f"i18n/messages/{item.name}: {key} lacks {', '.join(missing)}")
            data[key] = entry
    return data


def normalize_locale(locale: str | None) -> str:
    """``zh-CN`` or ``en`` for whatever a person or the environment says (zh_CN.UTF-8, en-US, zh …)."""
    loc = (locale or "").replace("_", "-").lower()
    return "en" if loc.startswith("en") else "zh-CN"


def system_locale() -> str:
    """The locale of this process (``SHEQUN_LANG``, then ``LC_ALL``/``LC_MESSAGES``/``LANG``); zh-CN by default."""
    for var in ("SHEQUN_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return normalize_locale(value)
    return "zh-CN"


def t(key: str, locale: str | None = None, /, **params: Any) -> str:
    """The message ``key`` in ``locale`` (the process locale when None), with ``{placeholders}`` filled."""
    entry = catalogue()[key]
    text = entry["en" if normalize_locale(locale or system_locale()) == "en" else "zh-CN"]
    return text.format(**params) if params else text
