"""The model's calendar: one step is a school month, ten months a school year."""

from __future__ import annotations

#: School months per school year (one step = one school month).
MONTHS_PER_YEAR = 10

def monthly(annual: float) -> float:
    """Monthly probability equivalent to an annual probability."""
    return 1.0 - (1.0 - annual) ** (1.0 / MONTHS_PER_YEAR)


def when(step: int) -> str:
    """Plain-language time of a step: step 1 is year 1, month 1 (10 months per school year)."""
    if step <= 0:
        return "Before year 1"
    year, month = divmod(int(step) - 1, MONTHS_PER_YEAR)
    return f"Year {year + 1}, month {month + 1}"
