"""Statistics of a user's tasks, computed by the database in the caller's time zone.

Every count is an SQL aggregate, except the top tags: triggers on `tasks` keep each user's tag
counts (`tag_counts`) in the transaction of every change. The only other rows that reach Python
are per local day (bounded by days, never by tasks): the streaks and the weekly series are
assembled from them.

A local day is the calendar date of an instant in the caller's zone. PostgreSQL casts the
timestamp to a date with the transaction's TimeZone set to that zone; SQLite has no time zones,
so the zone's UTC offsets over the range queried are worked out here and the database shifts
each timestamp by the offset in force at that instant. Both engines therefore put every instant
on the same local day.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    ScalarSelect,
    String,
    Uuid,
    bindparam,
    case,
    cast,
    func,
    literal,
    not_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from taskapi.extensions import PreparedStatement, db, execute_core, transactional_from_here
from taskapi.models import Account, TagCount, Task
from taskapi.models.types import PRIORITIES, UTCDateTime, utcnow

TOP_TAGS = 10
MAX_WEEKS = 52
WEEK = timedelta(days=7)


# --- local days -------------------------------------------------------------------------------


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) whose local date in `zone` is `day` (midnight may not exist)."""
    candidates = [
        datetime.combine(day, time(), tzinfo=zone).replace(fold=fold).astimezone(UTC)
        for fold in (0, 1)
    ]
    valid = [moment for moment in candidates if moment.astimezone(zone).date() == day]
    return min(valid or candidates)


def offset_periods(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets (in seconds) in force over [start, end], as (from, offset) pairs.

    The first pair starts at `start`. Offsets are sampled every 12 hours and each change is
    located to the second by bisection (zones change offset at most a few times a year).
    """

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    periods = [(start, offset(start))]
    step = timedelta(hours=12)
    previous = start
    while previous < end:
        probe = min(previous + step, end)
        if offset(probe) != periods[-1][1]:
            # Offsets change on whole seconds: bisect over epoch seconds.
            low = math.floor(previous.timestamp())  # still the old offset
            high = math.ceil(probe.timestamp())  # already the new offset
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == periods[-1][1]:
                    low = middle
                else:
                    high = middle
            change = datetime.fromtimestamp(high, UTC)
            periods.append((change, offset(change)))
            probe = change  # look for a further change after this one
        previous = probe
    return periods


@dataclass(frozen=True)
class LocalDays:
    """Builds the SQL expression of a timestamp column's local date, for one engine and zone."""

    zone: ZoneInfo
    dialect: str

    def date_of(
        self, column: InstrumentedAttribute[Any], start: datetime | None, end: datetime | None
    ) -> ColumnElement[Any]:
        """Local date of `column`, valid for values in [start, end] (PostgreSQL: any)."""
        if self.dialect == "postgresql":
            # The transaction's TimeZone is the zone (see `local_days`): a plain cast is
            # several times cheaper than AT TIME ZONE evaluated row by row.
            return cast(column, Date)
        if start is None or end is None:
            raise ValueError("SQLite needs the range of the values to find the zone's offsets")
        periods = offset_periods(self.zone, start, end)
        if len(periods) == 1:
            return func.date(column, _modifier(periods[0][1]))
        shift = case(
            *(
                (column < literal(moment, UTCDateTime), _modifier(periods[index - 1][1]))
                for index, (moment, _) in enumerate(periods)
                if index > 0
            ),
            else_=_modifier(periods[-1][1]),
        )
        return func.date(column, shift)


def _modifier(seconds: int) -> str:
    return f"{seconds:+d} seconds"


def _as_date(value: Any) -> date:
    """Dates come back as `date` from PostgreSQL and as ISO text from SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def daily_counts(
    owner: Account,
    days: LocalDays,
    column: InstrumentedAttribute[Any],
    start: datetime | None,
    end: datetime | None,
    *conditions: ColumnElement[bool],
) -> dict[date, int]:
    """Tasks per local day of `column`, for `column` in [start, end) (None: unbounded)."""
    local_date = days.date_of(column, start, end).label("day")
    if start is not None:
        conditions += (column >= start,)
    if end is not None:
        conditions += (column < end,)
    inner = select(local_date).where(Task.user_id == owner.id, *conditions).subquery()
    rows = execute_core(select(inner.c.day, func.count()).group_by(inner.c.day))
    return {_as_date(day): int(count) for day, count in rows}


def _completed() -> ColumnElement[bool]:
    """A completion: a task completed now (reopening clears `completed_at`).

    Written as the bare column so that PostgreSQL matches the partial index `WHERE completed`
    (it cannot prove that `completed IS true` implies it).
    """
    return Task.completed.expression


# --- streaks ----------------------------------------------------------------------------------


def completion_days(owner: Account, days: LocalDays) -> list[date]:
    """Every local day with at least one completion, oldest first (one row per day)."""
    if days.dialect == "postgresql":  # no offsets to work out: no need for the range
        rows = execute_core(_completion_days(), {"owner": owner.id})
        return sorted(_as_date(day) for (day,) in rows)
    bounds = execute_core(
        select(func.min(Task.completed_at), func.max(Task.completed_at)).where(
            Task.user_id == owner.id, _completed()
        )
    ).one()
    first: datetime | None = bounds[0]
    last: datetime | None = bounds[1]
    if first is None or last is None:
        return []
    end = last + timedelta(seconds=1)
    return sorted(daily_counts(owner, days, Task.completed_at, first, end, _completed()))


@functools.cache
def _completion_days() -> PreparedStatement:
    """PostgreSQL: the local days with a completion, in the transaction's time zone (no range
    needed, unlike `daily_counts` on SQLite). Built once, planned once per connection."""
    day = cast(Task.completed_at, Date).label("day")
    owned = Task.user_id == bindparam("owner", type_=Uuid)
    inner = select(day).where(owned, _completed(), Task.completed_at.is_not(None)).subquery()
    return PreparedStatement("stats_completion_days", select(inner.c.day).group_by(inner.c.day))


def streaks(completion_dates: Sequence[date], today: date) -> tuple[int, int]:
    """(current, longest) runs of consecutive days; the current run ends today or yesterday."""
    longest = run = 0
    previous: date | None = None
    for day in completion_dates:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    present = set(completion_dates)
    end = today if today in present else today - timedelta(days=1)
    current = 0
    while end - timedelta(days=current) in present:
        current += 1
    return current, longest


# --- the two resources ------------------------------------------------------------------------


def mood(
    total: int, overdue: int, completion_rate: float, streak: int, completed_last_7_days: int
) -> str:
    """The platform cat's mood: the first rule that holds."""
    if total == 0:
        return "sleepy"
    if overdue >= 5 or (overdue > 0 and completion_rate < 0.25):
        return "grumpy"
    if overdue > 0:
        return "worried"
    if streak >= 7:
        return "ecstatic"
    if completed_last_7_days > 0:
        return "happy"
    return "content"


def rate(part: int, whole: int) -> float:
    """part / whole rounded half up to 4 places; 0 when whole is 0."""
    if whole == 0:
        return 0.0
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


_TRANSACTION_SETTINGS = PreparedStatement(
    "stats_settings",
    select(
        func.set_config("TimeZone", bindparam("zone", type_=String), True),
        func.set_config("jit", "off", True),
    ),
)


def local_days(zone: ZoneInfo) -> LocalDays:
    """Prepare the transaction for counting in `zone` on the current engine."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        transactional_from_here()  # GETs otherwise run in autocommit: the settings must last
        # Dates of timestamps are taken in the transaction's time zone. And these short
        # aggregate queries are overestimated by the planner (set-returning functions):
        # compiling them just in time would cost more than it saves.
        execute_core(_TRANSACTION_SETTINGS, {"zone": zone.key})
    return LocalDays(zone, dialect)


@functools.cache
def _summary_counts() -> PreparedStatement:
    """The counts of `summary` as one statement, built once (its values are bound per call).

    Each count is a range of one index, read without visiting the tasks: the counts per status
    and priority from ix_tasks_user_id_completed_priority, the others from the indexes on due
    date, creation and completion. One statement: one round trip, and one plan per connection
    (planning its fifteen counts cost more than running them).
    """
    now = bindparam("now", type_=UTCDateTime)
    week_ago = bindparam("week_ago", type_=UTCDateTime)
    week_ahead = bindparam("week_ahead", type_=UTCDateTime)
    is_open = not_(Task.completed)
    done = _completed()

    def count(*conditions: ColumnElement[bool]) -> ScalarSelect[int]:
        owned = Task.user_id == bindparam("owner", type_=Uuid)
        return select(func.count()).where(owned, *conditions).scalar_subquery()

    columns: dict[str, ScalarSelect[int]] = {
        "overdue": count(is_open, Task.due_date < now),
        "due_today": count(
            is_open,
            Task.due_date >= bindparam("today_start", type_=UTCDateTime),
            Task.due_date < bindparam("tomorrow_start", type_=UTCDateTime),
        ),
        "due_next_7_days": count(is_open, Task.due_date >= now, Task.due_date < week_ahead),
        "created_last_7_days": count(Task.created_at > week_ago, Task.created_at <= now),
        "completed_last_7_days": count(
            done, Task.completed_at > week_ago, Task.completed_at <= now
        ),
    }
    for priority in PRIORITIES:
        columns[f"{priority}_open"] = count(is_open, Task.priority == priority)
        columns[f"{priority}_completed"] = count(done, Task.priority == priority)
    return PreparedStatement(
        "stats_summary", select(*(column.label(name) for name, column in columns.items()))
    )


def summary(owner: Account, zone: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """`GET /v1/stats`."""
    now = now or utcnow()
    days = local_days(zone)
    today = now.astimezone(zone).date()
    today_start = local_midnight(today, zone)
    tomorrow_start = local_midnight(today + timedelta(days=1), zone)
    week_ago = now - WEEK

    row = execute_core(
        _summary_counts(),
        {
            "owner": owner.id,
            "now": now,
            "today_start": today_start,
            "tomorrow_start": tomorrow_start,
            "week_ago": week_ago,
            "week_ahead": now + WEEK,
        },
    )
    figures = {name: int(value or 0) for name, value in row.one()._asdict().items()}
    for status in ("open", "completed"):
        figures[status] = sum(figures[f"{priority}_{status}"] for priority in PRIORITIES)
    figures["total"] = figures["open"] + figures["completed"]

    current, longest = streaks(completion_days(owner, days), today)
    completion_rate = rate(figures["completed"], figures["total"])
    return {
        "total": figures["total"],
        "open": figures["open"],
        "completed": figures["completed"],
        "overdue": figures["overdue"],
        "due_today": figures["due_today"],
        "due_next_7_days": figures["due_next_7_days"],
        "completion_rate": completion_rate,
        "by_priority": {
            priority: {
                "open": figures[f"{priority}_open"],
                "completed": figures[f"{priority}_completed"],
            }
            for priority in reversed(PRIORITIES)
        },
        "top_tags": top_tags(owner, days.dialect),
        "streak": {"current": current, "longest": longest},
        "created_last_7_days": figures["created_last_7_days"],
        "completed_last_7_days": figures["completed_last_7_days"],
        "mood": mood(
            figures["total"],
            figures["overdue"],
            completion_rate,
            current,
            figures["completed_last_7_days"],
        ),
        "generated_at": now,
    }


def top_tags(owner: Account, dialect: str, limit: int = TOP_TAGS) -> list[dict[str, Any]]:
    """The most used tags, lower-cased, by open + completed descending, then tag ascending.

    Read from `tag_counts`, which triggers on `tasks` keep (migration 0006): a few rows per
    user instead of every tag of every task.
    """
    return [
        {"tag": row.tag, "open": row.open, "completed": row.completed}
        for row in execute_core(_top_tags(dialect), {"owner": owner.id, "limit": limit})
    ]


@functools.cache
def _top_tags(dialect: str) -> PreparedStatement:
    # Tags sort by code point on both engines, whatever the database's collation.
    tag = TagCount.tag.collate("C") if dialect == "postgresql" else TagCount.tag
    return PreparedStatement(
        f"stats_top_tags_{dialect}",
        select(TagCount.tag, TagCount.open, TagCount.completed)
        .where(TagCount.user_id == bindparam("owner", type_=Uuid))
        .order_by((TagCount.open + TagCount.completed).desc(), tag.asc())
        .limit(bindparam("limit", type_=Integer)),
    )


def weekly(
    owner: Account, zone: ZoneInfo, weeks: int = 1, now: datetime | None = None
) -> dict[str, Any]:
    """`GET /v1/stats/weekly`: the last `weeks` ISO weeks (Monday first), oldest first."""
    now = now or utcnow()
    days = local_days(zone)
    today = now.astimezone(zone).date()
    first_monday = today - timedelta(days=today.weekday()) - WEEK * (weeks - 1)
    dates = [first_monday + timedelta(days=offset) for offset in range(7 * weeks)]
    start = local_midnight(dates[0], zone)
    end = local_midnight(dates[-1] + timedelta(days=1), zone)

    created = daily_counts(owner, days, Task.created_at, start, end)
    completed = daily_counts(owner, days, Task.completed_at, start, end, _completed())
    return {
        "tz": zone.key,
        "weeks": [
            _week(dates[index : index + 7], created, completed) for index in range(0, len(dates), 7)
        ],
    }


def _week(
    dates: Iterable[date], created: dict[date, int], completed: dict[date, int]
) -> dict[str, Any]:
    day_rows = [
        {"date": day, "created": created.get(day, 0), "completed": completed.get(day, 0)}
        for day in dates
    ]
    return {
        "week_start": day_rows[0]["date"],
        "created": sum(row["created"] for row in day_rows),
        "completed": sum(row["completed"] for row in day_rows),
        "days": day_rows,
    }
