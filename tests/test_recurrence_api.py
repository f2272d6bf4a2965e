"""Recurring tasks through the API (contract section 3, "Recurrence"), on both engines."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import assert_problem
from sqlalchemy import select

from taskapi.extensions import db
from taskapi.models import HistoryEntry, Task

COPIED_FIELDS = ("title", "description", "priority", "tags", "recurrence_rule", "is_recurring")


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def actions(app: Any, task_id: str) -> list[str]:
    """The task's history actions, oldest first."""
    with app.app_context():
        statement = (
            select(HistoryEntry.action)
            .where(HistoryEntry.task_id == uuid.UUID(task_id))
            .order_by(HistoryEntry.id)
        )
        return list(db.session.scalars(statement))


def history_size(app: Any) -> int:
    with app.app_context():
        return len(db.session.scalars(select(HistoryEntry.id)).all())


def tasks_by_due(app: Any) -> list[tuple[str, datetime | None, bool]]:
    """Every stored task as (id, due_date, completed), by due date."""
    with app.app_context():
        rows = db.session.execute(select(Task.id, Task.due_date, Task.completed)).all()
    return sorted(((str(i), due, done) for i, due, done in rows), key=lambda row: str(row[1]))


def complete(client: Any, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/tasks/{task_id}/complete", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_completing_a_recurring_task_creates_the_next_occurrence(
    app, client, auth_headers, create_task
):
    task = create_task(
        title="Water the plants",
        description="Balcony first",
        priority="high",
        tags=["Home", "garden"],
        due_date="2026-03-27T08:00:00Z",
        reminder_at="2026-03-27T07:30:00Z",
        recurrence_rule="RRULE:FREQ=DAILY;INTERVAL=2",
    )
    assert task["recurrence_rule"] == "FREQ=DAILY;INTERVAL=2"
    assert task["is_recurring"] is True

    body = complete(client, auth_headers, task["id"])

    assert body["task"]["id"] == task["id"]
    assert body["task"]["completed"] is True
    assert body["task"]["completed_at"] is not None
    following = body["next"]
    assert following["id"] != task["id"]
    for field in COPIED_FIELDS:
        assert following[field] == task[field], field
    assert following["completed"] is False
    assert following["completed_at"] is None
    # Two days later at the same UTC time, across Europe's change to summer time (March 29).
    assert when(following["due_date"]) == when("2026-03-29T08:00:00+00:00")
    assert when(following["reminder_at"]) == when("2026-03-29T07:30:00+00:00")

    fetched = client.get(f"/v1/tasks/{following['id']}", headers=auth_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == following
    assert actions(app, task["id"]) == ["created", "completed"]
    assert actions(app, following["id"]) == ["created"]


def test_completing_a_completed_task_changes_nothing(app, client, auth_headers, create_task):
    task = create_task(due_date="2026-05-01T09:00:00Z", recurrence_rule="FREQ=WEEKLY")
    first = complete(client, auth_headers, task["id"])
    assert first["next"] is not None
    stored, entries = tasks_by_due(app), history_size(app)

    again = complete(client, auth_headers, task["id"])

    assert again["next"] is None
    assert again["task"] == first["task"]
    assert tasks_by_due(app) == stored
    assert history_size(app) == entries


def test_reopen_returns_no_next_and_creates_nothing(app, client, auth_headers, create_task):
    task = create_task(due_date="2026-05-01T09:00:00Z", recurrence_rule="FREQ=DAILY")
    complete(client, auth_headers, task["id"])
    stored = tasks_by_due(app)

    response = client.post(f"/v1/tasks/{task['id']}/reopen", headers=auth_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["next"] is None
    assert body["task"]["completed"] is False
    assert body["task"]["completed_at"] is None
    assert len(tasks_by_due(app)) == len(stored)
    assert actions(app, task["id"]) == ["created", "completed", "reopened"]


def test_count_3_makes_three_tasks_even_from_a_start_off_the_rule(
    app, client, auth_headers, create_task
):
    # 2026-11-18 is a Wednesday: the start counts as the first of the three.
    task = create_task(
        due_date="2026-11-18T07:00:00Z", recurrence_rule="FREQ=WEEKLY;BYDAY=MO;COUNT=3"
    )
    second = complete(client, auth_headers, task["id"])["next"]
    assert when(second["due_date"]) == when("2026-11-23T07:00:00+00:00")
    third = complete(client, auth_headers, second["id"])["next"]
    assert when(third["due_date"]) == when("2026-11-30T07:00:00+00:00")

    assert complete(client, auth_headers, third["id"])["next"] is None

    stored = tasks_by_due(app)
    assert [due for _, due, _ in stored] == [
        when("2026-11-18T07:00:00+00:00"),
        when("2026-11-23T07:00:00+00:00"),
        when("2026-11-30T07:00:00+00:00"),
    ]
    assert all(done for _, _, done in stored)


def test_changing_the_due_date_starts_a_new_series(client, auth_headers, create_task):
    task = create_task(due_date="2026-06-01T10:00:00Z", recurrence_rule="FREQ=DAILY;COUNT=2")
    second = complete(client, auth_headers, task["id"])["next"]
    assert when(second["due_date"]) == when("2026-06-02T10:00:00+00:00")

    # In the old series the second occurrence is the last; moved, it starts a series of two.
    moved = client.patch(
        f"/v1/tasks/{second['id']}", json={"due_date": "2026-06-10T10:00:00Z"}, headers=auth_headers
    )
    assert moved.status_code == 200
    third = complete(client, auth_headers, second["id"])["next"]
    assert third is not None
    assert when(third["due_date"]) == when("2026-06-11T10:00:00+00:00")
    assert complete(client, auth_headers, third["id"])["next"] is None


def test_changing_the_rule_starts_a_new_series(client, auth_headers, create_task):
    task = create_task(due_date="2026-06-01T10:00:00Z", recurrence_rule="FREQ=WEEKLY;COUNT=2")
    second = complete(client, auth_headers, task["id"])["next"]
    assert when(second["due_date"]) == when("2026-06-08T10:00:00+00:00")

    changed = client.patch(
        f"/v1/tasks/{second['id']}",
        json={"recurrence_rule": "FREQ=DAILY;COUNT=3"},
        headers=auth_headers,
    )
    assert changed.status_code == 200
    dues = []
    current = second
    while current is not None:
        current = complete(client, auth_headers, current["id"])["next"]
        if current is not None:
            dues.append(when(current["due_date"]))
    # COUNT=3 from the new start (June 8): June 8, 9, 10.
    assert dues == [when("2026-06-09T10:00:00+00:00"), when("2026-06-10T10:00:00+00:00")]


def test_patch_completed_true_has_the_effects_of_complete(app, client, auth_headers, create_task):
    task = create_task(due_date="2026-07-01T09:00:00Z", recurrence_rule="FREQ=MONTHLY")

    response = client.patch(
        f"/v1/tasks/{task['id']}", json={"completed": True}, headers=auth_headers
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == task["id"]  # PATCH returns the task itself
    assert body["completed"] is True
    assert body["completed_at"] is not None
    stored = tasks_by_due(app)
    assert [due for _, due, _ in stored] == [
        when("2026-07-01T09:00:00+00:00"),
        when("2026-08-01T09:00:00+00:00"),
    ]
    assert actions(app, task["id"]) == ["created", "completed"]
    assert actions(app, stored[1][0]) == ["created"]

    reopened = client.patch(
        f"/v1/tasks/{task['id']}", json={"completed": False}, headers=auth_headers
    )
    assert reopened.status_code == 200
    assert reopened.get_json()["completed_at"] is None
    assert actions(app, task["id"]) == ["created", "completed", "reopened"]
    assert len(tasks_by_due(app)) == 2


def test_put_completed_true_has_the_effects_of_complete(app, client, auth_headers, create_task):
    fields = {"title": "Rent", "due_date": "2026-01-31T12:00:00Z"}
    task = create_task(**fields, recurrence_rule="FREQ=MONTHLY;BYMONTHDAY=-1")

    response = client.put(
        f"/v1/tasks/{task['id']}",
        json={**fields, "recurrence_rule": "FREQ=MONTHLY;BYMONTHDAY=-1", "completed": True},
        headers=auth_headers,
    )

    assert response.status_code == 200
    assert response.get_json()["completed"] is True
    stored = tasks_by_due(app)
    assert [due for _, due, _ in stored] == [
        when("2026-01-31T12:00:00+00:00"),
        when("2026-02-28T12:00:00+00:00"),
    ]
    assert actions(app, task["id"]) == ["created", "completed"]


def test_toggle_both_ways(app, client, auth_headers, create_task):
    task = create_task(due_date="2026-09-01T06:00:00Z", recurrence_rule="FREQ=DAILY")
    url = f"/v1/tasks/{task['id']}/toggle"

    done = client.post(url, headers=auth_headers).get_json()
    assert done["task"]["completed"] is True
    assert when(done["next"]["due_date"]) == when("2026-09-02T06:00:00+00:00")

    undone = client.post(url, headers=auth_headers).get_json()
    assert undone["task"]["completed"] is False
    assert undone["next"] is None

    # Completed again: a new completion, and (as the contract reads) a new next occurrence.
    redone = client.post(url, headers=auth_headers).get_json()
    assert redone["task"]["completed"] is True
    assert when(redone["next"]["due_date"]) == when("2026-09-02T06:00:00+00:00")
    assert actions(app, task["id"]) == ["created", "completed", "reopened", "completed"]


def test_next_occurrences_stay_with_their_owner(client, make_user, create_task, auth_headers):
    other = make_user()
    task = create_task(headers=other, due_date="2026-09-01T06:00:00Z", recurrence_rule="FREQ=DAILY")
    following = complete(client, other, task["id"])["next"]
    assert_problem(
        client.get(f"/v1/tasks/{following['id']}", headers=auth_headers), 404, "not_found"
    )


INVALID_RULES = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",  # never matches
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",  # never matches, and dateutil would search to 9999
    "FREQ=SECONDLY",
    "FREQ=MINUTELY",
    "FREQ=DAILY;FREQ=SECONDLY",
    "garbage",
    "",
    "RRULE:",
    "FREQ=",
    "FREQ=DAILY;",
    "BYDAY=MO",
    "FREQ=DAILY\nCOUNT=2",
    "FREQ=DAILY\r\nEXDATE:20260102T000000Z",
    "DTSTART:19970101T000000\nRRULE:FREQ=DAILY",
    "FREQ=DAILY;COUNT=3 DTSTART:19970101T000000",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=DAILY;INTERVAL=1001",
    "FREQ=DAILY;COUNT=0",
    "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z",
    "FREQ=MONTHLY;BYMONTHDAY=0",
    "FREQ=MONTHLY;BYMONTHDAY=32",
    "FREQ=WEEKLY;BYDAY=XX",
    "FREQ=YEARLY;BYEASTER=0",
    "FREQ=DAILY;UNTIL=tomorrow",
    "FREQ=DAILY;COUNT=\u0661",  # a digit, but not an ASCII one
    "FREQ=DAILY;X-NAME=1",
    "FREQ=HOURLY;BYSECOND=60",  # dateutil cannot build second 60
    "FREQ=MONTHLY;BYDAY=53MO",  # dateutil fails while iterating
    "FREQ=WEEKLY;BYDAY=1MO",
    "FREQ=WEEKLY;BYMONTHDAY=1",
    "FREQ=DAILY;BYSETPOS=1",
    "FREQ=DAILY;" + "BYHOUR=1;" * 200,
]


def test_invalid_rules_are_422_quickly(client, auth_headers):
    for rule in INVALID_RULES:
        started = time.monotonic()
        response = client.post(
            "/v1/tasks",
            json={"title": "x", "due_date": "2026-01-01T01:00:00Z", "recurrence_rule": rule},
            headers=auth_headers,
        )
        elapsed = time.monotonic() - started

        assert response.status_code == 422, (rule, response.get_json())
        body = assert_problem(response, 422, "validation_error")
        assert "recurrence_rule" in body["errors"]["json"], rule
        assert elapsed < 1.0, (rule, elapsed)


@pytest.mark.parametrize(
    ("hour", "due_date", "status", "following"),
    [
        (0, "2026-01-01T00:00:00Z", 201, "2026-01-02T00:00:00+00:00"),
        (0, "2026-01-01T01:00:00Z", 422, None),
        (1, "2026-01-01T01:00:00Z", 201, "2026-01-02T01:00:00+00:00"),
        (1, "2026-01-01T00:00:00Z", 422, None),
    ],
)
def test_whether_a_rule_recurs_depends_on_the_due_date(
    client, auth_headers, hour, due_date, status, following
):
    # Every other hour from the due date: hour 0 is reached from an even hour only, 1 from odd.
    rule = f"FREQ=HOURLY;INTERVAL=2;BYHOUR={hour}"
    response = client.post(
        "/v1/tasks",
        json={"title": "x", "due_date": due_date, "recurrence_rule": rule},
        headers=auth_headers,
    )
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert "recurrence_rule" in response.get_json()["errors"]["json"]
    else:
        spawned = complete(client, auth_headers, response.get_json()["id"])["next"]
        assert when(spawned["due_date"]) == when(following)


def test_a_patch_that_makes_the_series_impossible_changes_nothing(
    app, client, auth_headers, create_task
):
    task = create_task(due_date="2026-02-28T08:00:00Z", recurrence_rule="FREQ=YEARLY;INTERVAL=4")
    for change in (
        {"recurrence_rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
        {"recurrence_rule": "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29"},  # 2026 + 4k: never
        {"recurrence_rule": "FREQ=MONTHLY", "due_date": None},
    ):
        response = client.patch(f"/v1/tasks/{task['id']}", json=change, headers=auth_headers)
        body = assert_problem(response, 422, "validation_error")
        assert "recurrence_rule" in body["errors"]["json"]
    assert client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json() == task
    assert actions(app, task["id"]) == ["created"]


def test_a_rule_needs_a_due_date(client, auth_headers):
    response = client.post(
        "/v1/tasks", json={"title": "x", "recurrence_rule": "FREQ=DAILY"}, headers=auth_headers
    )
    body = assert_problem(response, 422, "validation_error")
    assert "recurrence_rule" in body["errors"]["json"]


def test_an_exhausted_until_gives_no_next(client, auth_headers, create_task):
    task = create_task(
        due_date="2026-04-01T08:00:00Z",
        recurrence_rule="FREQ=DAILY;UNTIL=20260402T080000Z",
    )
    second = complete(client, auth_headers, task["id"])["next"]
    assert when(second["due_date"]) == when("2026-04-02T08:00:00+00:00")
    assert complete(client, auth_headers, second["id"])["next"] is None


def test_a_reminder_keeps_its_offset_across_a_month_end(client, auth_headers, create_task):
    task = create_task(
        due_date="2026-01-31T09:00:00Z",
        reminder_at="2026-01-29T21:00:00Z",  # 1 day 12 hours before
        recurrence_rule="FREQ=MONTHLY;BYMONTHDAY=31",
    )
    following = complete(client, auth_headers, task["id"])["next"]
    due, reminder = when(following["due_date"]), when(following["reminder_at"])
    assert due == when("2026-03-31T09:00:00+00:00")
    assert due is not None
    assert reminder == due - timedelta(days=1, hours=12)
