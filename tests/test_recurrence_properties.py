"""`next_occurrence` against python-dateutil's own computation of the same series.

The oracle builds the series independently of the implementation: an `rrule` built from keyword
arguments (not from the rule text), joined with the start as an RDATE in an `rruleset` (RFC 5545:
DTSTART is always the first occurrence), with COUNT applied to the joined series.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from dateutil import rrule as du
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from taskapi.services.recurrence import (
    InvalidRule,
    check_series,
    next_occurrence,
    normalize_rule,
)

FREQUENCIES = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: How far along a series the chain comparison walks.
STEPS = 8

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None)


@dataclass(frozen=True)
class Rule:
    freq: str
    interval: int
    byday: tuple[tuple[int | None, str], ...] = ()
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    count: int | None = None
    until: datetime | None = None

    def text(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            parts.append("BYDAY=" + ",".join(f"{n or ''}{day}" for n, day in self.byday))
        if self.bymonthday:
            parts.append("BYMONTHDAY=" + ",".join(map(str, self.bymonthday)))
        if self.bymonth:
            parts.append("BYMONTH=" + ",".join(map(str, self.bymonth)))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%dT%H%M%S}Z")
        return ";".join(parts)


def oracle_series(rule: Rule, start: datetime) -> list[datetime]:
    """The first STEPS + 1 occurrences (fewer when the series ends), as aware UTC datetimes."""
    naive_start = start.replace(tzinfo=None)
    weekdays = [getattr(du, day)(n) if n is not None else getattr(du, day) for n, day in rule.byday]
    recurrence = du.rrule(
        FREQUENCIES[rule.freq],
        dtstart=naive_start,
        interval=rule.interval,
        byweekday=weekdays or None,
        bymonthday=rule.bymonthday or None,
        bymonth=rule.bymonth or None,
        until=rule.until.replace(tzinfo=None) if rule.until else None,
    )
    series = du.rruleset()
    series.rrule(recurrence)
    series.rdate(naive_start)
    limit = STEPS + 1 if rule.count is None else min(rule.count, STEPS + 1)
    return [moment.replace(tzinfo=UTC) for moment in itertools.islice(series, limit)]


def implementation_series(rule_text: str, start: datetime) -> list[datetime]:
    """The series as completing each occurrence in turn walks it."""
    occurrences = [start]
    while len(occurrences) < STEPS + 1:
        following = next_occurrence(rule_text, start, occurrences[-1])
        if following is None:
            break
        assert following > occurrences[-1]
        occurrences.append(following)
    return occurrences


def accepted(rule_text: str, start: datetime) -> bool:
    """Whether the API accepts the rule for a series starting at `start` (else it is a 422)."""
    try:
        check_series(normalize_rule(rule_text), start)
    except InvalidRule:
        return False
    return True


# Starts between 2020 and 2035 at whole seconds (RFC 5545 has no fractions), in UTC.
starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(microsecond=0, tzinfo=UTC))

# Around the European and American daylight-saving changes (last Sunday of March and October,
# second Sunday of March, first Sunday of November): local clocks jump, UTC does not.
dst_starts = st.builds(
    lambda year, month, day, hour, minute: datetime(year, month, day, hour, minute, tzinfo=UTC),
    st.integers(2024, 2030),
    st.sampled_from([3, 10, 11]),
    st.integers(1, 31).filter(lambda day: day <= 30),
    st.integers(0, 23),
    st.sampled_from([0, 30]),
)

month_days = st.integers(1, 31) | st.integers(-31, -1)


@st.composite
def rules(draw: st.DrawFn, start: datetime) -> Rule:
    freq = draw(st.sampled_from(list(FREQUENCIES)))
    interval = draw(st.sampled_from([1, 1, 1, 2, 3, 5]))
    byday: tuple[tuple[int | None, str], ...] = ()
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    shape = draw(st.sampled_from(["plain", "byday", "bymonthday", "both"]))
    if freq == "WEEKLY" and shape != "plain":
        shape = "byday"  # RFC 5545: no BYMONTHDAY in a WEEKLY rule
    if shape in ("byday", "both"):
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        ordinal = freq in ("MONTHLY", "YEARLY") and draw(st.booleans())
        byday = tuple((draw(st.sampled_from([1, 2, -1])) if ordinal else None, day) for day in days)
    if shape in ("bymonthday", "both"):
        bymonthday = tuple(
            draw(st.lists(month_days | st.just(31), min_size=1, max_size=3, unique=True))
        )
    if freq == "YEARLY" and draw(st.booleans()):
        bymonth = tuple(draw(st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True)))
    count = until = None
    end = draw(st.sampled_from(["none", "count", "until"]))
    if end == "count":
        count = draw(st.integers(1, 6))
    elif end == "until":
        until = start + timedelta(days=draw(st.integers(-3, 1500)), seconds=draw(st.integers(0, 1)))
    return Rule(freq, interval, byday, bymonthday, bymonth, count, until)


def check_against_oracle(rule: Rule, start: datetime) -> None:
    text = rule.text()
    assume(accepted(text, start))
    expected = oracle_series(rule, start)
    assert implementation_series(text, start) == expected, text
    # From any moment, not only from an occurrence: the first one strictly after it.
    for moment in (start, start + timedelta(seconds=1), *expected[1:3]):
        later = [occurrence for occurrence in expected if occurrence > moment]
        if later or len(expected) < STEPS + 1:
            assert next_occurrence(text, start, moment) == (later[0] if later else None), (
                text,
                moment,
            )


@PROPERTY_SETTINGS
@given(data=st.data(), start=starts)
def test_next_occurrence_matches_dateutil(data: st.DataObject, start: datetime) -> None:
    check_against_oracle(data.draw(rules(start)), start)


@PROPERTY_SETTINGS
@given(data=st.data(), start=dst_starts)
def test_series_across_daylight_saving_changes(data: st.DataObject, start: datetime) -> None:
    rule = data.draw(rules(start))
    check_against_oracle(rule, start)
    # Tasks live in UTC: without BYHOUR every occurrence keeps the start's UTC time of day.
    for occurrence in implementation_series(rule.text(), start):
        assert occurrence.tzinfo is not None
        assert occurrence.utcoffset() == timedelta(0)
        assert occurrence.time() == start.time()


@PROPERTY_SETTINGS
@given(
    start=starts,
    freq=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    count=st.integers(1, 6),
    byday=st.sampled_from(WEEKDAYS),
)
def test_count_includes_a_start_that_does_not_match(
    start: datetime, freq: str, count: int, byday: str
) -> None:
    rule = Rule(freq, 1, byday=((None, byday),), count=count)
    assume(accepted(rule.text(), start))
    series = implementation_series(rule.text(), start)
    assert len(series) == count
    assert series[0] == start
    assert series == oracle_series(rule, start)


@PROPERTY_SETTINGS
@given(start=starts, interval=st.integers(1, 4))
def test_bymonthday_31_skips_short_months(start: datetime, interval: int) -> None:
    rule = Rule("MONTHLY", interval, bymonthday=(31,))
    series = implementation_series(rule.text(), start)
    assert series == oracle_series(rule, start)
    assert all(occurrence.day == 31 for occurrence in series[1:])
    months = [occurrence.year * 12 + occurrence.month - 1 for occurrence in series[1:]]
    assert all(month % interval == months[0] % interval for month in months)


@PROPERTY_SETTINGS
@given(start=starts, count=st.integers(1, 5), freq=st.sampled_from(list(FREQUENCIES)))
def test_exhausted_series_has_no_next(start: datetime, count: int, freq: str) -> None:
    rule = Rule(freq, 1, count=count)
    series = implementation_series(rule.text(), start)
    assert len(series) == count
    assert next_occurrence(rule.text(), start, series[-1]) is None
    assert next_occurrence(rule.text(), start, series[-1] + timedelta(days=3650)) is None


RULE_PARTS = [
    *(f"FREQ={freq}" for freq in ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "SECONDLY")),
    *(f"INTERVAL={n}" for n in (0, 1, 3, 7, 999, 1000)),
    *(f"COUNT={n}" for n in (0, 1, 1_000_000)),
    *(f"UNTIL={value}" for value in ("00010101", "20261231T235959Z", "99991231", "20260230")),
    "BYSECOND=0,30",
    "BYSECOND=60",
    "BYMINUTE=59",
    "BYHOUR=0,12",
    "BYHOUR=23",
    *(f"BYDAY={value}" for value in ("MO", "SA,SU", "-1SU", "5FR", "6MO", "53MO", "-53FR")),
    *(f"BYMONTHDAY={n}" for n in (0, 1, 29, 30, 31, -1, -31)),
    *(f"BYYEARDAY={n}" for n in (1, 60, 366, -366)),
    *(f"BYWEEKNO={n}" for n in (1, 53, -53)),
    *(f"BYMONTH={n}" for n in (2, 12)),
    *(f"BYSETPOS={n}" for n in (1, 2, -1, 366)),
    "WKST=SU",
]
any_starts = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


@PROPERTY_SETTINGS
@given(
    parts=st.lists(st.sampled_from(RULE_PARTS), min_size=1, max_size=5, unique=True),
    start=starts | any_starts,
)
def test_any_rule_is_accepted_or_refused_never_crashes(parts: list[str], start: datetime) -> None:
    """Whatever the combination, validation answers InvalidRule (a 422) or a usable series."""
    try:
        rule = normalize_rule(";".join(parts))
        check_series(rule, start)
    except InvalidRule:
        return
    following = next_occurrence(rule, start, start)
    assert following is None or following > start
    if following is not None:
        after = next_occurrence(rule, start, following)
        assert after is None or after > following


# Examples that pin the behaviour a reader would check by hand.


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "start", "expected"),
    [
        # Paris moves to summer time on 2026-03-29 and back on 2026-10-25: still 08:00 UTC.
        ("FREQ=DAILY", utc(2026, 3, 28, 8), [utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]),
        ("FREQ=WEEKLY", utc(2026, 10, 20, 23, 30), [utc(2026, 10, 27, 23, 30)]),
        # Month ends: the 31st only in months that have one; -1 is each month's last day.
        (
            "FREQ=MONTHLY;BYMONTHDAY=31",
            utc(2026, 1, 31, 9),
            [utc(2026, 3, 31, 9), utc(2026, 5, 31, 9), utc(2026, 7, 31, 9)],
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            utc(2028, 1, 31, 9),
            [utc(2028, 2, 29, 9), utc(2028, 3, 31, 9), utc(2028, 4, 30, 9)],
        ),
        # A Wednesday start of a Monday rule counts as the first of COUNT=3.
        (
            "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
            utc(2026, 11, 18, 7),
            [utc(2026, 11, 23, 7), utc(2026, 11, 30, 7)],
        ),
        ("FREQ=DAILY;COUNT=1", utc(2026, 1, 1), []),
        ("FREQ=DAILY;UNTIL=20260103T000000Z", utc(2026, 1, 1), [utc(2026, 1, 2), utc(2026, 1, 3)]),
    ],
)
def test_examples(rule: str, start: datetime, expected: list[datetime]) -> None:
    following = implementation_series(normalize_rule(rule), start)[1:]
    if "COUNT" in rule or "UNTIL" in rule:
        assert following == expected
    else:
        assert following[: len(expected)] == expected


def test_start_with_fractions_of_a_second_keeps_its_count() -> None:
    start = datetime(2026, 1, 1, 1, 0, 0, 500_000, tzinfo=UTC)
    second = next_occurrence("FREQ=DAILY;COUNT=2", start, start)
    assert second == utc(2026, 1, 2, 1)
    assert second is not None
    assert next_occurrence("FREQ=DAILY;COUNT=2", start, second) is None
