"""The Ubuntu IRC disentanglement data (tests/data/irc/dev): messages and their gold reply links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / "data" / "irc" / "dev"
_LINE = re.compile(r"^\[(\d\d):(\d\d)\] <([^>]+)> (.*)$")
_ACTION = re.compile(r"^\[(\d\d):(\d\d)\] \* (\S+) (.*)$")


@dataclass(frozen=True, slots=True)
class IrcMessage:
    index: int  # line number counted from 0, as the annotations count
    minute: int
    nick: str
    text: str


def load(stem: str) -> tuple[list[IrcMessage], dict[int, set[int]]]:
    """(the chat messages of one log, gold parents: message index → indexes it replies to (excluding itself)).

    The annotation lines are ``a b -`` with ``a <= b``: message ``b`` is linked to the earlier message ``a`` (``a == b``
    marks the start of a conversation)."""
    messages = []
    day = 0
    last = -1
    for i, line in enumerate((DEV / f"{stem}.raw.txt").read_text(encoding="utf-8", errors="replace").splitlines()):
        m = _LINE.match(line) or _ACTION.match(line)
        if not m:
            continue
        minute = int(m[1]) * 60 + int(m[2])
        if minute < last:
            day += 1
        last = minute
        messages.append(IrcMessage(i, day * 1440 + minute, m[3], m[4]))
    gold: dict[int, set[int]] = {}
    for line in (DEV / f"{stem}.annotation.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        a, b = sorted((int(parts[0]), int(parts[1])))
        if a != b:
            gold.setdefault(b, set()).add(a)
        else:
            gold.setdefault(b, set())
    return messages, gold


def stems() -> list[str]:
    return sorted(p.name.removesuffix(".annotation.txt") for p in DEV.glob("*.annotation.txt"))


def addressee(text: str, nicks: dict[str, str]) -> str | None:
    """The nick a message opens by addressing (``nick: …`` or ``nick, …``), if it is someone in the log."""
    m = re.match(r"^\s*([^\s:,]+)\s*[:,]", text)
    if not m:
        return None
    return nicks.get(m[1].lower())
