"""Citations as a person reads them (出处): a seed file and line (``002_f229b143e7e75e03.txt:1735``) becomes the
document's title and, in the book, its chapter ("社群电商一书 · 第4章 …"); the file and line stay with it for a hover
or the JSON (:func:`cite`). The names come from ``data/seeds.yaml``."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from shequn.playbook.models import parse_source


@cache
def _documents() -> dict[str, dict[str, Any]]:
    text = resources.files("shequn.playbook").joinpath("data", "seeds.yaml").read_text(encoding="utf-8")
    return {d["file"]: d for d in yaml.safe_load(text)["documents"]}


def cite(source: str, locale: str) -> str:
    """The title (and chapter) of the seed a ``FILE:LINE[-LINE]`` citation points into; the citation itself when
    it names no known document."""
    try:
        file, first, _last = parse_source(source)
    except ValueError:
        return source
    doc = _documents().get(file)
    if doc is None:
        return source
    loc = "en" if locale.startswith("en") else "zh-CN"
    title: str = doc["title"][loc]
    chapter = next((c for c in doc.get("chapters", ()) if c["first"] <= first <= c["last"]), None)
    return f"{title} · {chapter['title'][loc]}" if chapter else title
