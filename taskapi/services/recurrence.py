"""RFC 5545 recurrence rules: validation and the next occurrence of a series.

All arithmetic runs on naive UTC datetimes (tasks are stored in UTC), so UNTIL's `Z` is ignored
rather than compared against a time zone, and a series keeps its UTC time of day across the
daylight-saving changes of any local zone. RFC 5545 has no fractions of a second: a series start
with microseconds is taken at its whole second, as dateutil does.
"""

from __future__ import annotations

import re
from datetime import MAXYEAR, UTC, datetime

from dateutil.rrule import rrule, rrulestr

ALLOWED_FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_INTERVAL = 1000
MAX_COUNT = 1_000_000
_PREFIX = re.compile(r"^\s*RRULE:", re.IGNORECASE)
# Only the characters an RRULE value can hold: no spaces, line breaks or `:` that would let
# dateutil read further properties (`DTSTART:…`, `EXDATE:…`) out of the text.
_RULE_TEXT = re.compile(r"[A-Z0-9=;,+-]+")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY_INITIALS = ("", "M", "T", "W", "F", "S")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^\d{8}(T\d{6}Z?)?$")
_INTEGER = re.compile(r"^[+-]?\d{1,4}$")
#: Integer list parts: (smallest, largest, whether negative values count from the end).
_INTEGER_LISTS = {
    "BYSECOND": (0, 59, False),  # RFC 5545 allows 60 for leap seconds; datetimes cannot hold one
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_PARTS = {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST", *_INTEGER_LISTS}
_PERIOD_YEARS = {
    "YEARLY": 1.0,
    "MONTHLY": 1 / 12,
    "WEEKLY": 1 / 52,
    "DAILY": 1 / 365,
    "HOURLY": 1 / 8760,
}
#: The Gregorian calendar repeats every 400 years, weekdays included (146097 days = 20871 weeks).
_CYCLE_YEARS = 400


_NEVER = "The rule never produces an occurrence."
_NEVER_FROM_START = "The rule never produces an occurrence after this due date."


class InvalidRule(ValueError):
    """The text is not a usable RFC 5545 RRULE."""


def normalize_rule(text: str) -> str:
    """The rule without its optional `RRULE:` prefix, upper-cased; InvalidRule if not a rule.

    This checks the rule alone. Whether it yields occurrences depends on the series start too:
    `check_series` answers that once the due date is known.
    """
    rule = _PREFIX.sub("", text).strip().upper()
    if not _RULE_TEXT.fullmatch(rule):
        raise InvalidRule("Must be a single RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE.")
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        if name not in _PARTS:
            raise InvalidRule(f"Unknown or malformed rule part {part!r}.")
        if name in parts:
            raise InvalidRule(f"{name} appears more than once.")
        if not value:
            raise InvalidRule(f"{name} needs a value.")
        parts[name] = value
        _check_part(name, value)
    _check_combination(parts)
    # dateutil has the last word; start at a listed hour so that an HOURLY rule with an INTERVAL
    # and BYHOUR (reachable or not, depending on the start) is judged on its syntax only.
    hour = int(parts["BYHOUR"].split(",")[0]) if "BYHOUR" in parts else 0
    if not _ever_recurs(_parse(rule, datetime(2000, 1, 1, hour))):
        raise InvalidRule(_NEVER)
    return rule


def _check_combination(parts: dict[str, str]) -> None:
    """The MUST NOTs of RFC 5545 section 3.3.10 about parts used together."""
    frequency = parts.get("FREQ")
    if frequency is None:
        raise InvalidRule("The rule needs a FREQ part, e.g. FREQ=DAILY.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidRule("COUNT and UNTIL cannot both be set.")
    ordinal = any(day[:1] not in _WEEKDAY_INITIALS for day in parts.get("BYDAY", "").split(","))
    if ordinal and (frequency not in ("MONTHLY", "YEARLY") or "BYWEEKNO" in parts):
        raise InvalidRule(
            "BYDAY with a number (e.g. 1MO) needs FREQ=MONTHLY or YEARLY, without BYWEEKNO."
        )
    in_month = frequency == "MONTHLY" or "BYMONTH" in parts  # ordinals count within the month
    if (
        ordinal
        and in_month
        and any(abs(int(day[:-2])) > 5 for day in parts["BYDAY"].split(",") if day[:-2])
    ):
        raise InvalidRule("A month has at most 5 of each weekday (BYDAY=-5MO … 5MO).")
    if "BYMONTHDAY" in parts and frequency == "WEEKLY":
        raise InvalidRule("BYMONTHDAY cannot be used with FREQ=WEEKLY.")
    if "BYYEARDAY" in parts and frequency in ("DAILY", "WEEKLY", "MONTHLY"):
        raise InvalidRule("BYYEARDAY can be used with FREQ=YEARLY or HOURLY only.")
    if "BYWEEKNO" in parts and frequency != "YEARLY":
        raise InvalidRule("BYWEEKNO can be used with FREQ=YEARLY only.")
    if "BYSETPOS" in parts and not any(
        name.startswith("BY") and name != "BYSETPOS" for name in parts
    ):
        raise InvalidRule("BYSETPOS needs another BY… part to select from.")


def _check_part(name: str, value: str) -> None:
    if name == "FREQ":
        if value not in ALLOWED_FREQUENCIES:
            raise InvalidRule(f"FREQ must be one of {', '.join(ALLOWED_FREQUENCIES)}.")
    elif name in ("INTERVAL", "COUNT"):
        limit = MAX_INTERVAL if name == "INTERVAL" else MAX_COUNT
        if not value.isdigit() or not 1 <= int(value) <= limit:
            raise InvalidRule(f"{name} must be an integer from 1 to {limit}.")
    elif name == "UNTIL":
        if not _UNTIL.match(value):
            raise InvalidRule("UNTIL must be a date (20261231) or a UTC time (20261231T235959Z).")
    elif name == "WKST":
        if value not in _WEEKDAYS:
            raise InvalidRule("WKST must be a weekday (MO … SU).")
    elif name == "BYDAY":
        for item in value.split(","):
            match = _BYDAY.match(item)
            if match is None or (match.group(1) and not 1 <= abs(int(match.group(1))) <= 53):
                raise InvalidRule(f"BYDAY has an invalid weekday {item!r}.")
    else:
        low, high, negative = _INTEGER_LISTS[name]
        for item in value.split(","):
            number = int(item) if _INTEGER.match(item) else None
            if number is None or not (
                low <= number <= high or (negative and low <= -number <= high)
            ):
                raise InvalidRule(f"{name} has an invalid value {item!r}.")


def check_series(rule: str, series_start: datetime) -> None:
    """Raise InvalidRule unless the rule, started at `series_start`, ever recurs.

    COUNT and UNTIL aside, does some occurrence follow the start? dateutil searches an
    unsatisfiable rule (`BYMONTH=2;BYMONTHDAY=30`) period by period up to year 9999, which takes
    seconds, so the question is asked in windows that end at year 9999, where dateutil stops by
    itself. First, cheaply, with INTERVAL=1, which visits every period whatever the start: no
    match within 45 years (Feb 29 falls on each weekday at least every 40) means none ever.
    Then exactly, for this start's alignment with INTERVAL: the same start moved by whole
    400-year cycles (the calendar repeats, weekdays included), over a few intervals more.
    """
    start = _naive_utc(series_start).replace(microsecond=0)
    try:
        parsed = _parse(rule, start)
    except InvalidRule:
        # The rule parsed at another start: only the alignment with this one is wrong (an HOURLY
        # INTERVAL that never reaches a BYHOUR from this hour).
        raise InvalidRule(_NEVER_FROM_START) from None
    if not _ever_recurs(parsed):
        raise InvalidRule(_NEVER)
    span = 30 + int(4 * parsed._interval * _PERIOD_YEARS[_frequency_name(parsed)]) + 1
    cycles = (MAXYEAR - span - start.year) // _CYCLE_YEARS
    aligned = start.replace(year=start.year + cycles * _CYCLE_YEARS)
    if not _recurs(parsed.replace(dtstart=aligned, count=None, until=None)):
        raise InvalidRule(_NEVER_FROM_START)


def _ever_recurs(parsed: rrule) -> bool:
    """Whether the rule matches at all, from any start (INTERVAL=1 visits every period)."""
    start: datetime = parsed._dtstart
    unaligned = datetime(MAXYEAR - 45, 1, 1, start.hour, start.minute, start.second)
    return _recurs(parsed.replace(dtstart=unaligned, interval=1, count=None, until=None))


def _recurs(probe: rrule) -> bool:
    return _after(probe, probe._dtstart, inc=False) is not None


def _after(parsed: rrule, moment: datetime, *, inc: bool) -> datetime | None:
    try:
        return parsed.after(moment, inc=inc)
    except Exception as error:  # dateutil fails on some valid-looking rules (BYDAY=53MO monthly)
        raise InvalidRule(f"The rule cannot be evaluated ({error}).") from None


def _frequency_name(parsed: rrule) -> str:
    return ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")[parsed._freq]


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
    moment, exact_start = _naive_utc(after), _naive_utc(series_start)
    if moment < exact_start:
        return exact_start.replace(tzinfo=UTC)
    start = exact_start.replace(microsecond=0)
    parsed = _parse(rule, start)
    start_matches = _after(parsed, start, inc=True) == start
    count = parsed._count
    if count is not None and not start_matches:
        # dateutil counts only matching occurrences; the unmatched start takes one of COUNT.
        if count <= 1:
            return None
        parsed = parsed.replace(count=count - 1)
    following = _after(parsed, moment, inc=False)
    if following is None:
        return None
    return following.replace(tzinfo=UTC)
