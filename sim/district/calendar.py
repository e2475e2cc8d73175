"""The model's calendar: one step is a school month, ten months a school year.

Step 0 is the first school month (August) of the school year that starts in
``calendar.start_year`` (the year a preset's grant or planning began); the
ten school months run August to May, so step 27 of a district that started in
2014 is March 2017. June and July are summer: nothing is simulated then, and a
date in the summer maps to the first school month of the next year.
"""

from __future__ import annotations

#: School months per school year (one step = one school month).
MONTHS_PER_YEAR = 10

#: Calendar months of the school year, in order (step 0 is the first).
SCHOOL_MONTHS = ("August", "September", "October", "November", "December",
                 "January", "February", "March", "April", "May")

_MONTH_NUMBERS = (8, 9, 10, 11, 12, 1, 2, 3, 4, 5)


def monthly(annual: float) -> float:
    """Monthly probability equivalent to an annual probability."""
    return 1.0 - (1.0 - annual) ** (1.0 / MONTHS_PER_YEAR)


def when(step: int) -> str:
    """Plain-language time of a step: step 1 is year 1, month 1 (10 months per school year)."""
    if step <= 0:
        return "Before year 1"
    year, month = divmod(int(step) - 1, MONTHS_PER_YEAR)
    return f"Year {year + 1}, month {month + 1}"


def school_year(step: int, start_year: int) -> str:
    """School year of a step, e.g. ``"2016-17"`` (step 0 is August of ``start_year``)."""
    first = int(start_year) + int(step) // MONTHS_PER_YEAR
    return f"{first}-{(first + 1) % 100:02d}"


def month_name(step: int) -> str:
    """Calendar month of a step (``"August"`` for step 0, ``"March"`` for step 7)."""
    return SCHOOL_MONTHS[int(step) % MONTHS_PER_YEAR]


def calendar_label(step: int, start_year: int) -> str:
    """School year and month of a step, e.g. ``"2016-17, March"``, for the app and figures."""
    if step < 0:
        return f"before {school_year(0, start_year)}"
    return f"{school_year(step, start_year)}, {month_name(step)}"


def step_of(year: int, month: int, start_year: int) -> int:
    """Step of a calendar month (``year``, ``month`` 1-12) for a district whose step 0 is August ``start_year``.

    June and July (summer, not simulated) map to the next August. Raises
    ValueError for a month outside 1-12.
    """
    if not 1 <= int(month) <= 12:
        raise ValueError(f"month must be 1-12; got {month!r}")
    year, month = int(year), int(month)
    if month in (6, 7):
        year, month = year, 8
    first = year if month >= 8 else year - 1  # first calendar year of that school year
    return (first - int(start_year)) * MONTHS_PER_YEAR + _MONTH_NUMBERS.index(month)
