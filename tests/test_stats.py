"""Statistics: hand-computed figures at a fixed "now", time zones, DST, streaks, mood, weekly.

Tasks are inserted through the models with exact timestamps; the service is called with a fixed
`now` so every expected figure can be worked out by hand. The HTTP tests check the parameters
and that reopening or deleting a task takes its completion out of the figures.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import assert_problem

from taskapi.extensions import db
from taskapi.models import Task, User
from taskapi.services import stats

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # a Saturday
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def owner(client, auth_headers) -> uuid.UUID:
    return uuid.UUID(client.get("/v1/auth/me", headers=auth_headers).get_json()["id"])


def add(app, owner: uuid.UUID, *, completed_at: datetime | None = None, **fields: Any) -> None:
    fields.setdefault("created_at", NOW - 30 * DAY)
    with app.app_context():
        db.session.add(
            Task(
                user_id=owner,
                title=fields.pop("title", "Task"),
                completed=completed_at is not None,
                completed_at=completed_at,
                priority=fields.pop("priority", "medium"),
                tags=fields.pop("tags", []),
                updated_at=fields["created_at"],
                **fields,
            )
        )
        db.session.commit()


def summary(app, owner: uuid.UUID, tz: str = "UTC", now: datetime = NOW) -> dict[str, Any]:
    with app.app_context():
        result = stats.summary(db.session.get(User, owner), ZoneInfo(tz), now)
        db.session.rollback()
        return result


def weekly(app, owner: uuid.UUID, tz: str, weeks: int, now: datetime = NOW) -> dict[str, Any]:
    with app.app_context():
        result = stats.weekly(db.session.get(User, owner), ZoneInfo(tz), weeks, now)
        db.session.rollback()
        return result


def days_of(result: dict[str, Any], field: str) -> dict[date, int]:
    return {
        day["date"]: day[field] for week in result["weeks"] for day in week["days"] if day[field]
    }


def test_every_field_hand_computed(app, owner):
    add(app, owner, priority="high", due_date=NOW - DAY, tags=["Work"], created_at=NOW - 10 * DAY)
    add(app, owner, due_date=NOW + 2 * HOUR, tags=["work", "Home"], created_at=NOW - 2 * DAY)
    add(app, owner, priority="low", due_date=NOW + 3 * DAY, created_at=NOW - 7 * DAY + HOUR)
    add(app, owner, priority="low", due_date=NOW + 7 * DAY, created_at=NOW - 7 * DAY - HOUR)
    add(app, owner, due_date=NOW)  # due now: due today and in the next 7 days, not overdue
    add(app, owner, tags=["Urgent"])
    add(
        app,
        owner,
        priority="high",
        completed_at=NOW - HOUR,
        tags=["WORK", "urgent"],
        created_at=NOW - 3 * DAY,
    )
    add(app, owner, completed_at=NOW - DAY, due_date=NOW - 2 * DAY)  # completed: not overdue
    add(app, owner, priority="low", completed_at=NOW - 8 * DAY)

    result = summary(app, owner)
    assert result == {
        "total": 9,
        "open": 6,
        "completed": 3,
        "overdue": 1,
        "due_today": 2,
        "due_next_7_days": 3,
        "completion_rate": 0.3333,
        "by_priority": {
            "high": {"open": 1, "completed": 1},
            "medium": {"open": 3, "completed": 1},
            "low": {"open": 2, "completed": 1},
        },
        "top_tags": [
            {"tag": "work", "open": 2, "completed": 1},
            {"tag": "urgent", "open": 1, "completed": 1},
            {"tag": "home", "open": 1, "completed": 0},
        ],
        "streak": {"current": 2, "longest": 2},
        "created_last_7_days": 3,
        "completed_last_7_days": 2,
        "mood": "worried",
        "generated_at": NOW,
    }


def test_empty_account(app, owner):
    assert summary(app, owner) == {
        "total": 0,
        "open": 0,
        "completed": 0,
        "overdue": 0,
        "due_today": 0,
        "due_next_7_days": 0,
        "completion_rate": 0.0,
        "by_priority": {name: {"open": 0, "completed": 0} for name in ("high", "medium", "low")},
        "top_tags": [],
        "streak": {"current": 0, "longest": 0},
        "created_last_7_days": 0,
        "completed_last_7_days": 0,
        "mood": "sleepy",
        "generated_at": NOW,
    }
    result = weekly(app, owner, "UTC", 1)
    assert [day["created"] + day["completed"] for day in result["weeks"][0]["days"]] == [0] * 7


def test_completion_rate_rounds_half_up_to_four_places(app, owner):
    # 1/32 = 0.03125: half up gives 0.0313 (banker's rounding would give 0.0312).
    add(app, owner, completed_at=NOW - 40 * DAY)
    for _ in range(31):
        add(app, owner)
    assert summary(app, owner)["completion_rate"] == 0.0313
    assert stats.rate(2, 3) == 0.6667
    assert stats.rate(0, 0) == 0.0


def test_top_tags_at_most_ten_grouped_case_insensitively(app, owner):
    # tag00 … tag11: tag N on N+1 tasks; "Été" and "été" are one tag (Unicode lower case).
    for number in range(12):
        for copy in range(number + 1):
            add(app, owner, tags=[f"Tag{number:02d}" if copy % 2 else f"tag{number:02d}"])
    add(app, owner, tags=["Été"], completed_at=NOW - DAY)
    add(app, owner, tags=["été"])
    add(app, owner, tags=["b-tie"])  # ties with "tag00" and sorts before it
    tags = summary(app, owner)["top_tags"]
    assert [(tag["tag"], tag["open"] + tag["completed"]) for tag in tags] == [
        ("tag11", 12),
        ("tag10", 11),
        ("tag09", 10),
        ("tag08", 9),
        ("tag07", 8),
        ("tag06", 7),
        ("tag05", 6),
        ("tag04", 5),
        ("tag03", 4),
        ("tag02", 3),
    ]
    add(app, owner, tags=["ÉTÉ"], completed_at=NOW - DAY)
    for _ in range(20):
        add(app, owner, tags=["b-tie"])
    tags = summary(app, owner)["top_tags"]
    assert tags[0] == {"tag": "b-tie", "open": 21, "completed": 0}
    assert {"tag": "été", "open": 1, "completed": 2} not in tags  # 3 uses: below the top ten
    for _ in range(10):
        add(app, owner, tags=["Été"])
    assert summary(app, owner)["top_tags"][1] == {"tag": "été", "open": 11, "completed": 2}


@pytest.mark.parametrize(
    ("days_ago", "current", "longest"),
    [
        ([0, 1, 2], 3, 3),  # ends today
        ([1, 2, 3, 4], 4, 4),  # ends yesterday: still current
        ([2, 3, 4], 0, 3),  # ended the day before yesterday: broken
        ([0, 1, 3, 4, 5, 6, 7, 20], 2, 5),  # a gap: the longest run is older
        ([], 0, 0),
    ],
)
def test_streaks(app, owner, days_ago, current, longest):
    for number in days_ago:
        add(app, owner, completed_at=NOW - number * DAY)
        add(app, owner, completed_at=NOW - number * DAY - HOUR)  # two on a day count once
    add(app, owner)  # open tasks do not count
    assert summary(app, owner)["streak"] == {"current": current, "longest": longest}


def test_local_days_decide_streaks_and_due_today(app, owner):
    # New York is UTC-5 in November; NOW is 05:00 there on 2026-11-21.
    # 23:30 on the 20th in New York is already the 21st in UTC.
    add(app, owner, completed_at=datetime(2026, 11, 21, 4, 30, tzinfo=UTC))
    add(app, owner, completed_at=datetime(2026, 11, 19, 17, 0, tzinfo=UTC))
    # Due at 23:30 on the 21st in New York: the 22nd in UTC.
    add(app, owner, due_date=datetime(2026, 11, 22, 4, 30, tzinfo=UTC))

    new_york = summary(app, owner, "America/New_York")
    assert new_york["streak"] == {"current": 2, "longest": 2}  # 19th and 20th, ending yesterday
    assert new_york["due_today"] == 1
    utc = summary(app, owner, "UTC")
    assert utc["streak"] == {"current": 1, "longest": 1}  # 19th and 21st
    assert utc["due_today"] == 0

    # Kolkata is UTC+5:30: 18:45 UTC on the 19th is 00:15 on the 20th there.
    add(app, owner, completed_at=datetime(2026, 11, 19, 18, 45, tzinfo=UTC))
    assert summary(app, owner, "Asia/Kolkata")["streak"] == {"current": 3, "longest": 3}
    assert summary(app, owner, "UTC")["streak"] == {"current": 1, "longest": 1}
    assert summary(app, owner, "America/New_York")["streak"] == {"current": 2, "longest": 2}

    # East of UTC: 00:30 on the 21st in Paris is 23:30 on the 20th in UTC.
    add(app, owner, completed_at=datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    assert summary(app, owner, "Europe/Paris")["streak"] == {"current": 1, "longest": 1}
    assert summary(app, owner, "UTC")["streak"] == {"current": 3, "longest": 3}


def test_weekly_buckets_by_local_day_across_the_end_of_dst(app, owner):
    # Paris leaves summer time on Sunday 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET).
    now = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)  # Wednesday
    for moment in (
        datetime(2026, 10, 18, 21, 30, tzinfo=UTC),  # Sun 18th 23:30 CEST: before the range
        datetime(2026, 10, 18, 22, 30, tzinfo=UTC),  # Mon 19th 00:30 CEST: first day
        datetime(2026, 10, 24, 22, 30, tzinfo=UTC),  # Sun 25th 00:30 CEST
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Sun 25th 02:30 CEST (first 02:30)
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # Sun 25th 02:30 CET (second 02:30)
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),  # Sun 25th 23:30 CET
        datetime(2026, 10, 25, 23, 30, tzinfo=UTC),  # Mon 26th 00:30 CET
    ):
        add(app, owner, created_at=moment)
    add(
        app,
        owner,
        created_at=datetime(2026, 10, 20, 10, 0, tzinfo=UTC),
        completed_at=datetime(2026, 10, 26, 22, 59, tzinfo=UTC),  # Mon 26th 23:59 CET
    )
    add(
        app,
        owner,
        created_at=datetime(2026, 10, 20, 11, 0, tzinfo=UTC),
        completed_at=datetime(2026, 10, 28, 11, 0, tzinfo=UTC),
    )

    result = weekly(app, owner, "Europe/Paris", 2, now)
    assert result["tz"] == "Europe/Paris"
    assert [week["week_start"] for week in result["weeks"]] == [
        date(2026, 10, 19),
        date(2026, 10, 26),
    ]
    assert [(week["created"], week["completed"]) for week in result["weeks"]] == [(7, 0), (1, 2)]
    assert days_of(result, "created") == {
        date(2026, 10, 19): 1,
        date(2026, 10, 20): 2,
        date(2026, 10, 25): 4,
        date(2026, 10, 26): 1,
    }
    assert days_of(result, "completed") == {date(2026, 10, 26): 1, date(2026, 10, 28): 1}

    utc = weekly(app, owner, "UTC", 2, now)
    assert days_of(utc, "created") == {
        date(2026, 10, 20): 2,
        date(2026, 10, 24): 1,
        date(2026, 10, 25): 4,
    }


def test_streak_across_a_dst_change(app, owner):
    now = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)  # Tuesday 13:00 in Paris
    for moment in (
        datetime(2026, 10, 23, 21, 30, tzinfo=UTC),  # Fri 23rd 23:30 CEST
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),  # Sat 24th 23:30 CEST
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),  # Sun 25th 23:30 CET
        datetime(2026, 10, 26, 23, 30, tzinfo=UTC),  # Tue 27th 00:30 CET, the 26th in UTC
    ):
        add(app, owner, completed_at=moment)
    assert summary(app, owner, "Europe/Paris", now)["streak"] == {"current": 1, "longest": 3}
    assert summary(app, owner, "UTC", now)["streak"] == {"current": 4, "longest": 4}
    add(app, owner, completed_at=datetime(2026, 10, 26, 12, 0, tzinfo=UTC))  # Mon 26th
    assert summary(app, owner, "Europe/Paris", now)["streak"] == {"current": 5, "longest": 5}
    assert summary(app, owner, "UTC", now)["streak"] == {"current": 4, "longest": 4}


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ([], "sleepy"),
        ([("overdue", 5), ("done_today", 20)], "grumpy"),  # overdue >= 5, whatever the rate
        ([("overdue", 1), ("open", 3)], "grumpy"),  # overdue and completion rate 0 < 0.25
        ([("overdue", 1), ("open", 2), ("done_long_ago", 1)], "worried"),  # rate 0.25
        ([("overdue", 4), ("done_today", 2)], "worried"),
        ([("streak", 7)], "ecstatic"),
        ([("streak", 6)], "happy"),
        ([("done_long_ago", 1), ("open", 1)], "content"),
    ],
)
def test_mood_rules_in_order(app, owner, setup, expected):
    for kind, count in setup:
        for number in range(count):
            if kind == "overdue":
                add(app, owner, due_date=NOW - HOUR)
            elif kind == "open":
                add(app, owner, due_date=NOW + DAY)
            elif kind == "done_today":
                add(app, owner, completed_at=NOW - HOUR)
            elif kind == "done_long_ago":
                add(app, owner, completed_at=NOW - 30 * DAY)
            elif kind == "streak":
                add(app, owner, completed_at=NOW - number * DAY)
    assert summary(app, owner)["mood"] == expected


def test_reopening_or_deleting_takes_the_completion_out(client, auth_headers, create_task):
    task = create_task(title="Done", tags=["Chores"])
    other = create_task(title="Also done")
    client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers)
    client.post(f"/v1/tasks/{other['id']}/complete", headers=auth_headers)

    def figures() -> tuple[Any, ...]:
        body = client.get("/v1/stats", headers=auth_headers).get_json()
        week = client.get("/v1/stats/weekly", headers=auth_headers).get_json()["weeks"][0]
        return (
            body["completed"],
            body["completed_last_7_days"],
            body["streak"]["current"],
            body["top_tags"],
            week["completed"],
        )

    chores_done = [{"tag": "chores", "open": 0, "completed": 1}]
    assert figures() == (2, 2, 1, chores_done, 2)
    client.post(f"/v1/tasks/{task['id']}/reopen", headers=auth_headers)
    assert figures() == (1, 1, 1, [{"tag": "chores", "open": 1, "completed": 0}], 1)
    client.delete(f"/v1/tasks/{other['id']}", headers=auth_headers)
    assert figures() == (0, 0, 0, [{"tag": "chores", "open": 1, "completed": 0}], 0)


def test_weekly_weeks_parameter(client, auth_headers):
    default = client.get("/v1/stats/weekly", headers=auth_headers).get_json()
    assert default["tz"] == "UTC"
    assert len(default["weeks"]) == 1
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    assert default["weeks"][0]["week_start"] == monday.isoformat()

    year = client.get(
        "/v1/stats/weekly", headers=auth_headers, query_string={"weeks": 52, "tz": "Asia/Tokyo"}
    ).get_json()
    assert year["tz"] == "Asia/Tokyo"
    starts = [date.fromisoformat(week["week_start"]) for week in year["weeks"]]
    tokyo_today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    assert starts[-1] == tokyo_today - timedelta(days=tokyo_today.weekday())
    assert starts == [starts[0] + timedelta(weeks=number) for number in range(52)]
    for week in year["weeks"]:
        dates = [date.fromisoformat(day["date"]) for day in week["days"]]
        assert dates == [
            date.fromisoformat(week["week_start"]) + timedelta(days=n) for n in range(7)
        ]
        assert dates[0].weekday() == 0

    one = client.get("/v1/stats/weekly?weeks=1", headers=auth_headers).get_json()
    assert len(one["weeks"]) == 1
    for value in ("0", "53", "-1", "two", "1.5"):
        body = assert_problem(
            client.get(f"/v1/stats/weekly?weeks={value}", headers=auth_headers),
            422,
            "validation_error",
        )
        assert list(body["errors"]["query"]) == ["weeks"]


@pytest.mark.parametrize("url", ["/v1/stats", "/v1/stats/weekly"])
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "europe/paris", "../../etc/passwd"])
def test_unknown_time_zone_is_422(client, auth_headers, url, zone):
    body = assert_problem(
        client.get(url, headers=auth_headers, query_string={"tz": zone}), 422, "validation_error"
    )
    assert list(body["errors"]["query"]) == ["tz"]


def test_stats_need_a_token(client):
    assert_problem(client.get("/v1/stats"), 401, "unauthorized")
    assert_problem(client.get("/v1/stats/weekly"), 401, "unauthorized")


def test_stats_are_per_user(client, auth_headers, make_user, create_task):
    create_task(title="Alice's", tags=["mine"])
    bob = make_user("bob@example.com")
    body = client.get("/v1/stats", headers=bob).get_json()
    assert (body["total"], body["top_tags"], body["mood"]) == (0, [], "sleepy")


def test_offset_periods_find_each_change_to_the_second():
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    periods = stats.offset_periods(paris, start, datetime(2026, 12, 31, tzinfo=UTC))
    assert periods == [
        (start, 3600),
        (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), 7200),
        (datetime(2025, 10, 26, 1, 0, tzinfo=UTC), 3600),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600),
    ]
    assert stats.offset_periods(ZoneInfo("Asia/Kolkata"), start, start + 400 * DAY) == [
        (start, 19800)
    ]


def test_local_midnight_when_midnight_does_not_exist():
    # Santiago springs forward at midnight: 2026-09-06 starts at 01:00 local (04:00 UTC).
    santiago = ZoneInfo("America/Santiago")
    start = stats.local_midnight(date(2026, 9, 6), santiago)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert (start - timedelta(seconds=1)).astimezone(santiago).date() == date(2026, 9, 5)
