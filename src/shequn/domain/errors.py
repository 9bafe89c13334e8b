"""Errors a person can act on.

A :class:`UserError` is printed as one line by the command line (no traceback) and exits with its ``exit_code``.
"""

from __future__ import annotations


class ShequnError(Exception):
    """Base class of every error shequn raises on purpose."""


class UserError(ShequnError):
    """Bad input or an unusable environment: say what and where, exit non-zero, change nothing.

    Attributes:
        exit_code: the process exit status the command line uses (2 for invalid input, 1 otherwise).
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
