"""RFC 5545 recurrence rules: validation and the next occurrence of a series.

All arithmetic runs on naive UTC datetimes (tasks are stored in UTC), so UNTIL's `Z` is ignored
rather than compared against a time zone.
"""

from __future__ import annotations

import re
from datetime import MAXYEAR, UTC, datetime, timedelta

from dateutil.rrule import rrule, rrulestr

ALLOWED_FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_PREFIX = re.compile(r"^\s*RRULE:", re.IGNORECASE)
_FREQ = re.compile(r"(?:^|;)FREQ=([A-Z]+)(?:;|$)", re.IGNORECASE)
MAX_INTERVAL = 1000
_PERIOD_YEARS = {
    "YEARLY": 1.0,
    "MONTHLY": 1 / 12,
    "WEEKLY": 1 / 52,
    "DAILY": 1 / 365,
    "HOURLY": 1 / 8760,
}


class InvalidRule(ValueError):
    """The text is not a usable RFC 5545 RRULE."""


def normalize_rule(text: str) -> str:
    """Strip an optional `RRULE:` prefix and check the rule parses; raise InvalidRule if not."""
    rule = _PREFIX.sub("", text).strip()
    if not rule or any(char in rule for char in "\r\n"):
        raise InvalidRule("Must be a single RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE.")
    match = _FREQ.search(rule)
    if match is None:
        raise InvalidRule("The rule needs a FREQ part, e.g. FREQ=DAILY.")
    if match.group(1).upper() not in ALLOWED_FREQUENCIES:
        raise InvalidRule(f"FREQ must be one of {', '.join(ALLOWED_FREQUENCIES)}.")
    frequency = match.group(1).upper()
    probe = _parse(rule, datetime(2000, 1, 1))
    if not 1 <= probe._interval <= MAX_INTERVAL:
        # INTERVAL=0 would make dateutil loop forever when the next occurrence is computed.
        raise InvalidRule(f"INTERVAL must be between 1 and {MAX_INTERVAL}.")
    if not _has_occurrences(rule, frequency, probe._interval):
        raise InvalidRule("The rule never produces an occurrence.")
    return rule


def _has_occurrences(rule: str, frequency: str, interval: int) -> bool:
    """Whether the rule ever matches, found in bounded time.

    dateutil searches an unsatisfiable rule (`BYMONTH=2;BYMONTHDAY=30`) period by period up to
    year 9999, which takes seconds. The Gregorian calendar repeats, so a rule that matches at all
    matches within about 30 years (times its interval) of any start: probe a window that ends at
    year 9999, where dateutil's search stops by itself.
    """
    span = 30 + int(3 * interval * _PERIOD_YEARS[frequency]) + 1
    start = datetime(MAXYEAR - span, 1, 1)
    probe = _parse(rule, start).replace(count=None, until=None)
    return probe.after(start, inc=True) is not None


def _parse(rule: str, start: datetime) -> rrule:
    try:
        parsed = rrulestr(rule, dtstart=start, ignoretz=True)
    except Exception as error:  # dateutil raises ValueError, KeyError, TypeError … on bad input
        raise InvalidRule(f"Not a valid RFC 5545 RRULE ({error}).") from None
    if not isinstance(parsed, rrule):
        raise InvalidRule("Must be a single RFC 5545 RRULE.")
    return parsed


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def next_occurrence(rule: str, series_start: datetime, after: datetime) -> datetime | None:
    """The series' first occurrence strictly after `after`, or None when it is exhausted.

    As in RFC 5545 the start (DTSTART) is always the first occurrence, even when it does not
    match the rule, and COUNT and UNTIL are measured from it.
    """
    start = _naive_utc(series_start)
    moment = _naive_utc(after)
    parsed = _parse(rule, start)
    if moment < start:
        return series_start.astimezone(UTC)
    start_matches = parsed.after(start - timedelta(microseconds=1), inc=False) == start
    if not start_matches:
        count = parsed._count  # COUNT must include the unmatched start
        if count is not None:
            if count <= 1:
                return None
            parsed = parsed.replace(count=count - 1)
    following = parsed.after(moment, inc=False)
    if following is None:
        return None
    return following.replace(tzinfo=UTC)
