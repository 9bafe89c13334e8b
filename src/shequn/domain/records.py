"""The stable JSON form shared by events and actions.

Every record is a frozen, slotted dataclass with a ``kind`` class attribute. :func:`to_dict` writes ``kind`` first and
then every field in declaration order (so the form is stable and diffable); datetimes become ISO 8601 in UTC with a
``Z``, enums their value, tuples lists. :func:`from_dict` reverses it, and keeps keys it does not know in ``extra``
(as python-telegram-bot keeps ``api_kwargs``), so a newer producer never breaks an older reader.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, TypeVar

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; microseconds only when present (so the text is stable for a given instant)."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.isoformat()[:-6] + "Z"  # drop "+00:00"


def parse_iso(text: str) -> datetime:
    """Parse :func:`iso` output (or any ISO 8601 with an offset); naive input is taken as UTC."""
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _codec(tp: Any) -> tuple[_Encoder | None, _Decoder | None]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        enc, dec = _codec(args[0]) if len(args) == 1 else (None, None)
        if enc is None and dec is None:
            return None, None
        return (
            (lambda v: None if v is None else enc(v)) if enc else None,
            (lambda v: None if v is None else dec(v)) if dec else None,
        )
    if tp is datetime:
        return iso, parse_iso
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return None, tp  # already a str: written as is
    if isinstance(tp, type) and issubclass(tp, Enum):
        return (lambda v: v.value), tp
    if origin is tuple:
        return list, tuple
    if origin in (dict, Mapping) or tp is dict:
        return dict, dict
    return None, None


class RecordCodec:
    """Field-by-field encoder and decoder for one record class, built once per class."""

    def __init__(self, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        self.cls = cls
        self.fields: list[tuple[str, _Encoder | None, _Decoder | None]] = []
        self.defaults: dict[str, Any] = {}
        self.required: set[str] = set()
        for f in dataclasses.fields(cls):
            enc, dec = _codec(hints[f.name])
            self.fields.append((f.name, enc, dec))
            if f.default is not dataclasses.MISSING:
                self.defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                self.defaults[f.name] = f.default_factory()
            else:
                self.required.add(f.name)
        self.names = frozenset(name for name, _, _ in self.fields)
        self.encode = self._compile_encoder()

    def _compile_encoder(self) -> Callable[..., dict[str, Any]]:
        """A function specialised to this class (the log's hot path): one line per field, no loops or lookups."""
        scope: dict[str, Any] = {}
        lines = ["def encode(r, *, compact=False):", "    d = {'kind': r.kind}"]
        for name, enc, _ in self.fields:
            value = f"E_{name}(v)" if enc is not None else "v"
            if enc is not None:
                scope[f"E_{name}"] = enc
            lines.append(f"    v = r.{name}")
            if name in self.defaults:
                scope[f"D_{name}"] = self.defaults[name]
                condition = f"v != D_{name}" if name == "extra" else f"not compact or v != D_{name}"
                lines.append(f"    if {condition}:")
                lines.append(f"        d[{name!r}] = {value} if v is not None else None")
            else:
                lines.append(f"    d[{name!r}] = {value} if v is not None else None")
        lines.append("    return d")
        exec("\n".join(lines), scope)  # the source is built from field names only, never from data
        fn: Callable[..., dict[str, Any]] = scope["encode"]
        fn.__doc__ = "The JSON form; ``compact`` leaves out fields equal to their defaults (the store's form)."
        return fn

    def decode(self, data: Mapping[str, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key == "kind":
                continue
            if key in self.names:
                kwargs[key] = value
            else:
                extra[key] = value
        missing = self.required - kwargs.keys()
        if missing:
            raise ValueError(f"{self.cls.__name__}: missing field(s) {', '.join(sorted(missing))}")
        for name, _, dec in self.fields:
            if dec is not None and name in kwargs and kwargs[name] is not None:
                kwargs[name] = dec(kwargs[name])
        if extra:
            merged = dict(kwargs.get("extra") or {})
            merged.update(extra)
            kwargs["extra"] = merged
        return self.cls(**kwargs)


R = TypeVar("R")


class Registry:
    """Kind name → record class, with a codec per class."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.classes: dict[str, type] = {}
        self.codecs: dict[type, RecordCodec] = {}

    def register(self, cls: type[R]) -> type[R]:
        kind = cls.kind.value  # type: ignore[attr-defined]
        if kind in self.classes:
            raise ValueError(f"{self.what} kind {kind!r} registered twice")
        self.classes[kind] = cls
        return cls

    def codec(self, cls: type) -> RecordCodec:
        codec = self.codecs.get(cls)
        if codec is None:
            codec = self.codecs[cls] = RecordCodec(cls)
        return codec

    def decode(self, data: Mapping[str, Any]) -> Any:
        kind = data.get("kind")
        cls = self.classes.get(kind) if isinstance(kind, str) else None
        if cls is None:
            known = ", ".join(sorted(self.classes))
            raise ValueError(f"unknown {self.what} kind {kind!r} (known: {known})")
        return self.codec(cls).decode(data)
