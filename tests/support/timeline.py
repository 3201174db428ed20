"""The tests' calendar: a frozen start derived from the real date, and times relative to it.

The rule (README, Tests): no test writes a calendar date. In-process tests run on a
`FrozenClock(START)`; a time a test needs (a payload's `updated_at`, a `--since` argument, a
date a page prints) is written relative to START with `stamp()` or `START + timedelta(...)`.
Every process a test starts shares that notion of time: the CLI gets the test's clock
(`CliContext`), in-process emulators get `clock.now`, and processes on real sockets run on
the real clock, which START is never more than a day behind. So the suite passes on any date,
including with the whole run moved ahead by `faketime`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _last_noon(now: datetime) -> datetime:
    """The most recent 12:00 UTC at or before `now`.

    Noon keeps twelve hours between START and either midnight, so a test that moves the clock
    by hours never crosses a day boundary by the luck of when it runs, and START is never in
    the real clock's future (cookies, tokens and rows made at START look past, never ahead).
    """
    noon = now.astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return noon if noon <= now else noon - timedelta(days=1)


START = _last_noon(datetime.now(UTC))


def stamp(**delta: float) -> str:
    """`START + timedelta(**delta)` as Whop writes times in payloads (`…T12:00:00.000Z`)."""
    moment = START + timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
