"""Rendering operator-written templates safely: ``{placeholder}`` only, unknown ones reported at apply time."""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

_FORMATTER = string.Formatter()


def check_template(template: str, allowed: Iterable[str]) -> str:
    """The problem with ``template`` ("" when fine): bad braces or a placeholder not in ``allowed``."""
    allowed = set(allowed)
    try:
        fields = [f for _, f, _, _ in _FORMATTER.parse(template) if f is not None]
    except ValueError as exc:
        return f"bad braces in template: {exc}"
    for f in fields:
        if f not in allowed:
            return f"unknown placeholder {{{f}}}; use {', '.join('{' + a + '}' for a in sorted(allowed))}"
    return ""


def render(template: str, **values: Any) -> str:
    """Fill ``template`` (already checked) with ``values``."""
    return template.format(**values)
