"""Conversation signals (对话信号) for the analytics: the pure detectors live in :mod:`shequn.policies.signals`, where
the policies may use them too (a question left unanswered opens an inbox item); this module re-exports them."""

from shequn.policies.signals import *  # noqa: F403
