"""The operator's answers (建群问答): their shape, reading them from YAML, and naming what is missing or wrong.

An answers file is what ``shequn plan --answers FILE`` reads and what the interview writes. Choices accept the
playbook's key, its Chinese or English name, or an alias (``卖货``, ``selling``); lists accept YAML lists or one
line separated by commas or 、. ``persona: none`` and ``goal: none`` are answers too: the community then lacks that
essential and the plan flags it as a 用户维护群 (book 648-672). A missing field is not an answer: it is named,
with the question to answer, and the command exits with status 2.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import date
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shequn.domain import UserError
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.planner import Question
from shequn.playbook.spec import line_of

Locale = Literal["zh-CN", "en"]
NONE_WORDS = frozenset({"none", "无", "没有", "暂无", "null", "n/a", "-", "—"})
GROUPS = ("persona", "goal", "team", "charging")  # answer fields made of several questions
_SPLIT = re.compile(r"[,，、;；\n]+")


def fold(text: str) -> str:
    """Case-, width- and space-insensitive form used to match what people type."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def is_none_word(value: Any) -> bool:
    return value is None or (isinstance(value, str) and fold(value) in NONE_WORDS)


def resolve_option(list_name: str, value: str) -> str | None:
    """The key of the option of ``list_name`` that ``value`` names (key, either name, or an alias), or None."""
    wanted = fold(value)
    for o in load_playbook().planner.options(list_name):
        if wanted in {fold(n) for n in (o.key, o.name.zh, o.name.en, *o.aliases)}:
            return o.key
    return None


def option_choices(list_name: str, locale: str | None = None) -> str:
    """``卖货 (selling), 人脉 (networking) …`` for messages."""
    return ", ".join(f"{o.name.get(locale or 'zh-CN')} ({o.key})" for o in load_playbook().planner.options(list_name))


def split_list(value: Any) -> Any:
    """A YAML list, or one line separated by commas/、, as a list of trimmed non-empty strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in _SPLIT.split(value) if p.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return value


def _option(list_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(t("planner.err.choose", None, choices=option_choices(list_name)))
    key = resolve_option(list_name, value)
    if key is None:
        raise ValueError(t("planner.err.unknown_choice", None, value=value, choices=option_choices(list_name)))
    return key


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GoalAnswer(_Model):
    """The shared goal (社群目标); a stated goal must be quantified (book 865): a number and a date."""

    text: str = Field(min_length=1)
    metric: str = ""
    target: float | None = None
    deadline: date | None = None


class PersonaAnswer(_Model):
    """Who the members are (用户画像, 001_39f3881ca0c9e9e6.txt line 27; book 1320, 1394)."""

    age: str = ""
    gender: str = ""
    region: str = ""
    occupation: str = ""
    interests: list[str] = Field(default_factory=list)

    _interests = field_validator("interests", mode="before")(split_list)

    def is_empty(self) -> bool:
        return not (self.age or self.gender or self.region or self.occupation or self.interests)

    def text(self) -> str:
        return " ".join([self.age, self.gender, self.region, self.occupation, *self.interests]).strip()


class TeamAnswer(_Model):
    """Who leads and runs it (book 806: one person plays several roles when hands are short)."""

    leader: str
    size: int = Field(default=1, ge=1, le=1000)
    members: list[str] = Field(default_factory=list)

    _leader = field_validator("leader", mode="before")(lambda v: _option("leaders", v))
    _members = field_validator("members", mode="before")(split_list)


class ChargingAnswer(_Model):
    """Whether and how the community charges (付费制入群, book 1721). ``amount`` is in yuan."""

    model: str
    amount: float | None = Field(default=None, ge=0, le=10_000_000)
    period: str | None = None

    _model = field_validator("model", mode="before")(lambda v: _option("charging", v))

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, v: Any) -> str | None:
        return None if v is None or v == "" else _option("periods", v)


class Answers(_Model):
    """Everything the planner asks (see ``questions`` in ``playbook/data/planner.yaml``)."""

    name: str = Field(min_length=1, max_length=100)
    locale: Locale | None = None  # the community's language (rules and posts); default: the operator's
    timezone: str = "Asia/Shanghai"
    platform: str = Field(default="wechat", pattern=r"^[a-z][a-z0-9_]*$")
    type: str | None = None  # the operator's own choice of type, if any
    what: str = Field(min_length=1)
    why: str = Field(min_length=1)
    together: str = Field(min_length=1)
    purpose: str
    tags: list[str] = Field(default_factory=list)
    persona: PersonaAnswer | None
    value: list[str]
    product: str = ""
    goal: GoalAnswer | None
    team: TeamAnswer
    resources: list[str] = Field(default_factory=list)
    acquisition: list[str] = Field(min_length=1)
    charging: ChargingAnswer
    expected_size: int = Field(gt=0, le=10_000_000)
    groups: int = Field(default=1, ge=1, le=100_000)
    offline: bool = False
    ads: str = "forbid"
    accept_rules: bool = True
    member_title: str = ""

    _purpose = field_validator("purpose", mode="before")(lambda v: _option("purposes", v))
    _ads = field_validator("ads", mode="before")(lambda v: _option("ads", v))
    _lists = field_validator("tags", "resources", "acquisition", mode="before")(split_list)

    @field_validator("value", mode="before")
    @classmethod
    def _values(cls, v: Any) -> list[str]:
        items = split_list(v)
        if not isinstance(items, list):
            raise ValueError(t("planner.err.choose", None, choices=option_choices("values")))
        return list(dict.fromkeys(_option("values", x) for x in items))

    @field_validator("persona", "goal", mode="before")
    @classmethod
    def _none_is_an_answer(cls, v: Any) -> Any:
        return None if is_none_word(v) else v

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> str | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        ctype = load_playbook().resolve_type(str(v))
        if ctype is None:
            raise ValueError(
                t("planner.err.unknown_type", None, value=v, types="; ".join(load_playbook().type_names()))
            )
        return ctype.key

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(t("cli.bad_timezone", None, tz=v)) from None
        return v

    @model_validator(mode="after")
    def _empty_persona_is_none(self) -> Answers:
        if self.persona is not None and self.persona.is_empty():
            self.__dict__["persona"] = None
        return self

    # -- views the rest of the planner reads ------------------------------------------------------------------

    @property
    def per_group(self) -> int:
        """Expected members per chat group (rounded up)."""
        return -(-self.expected_size // self.groups)

    def own_words(self) -> str:
        """The operator's free text that says what the community is about (for keyword signals)."""
        persona = self.persona.occupation + " " + " ".join(self.persona.interests) if self.persona else ""
        return " ".join([self.name, self.what, self.why, self.together, *self.tags, persona, self.product])

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=False)
        for key in ("persona", "goal"):
            if data[key] is None:
                data[key] = "none"
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


# -- reading a file ---------------------------------------------------------------------------------------------


def question_for(path: str) -> Question | None:
    """The interview question that asks for ``path`` (a field, or the first question of a group)."""
    questions = load_playbook().planner.questions
    return next((q for q in questions if q.key == path), None) or next(
        (q for q in questions if q.key.startswith(path + ".")), None
    )


def ask_again(path: str, locale: str | None = None) -> str:
    """The question to put back to the operator for ``path``, in the operator's language."""
    if path in GROUPS:
        return t(f"planner.group.{path}", locale)
    q = question_for(path)
    return q.prompt.get(locale or "zh-CN") if q else ""


def where(source: str, root: yaml.Node | None, path: str) -> str:
    loc = tuple(int(p) if p.isdecimal() else p for p in path.split("."))
    line = line_of(root, loc) if path else None
    return f"{source}:{line}" if line else source


def printable(text: str) -> str:
    """``text`` with control characters escaped, so that one problem stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _describe(exc: ValidationError, source: str, root: yaml.Node | None, locale: str | None) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = ".".join(str(p) for p in loc if not isinstance(p, int)) or "(top level)"
        if err["type"] == "missing":
            msg = t("planner.err.missing", locale, question=ask_again(path, locale))
        elif err["type"] == "extra_forbidden":
            msg = t("planner.err.unknown_field", locale)
        else:
            msg = err["msg"].removeprefix("Value error, ")
            question = ask_again(path, locale)
            if question and question not in msg:
                msg = f"{msg} — {question}"
        at = where(source, root, ".".join(str(p) for p in loc))
        lines.append(f"{at}: {printable(path)}: {printable(msg)}")
    return lines


def parse_answers(
    text: str, *, source: str = "<answers>", locale: str | None = None
) -> tuple[Answers, yaml.Node | None]:
    """Validate answers given as YAML text; raise :class:`UserError` (exit 2) naming file, line, field, question."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{source}:{mark.line + 1}" if mark else source
        raise UserError(
            f"{at}: {t('planner.err.yaml', locale)}: {getattr(exc, 'problem', None) or exc}", exit_code=2
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{source}: {t('planner.err.not_mapping', locale)}", exit_code=2)
    try:
        return Answers.model_validate(data), root
    except ValidationError as exc:
        raise UserError("\n".join(_describe(exc, source, root, locale)), exit_code=2) from None


def read_answers(text: str, *, source: str = "<answers>", locale: str | None = None) -> Answers:
    """:func:`parse_answers` without the YAML node."""
    return parse_answers(text, source=source, locale=locale)[0]
