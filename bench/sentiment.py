"""``shequn bench sentiment``: precision, recall and F1 of the complaint detector against the keyword baseline.

The labelled messages are in ``tests/data/sentiment`` (``{lang}.{split}.jsonl``; how they were made and labelled is
in that folder's README and in each file's header). The detector's lexicon and threshold were chosen on the ``tune``
split only; the ``test`` split is held out and only measured here. Both detectors run on the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shequn.policies.sentiment import is_complaint, keyword_baseline

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "sentiment"
LANGS = ("zh-CN", "en")
SPLITS = ("tune", "test")


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled message."""

    text: str
    label: bool
    line: int


@dataclass(frozen=True, slots=True)
class Score:
    """The confusion counts of one detector on one data file."""

    detector: str
    lang: str
    split: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def messages(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector, "lang": self.lang, "split": self.split, "messages": self.messages,
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": round(self.precision, 3), "recall": round(self.recall, 3), "f1": round(self.f1, 3),
        }  # fmt: skip


def load(lang: str, split: str, data: Path = DATA) -> list[Sample]:
    """The labelled messages of one file; a malformed line is an error naming the file and line."""
    path = data / f"{lang}.{split}.jsonl"
    out: list[Sample] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            row = json.loads(line)
            text, label = row["text"], row["label"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a JSON object with text and label ({exc})") from exc
        if not isinstance(text, str) or label not in (0, 1):
            raise ValueError(f"{path}:{n}: text must be a string and label 0 or 1")
        out.append(Sample(text, bool(label), n))
    return out


def score(name: str, detect: Callable[[str], bool], samples: Iterable[Sample], lang: str, split: str) -> Score:
    """Run ``detect`` over ``samples`` and count agreements with the labels."""
    tp = fp = fn = tn = 0
    for s in samples:
        hit = detect(s.text)
        tp += hit and s.label
        fp += hit and not s.label
        fn += not hit and s.label
        tn += not hit and not s.label
    return Score(name, lang, split, tp, fp, fn, tn)


DETECTORS: dict[str, Callable[[str], bool]] = {"keywords": keyword_baseline, "detector": is_complaint}


def run(split: str = "test", langs: Iterable[str] = LANGS, data: Path = DATA) -> list[Score]:
    """Both detectors on each language's ``split`` file."""
    rows: list[Score] = []
    for lang in langs:
        samples = load(lang, split, data)
        rows += [score(name, fn, samples, lang, split) for name, fn in DETECTORS.items()]
    return rows


def errors(lang: str, split: str, data: Path = DATA) -> list[tuple[str, Sample]]:
    """The detector's mistakes on one file ("fp"/"fn", sample): what an operator reads to improve the lexicon."""
    return [("fp" if not s.label else "fn", s) for s in load(lang, split, data) if is_complaint(s.text) != s.label]


def report(rows: list[Score], console: Any) -> None:
    """A table of the figures, one line per detector and language."""
    from rich.table import Table

    table = Table(title="shequn bench sentiment · 抱怨检测 (precision / recall / F1)")
    for col in ("lang", "split", "detector", "messages", "precision", "recall", "F1"):
        table.add_column(col)
    for r in rows:
        figures = (f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}")
        table.add_row(r.lang, r.split, r.detector, str(r.messages), *figures)
    console.print(table)
