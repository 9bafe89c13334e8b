"""The interview (建群问答): asking the planner's questions one by one, and asking again until the answers hold.

How it works:
    :func:`interview` asks every question of ``planner.yaml`` through the ``ask`` function it is given (the
    command line passes one that reads the terminal; tests pass a script) and says everything else through
    ``say``. Each answer is parsed on the spot (a choice by number or name, a number, a date …) and asked again
    when it cannot be. Then the whole is checked: a contradiction puts its question back (a 消费型 community with
    nothing to buy, a goal without a number …); missing essentials are named as a 用户维护群 with the offer to add
    them; the recommended type is shown with its reasons, and the operator may keep it or name another.

Things to keep in mind:
    * ``ask`` raising ``EOFError`` (end of input, Ctrl-D) ends the interview; the caller decides what that means.
    * Nothing here reads the clock: ``today`` is given, for the goal's date.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import ValidationError

from shequn.domain import UserError
from shequn.i18n import t
from shequn.planner.answers import GROUPS, Answers, fold, is_none_word, resolve_option, split_list
from shequn.planner.checks import check_answers, missing_essentials, questions
from shequn.planner.recommend import facts_from_answers, recommend
from shequn.playbook import load_playbook
from shequn.playbook.planner import Question

Ask = Callable[[str], str]
Say = Callable[[str], None]
YES = frozenset({"y", "yes", "是", "是的", "会", "要", "对", "好", "好的", "需要", "1", "true", "ok"})
NO = frozenset({"n", "no", "否", "不", "不会", "不要", "不用", "不需要", "没有", "0", "false"})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class BadAnswerError(ValueError):
    """An answer that cannot be read; its message says what is expected."""


def get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def put(data: dict[str, Any], path: str, value: Any) -> None:
    head, _, last = path.rpartition(".")
    node = data
    if head:
        if not isinstance(node.get(head), dict):
            node[head] = {}
        node = node[head]
    node[last] = value


def applies(q: Question, data: dict[str, Any]) -> bool:
    """Whether ``q`` is asked, given the answers so far (``ask_if``)."""
    for path, wanted in q.ask_if.items():
        value = get(data, path)
        if wanted == "present" and not value:
            return False
        if isinstance(wanted, list) and value not in wanted:
            return False
    return True


def parse(q: Question, raw: str, locale: str) -> Any:
    """The value of an answer typed for ``q``; raises :class:`BadAnswerError`."""
    text = raw.strip()
    if not text:
        if q.default is not None:
            return q.default
        if q.kind in ("texts", "choices"):
            if q.required:
                raise BadAnswerError(t("planner.ask.required", locale))
            return []
        if not q.required:
            return None if q.kind in ("int", "number", "date") else ""
        raise BadAnswerError(t("planner.ask.required", locale))
    if q.none_ok and is_none_word(text):
        return None
    if q.kind == "text":
        return text
    if q.kind == "texts":
        return split_list(text)
    if q.kind in ("choice", "choices"):
        assert q.options is not None
        options = load_playbook().planner.options(q.options)
        keys = []
        for part in split_list(text) if q.kind == "choices" else [text]:
            key = options[int(part) - 1].key if part.isdigit() and 1 <= int(part) <= len(options) else None
            key = key or resolve_option(q.options, part)
            if key is None:
                raise BadAnswerError(t("planner.ask.bad_choice", locale, value=part, n=len(options)))
            keys.append(key)
        return keys if q.kind == "choices" else keys[0]
    if q.kind in ("int", "number"):
        m = _NUMBER.search(text.replace(",", "").replace("，", ""))
        if not m or text.startswith("-"):
            raise BadAnswerError(t("planner.ask.bad_number", locale))
        value = float(m[0])
        if q.kind == "int":
            if value != int(value):
                raise BadAnswerError(t("planner.ask.bad_int", locale))
            return int(value)
        return value
    if q.kind == "date":
        m = _DATE.match(text)
        try:
            if not m:
                raise ValueError(text)
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise BadAnswerError(t("planner.ask.bad_date", locale)) from None
    folded = fold(text)
    if folded in YES:
        return True
    if folded in NO:
        return False
    raise BadAnswerError(t("planner.ask.bad_bool", locale))


def prompt_for(q: Question, locale: str, number: int | None = None) -> tuple[list[str], str]:
    """The lines to say before asking ``q`` (hint, options), and the prompt itself."""
    lines = []
    if q.hint:
        lines.append(f"   {q.hint.get(locale)}")
    if q.options:
        for i, o in enumerate(load_playbook().planner.options(q.options), 1):
            lines.append(f"   {i}) {o.name.get(locale)} — {o.description.get(locale)}")
    head = f"{number}. " if number is not None else ""
    default = ""
    if q.default is not None:
        shown = q.default
        if isinstance(q.default, bool):
            shown = t("planner.yes" if q.default else "planner.no", locale)
        elif q.options:
            shown = load_playbook().planner.option(q.options, str(q.default)).name.get(locale)
        default = " " + t("planner.ask.default", locale, value=shown)
    return lines, f"{head}{q.prompt.get(locale)}{default} > "


class _Interview:
    def __init__(self, ask: Ask, say: Say, locale: str, today: date, start: dict[str, Any] | None) -> None:
        self.ask, self.say, self.locale, self.today = ask, say, locale, today
        self.data: dict[str, Any] = dict(start or {})
        self.data.setdefault("locale", locale)
        self.questions = load_playbook().planner.questions

    def ask_one(self, q: Question, number: int | None = None) -> None:
        if not applies(q, self.data):
            return
        lines, prompt = prompt_for(q, self.locale, number)
        for line in lines:
            self.say(line)
        while True:
            try:
                value = parse(q, self.ask(prompt), self.locale)
            except BadAnswerError as exc:
                self.say(f"   ✗ {exc}")
                continue
            break
        if q.key == "goal.text" and value is None:
            self.data["goal"] = None
            return
        if q.key.startswith("persona.") and not isinstance(self.data.get("persona"), dict):
            self.data["persona"] = {}
        put(self.data, q.key, value)

    def ask_about(self, field: str) -> int:
        """Ask again every question behind ``field`` (a group such as ``persona`` asks all of its questions)."""
        if field in GROUPS and field not in ("persona", "goal"):
            field = next(q.key for q in self.questions if q.key.startswith(field + "."))
        asked = 0
        for q in self.questions:
            if q.key == field or q.key.startswith(field + "."):
                self.ask_one(q)
                asked += 1
        return asked

    def validated(self) -> Answers:
        while True:
            try:
                return Answers.model_validate(self.data)
            except ValidationError as exc:
                for err in exc.errors():
                    path = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
                    message = f"{path}: {err['msg'].removeprefix('Value error, ')}"
                    self.say(f"✗ {message}")
                    if not self.ask_about(path):  # a field no question asks (from ``start``): nothing to ask again
                        raise UserError(message, exit_code=2) from None

    def run(self) -> Answers:
        pb = load_playbook()
        p = pb.planner
        self.say(t("planner.ask.intro", self.locale))
        for three in p.three_questions:
            self.say(f"   · {three.text.get(self.locale)}")
        self.say(
            t("planner.ask.also", self.locale, also=" / ".join(x.text.get(self.locale) for x in p.alternatives[:3]))
        )
        for n, q in enumerate(self.questions, 1):
            self.ask_one(q, n)
        declined_essentials = type_confirmed = False
        while True:
            answers = self.validated()
            rec = recommend(facts_from_answers(answers))
            open_questions = questions(check_answers(answers, rec, today=self.today))
            if open_questions:
                for f in open_questions:
                    self.say(f"⚠ {f.text(self.locale)} ({f.source})")
                    self.ask_about(f.field)
                continue
            missing = missing_essentials(answers)
            if missing and not declined_essentials:
                self.say(f"⚠ {p.maintenance_group.text.get(self.locale)} ({p.maintenance_group.source})")
                for e in missing:
                    self.say(f"   · {e.name.get(self.locale)}：{e.missing.get(self.locale)} ({e.source})")
                if self.yes(t("planner.ask.add_essentials", self.locale)):
                    for e in missing:
                        fields = {"shared_attributes": ["tags", "persona"], "shared_goal": ["goal"]}.get(
                            e.key, ["accept_rules"]
                        )
                        for name in fields:
                            self.ask_about(name)
                    continue
                declined_essentials = True
            if not type_confirmed:
                type_confirmed = True
                if self.confirm_type(answers, rec.type, [r.text(self.locale) for r in rec.best.reasons]):
                    continue
            return answers

    def yes(self, prompt: str) -> bool:
        while True:
            raw = fold(self.ask(prompt + " > "))
            if not raw or raw in YES:
                return True
            if raw in NO:
                return False
            self.say(f"   ✗ {t('planner.ask.bad_bool', self.locale)}")

    def confirm_type(self, answers: Answers, recommended: str, reasons: list[str]) -> bool:
        """Show the recommendation; True when the operator picked another type (the checks must run again)."""
        pb = load_playbook()
        name = pb.types[recommended].name.get(self.locale)
        self.say(t("planner.ask.recommended", self.locale, type=name))
        for r in reasons:
            self.say(f"   · {r}")
        while True:
            raw = self.ask(t("planner.ask.keep_type", self.locale, type=name) + " > ").strip()
            if not raw or fold(raw) in YES:  # keep it: the plan then says "recommended", not "your choice"
                return False
            chosen = pb.resolve_type(raw)
            if chosen is None:
                self.say(
                    f"   ✗ {t('planner.err.unknown_type', self.locale, value=raw, types='; '.join(pb.type_names()))}"
                )
                continue
            self.data["type"] = chosen.key
            return chosen.key != (answers.type or recommended)


def interview(
    ask: Ask, say: Say, *, locale: str = "zh-CN", today: date, start: dict[str, Any] | None = None
) -> Answers:
    """Ask the planner's questions until the answers make a plan; return them.

    Args:
        ask: shows a prompt and returns the line typed (raise ``EOFError`` to stop).
        say: shows one line.
        locale: the language of the questions (and the community's, unless ``start`` says otherwise).
        today: the date a goal's deadline is checked against.
        start: answers known already (e.g. from a file); every question is still asked.
    """
    return _Interview(ask, say, locale, today, start).run()
