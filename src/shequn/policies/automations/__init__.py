"""Automations (自动化): a community's own trigger → condition → action rules and the book-derived templates.

Owns: the rule language (``rules``), the dates it reads (``calendar``: birthdays in self-introductions, holidays)
and the policy that carries the rules out (``policy``). Pure, like every policy.
"""

from shequn.policies.automations.policy import Automations, AutomationsSettings, program
from shequn.policies.automations.rules import Program, Rule, compile_automations

__all__ = ["Automations", "AutomationsSettings", "Program", "Rule", "compile_automations", "program"]
