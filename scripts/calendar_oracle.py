#!/usr/bin/env python3
"""Oracle for crates/taizhang/tests/it/calendar_oracle.rs, from the PyPI package `chinesecalendar`.

    pip install chinesecalendar==1.11.0

Prints, one per line:
    YYYY-MM-DD W|R                          every day 2004-01-01..2026-12-31 (chinese_calendar.is_workday)
    working START N DUE|out_of_range        the N-th working day after START
    calendar START N DUE final|provisional  START + N days, rolled forward to a working day; provisional
                                            (and not rolled) when the roll needs a year the package lacks
Exit status 3 when chinese_calendar is not installed.

Semantics of chinese_calendar.find_workday(delta, date), read from its source: for delta >= 0 it first moves
to the first workday on or after `date`, then delta workdays further. So the N-th workday strictly after
START is find_workday(N - 1, START + 1 day); the script asserts this agrees with find_workday(N, START)
when START is itself a workday (for N <= 20).
"""
import datetime as dt
import random
import sys

try:
    import chinese_calendar
except ImportError:
    print("python module chinese_calendar is missing", file=sys.stderr)
    sys.exit(3)

FIRST, LAST = dt.date(2004, 1, 1), dt.date(2026, 12, 31)
DAY = dt.timedelta(days=1)


def working_due(start, n):
    try:
        due = chinese_calendar.find_workday(n - 1, start + DAY)
        if n <= 20 and chinese_calendar.is_workday(start):  # spot-check (the package is slow for long spans)
            assert due == chinese_calendar.find_workday(n, start), (start, n)
        return due.isoformat()
    except NotImplementedError:  # the package raises for years it does not cover
        return "out_of_range"


def calendar_due(start, n):
    target = day = start + dt.timedelta(days=n)
    try:
        while not chinese_calendar.is_workday(day):
            day += DAY
        return f"{day} final"
    except NotImplementedError:
        return f"{target} provisional"


def main():
    out = [f"# chinesecalendar {chinese_calendar.__version__}"]
    day = FIRST
    while day <= LAST:
        out.append(f"{day} {'W' if chinese_calendar.is_workday(day) else 'R'}")
        day += DAY

    rng = random.Random(20260101)
    span = (LAST - FIRST).days
    pairs = [(FIRST + dt.timedelta(days=rng.randint(0, span)), rng.choice([10, 60, 250])) for _ in range(1950)]
    pairs += [(LAST - dt.timedelta(days=rng.randint(0, 45)), 60) for _ in range(50)]  # near the table's end
    pairs = [(start, rng.randint(1, top)) for start, top in pairs]
    out += [f"working {start} {n} {working_due(start, n)}" for start, n in pairs]
    out += [f"calendar {start} {n} {calendar_due(start, n)}" for start, n in pairs]
    print("\n".join(out))


if __name__ == "__main__":
    main()
