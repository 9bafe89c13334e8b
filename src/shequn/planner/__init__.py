"""The planner (建群规划): from the operator's answers to a complete, working community plan.

Owns: the answers (:mod:`answers`), the type recommendation with its reasons (:mod:`recommend`), the checks that send
a question back and the 用户维护群 test (:mod:`checks`), the plan built from the playbook (:mod:`plan`), its Markdown
and HTML (:mod:`render`), the interview (:mod:`interview`) and the review of an existing spec (:mod:`review`).
Every choice of a plan cites the seed line it comes from; the methodology itself is data in
``playbook/data/planner.yaml`` and the rest of the playbook.

May import: ``domain``, ``i18n``, ``playbook``, ``policies`` (to validate the welcome policy's settings) and Jinja2.
No I/O beyond reading its own package data: the command line reads and writes the files.
"""

from shequn.planner.answers import Answers, read_answers
from shequn.planner.checks import Finding, OpenQuestionsError, check_answers, missing_essentials
from shequn.planner.interview import interview
from shequn.planner.plan import Plan, build_plan
from shequn.planner.recommend import Facts, Recommendation, recommend
from shequn.planner.render import to_html, to_markdown
from shequn.planner.review import Review, review_spec

__all__ = [
    "Answers",
    "Facts",
    "Finding",
    "OpenQuestionsError",
    "Plan",
    "Recommendation",
    "Review",
    "build_plan",
    "check_answers",
    "interview",
    "missing_essentials",
    "read_answers",
    "recommend",
    "review_spec",
    "to_html",
    "to_markdown",
]
