"""How a figure reads (数字格式): the one formatting of counts, shares, money, durations, flags and KPI values that
the console, the reports and the command line all use, so a figure reads the same on every surface.

Pure functions of a value and a locale. A missing value is "—" everywhere (never 0, never "None").
"""

from __future__ import annotations

from shequn.i18n import t

MISSING = "—"


def count(n: int | float | None) -> str:
    """A count as an integer with thousands separators: 3,631."""
    return MISSING if n is None else f"{round(n):,}"


def pct(share: float | None, *, digits: int = 0) -> str:
    """A share (0..1) as a percentage: 0.4184 → 42%."""
    return MISSING if share is None else f"{share:.{digits}%}"


def number(v: float | None) -> str:
    """A measured quantity that is not a count (an average, a rate per month): at most one decimal."""
    if v is None:
        return MISSING
    r = round(v, 1)
    return f"{int(r):,}" if r == int(r) else f"{r:,.1f}"


def money(amounts: dict[str, int] | int | None, currency: str = "CNY") -> str:
    """Amounts in minor units (fen, cents) by currency: {"CNY": 29900} → ¥299."""
    if amounts is None:
        return MISSING
    if isinstance(amounts, int):
        amounts = {currency: amounts}
    parts = []
    for cur, v in sorted(amounts.items()):
        whole, part = divmod(v, 100)
        amount = f"{whole:,}" if part == 0 else f"{whole:,}.{part:02d}"
        parts.append(f"¥{amount}" if cur == "CNY" else f"{amount} {cur}")
    return ", ".join(parts) or MISSING


def flag(v: bool | None, loc: str) -> str:
    """A yes/no figure in words."""
    return MISSING if v is None else t("fmt.yes" if v else "fmt.no", loc)


def days(n: int | float | None, loc: str) -> str:
    """A duration in days, with its unit: 14 天 / 14 days."""
    return MISSING if n is None else t("fmt.days", loc, n=number(n))


def duration(seconds: float | None, loc: str) -> str:
    """A duration with its unit, in the largest unit that keeps it readable: 45 秒, 3.5 分钟, 2 小时, 3 天."""
    if seconds is None:
        return MISSING
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return t(f"fmt.{unit}", loc, n=number(seconds / size))
    return t("fmt.seconds", loc, n=number(seconds))


def minutes(n: float | None, loc: str) -> str:
    """A duration measured in minutes (the inbox's times), read as :func:`duration` reads it: 90 → 1.5 小时."""
    return MISSING if n is None else duration(n * 60, loc)


def value(v: float | bool | None, unit: str, loc: str) -> str:
    """A KPI's value (or target) by its playbook unit: ratio → %, count → integer, per_week/per_month → a rate
    with its period, days → with the unit, boolean → yes/no, money → ¥."""
    if v is None:
        return MISSING
    if unit == "ratio":
        return pct(float(v))
    if unit == "boolean":
        return flag(bool(v), loc)
    if unit == "count":
        return count(float(v))
    if unit in ("per_week", "per_month"):
        return t(f"fmt.{unit}", loc, n=number(float(v)))
    if unit == "days":
        return days(float(v), loc)
    if unit == "money":
        return money(int(v))
    return number(float(v))


__all__ = ["MISSING", "count", "days", "duration", "flag", "minutes", "money", "number", "pct", "value"]
