"""History: one entry per change, in the change's transaction; listing, filters, `after=` sync."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import assert_problem
from sqlalchemy import event

from taskapi.extensions import db
from taskapi.models import HistoryEntry

ENTRY_FIELDS = {"id", "task_id", "action", "changes", "actor", "request_id", "created_at"}


def history(client, headers, url="/v1/history", **params) -> list[dict[str, Any]]:
    response = client.get(url, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def task_history(client, headers, task_id, **params) -> list[dict[str, Any]]:
    return history(client, headers, f"/v1/tasks/{task_id}/history", **params)


def total(response) -> int:
    return json.loads(response.headers["X-Pagination"])["total"]


def my_id(client, headers) -> str:
    return client.get("/v1/auth/me", headers=headers).get_json()["id"]


def test_every_action_writes_one_entry_with_its_changes(client, auth_headers):
    user_id = my_id(client, auth_headers)

    def send(method, url, request_id, **kwargs):
        headers = {**auth_headers, "X-Request-ID": request_id}
        response = client.open(url, method=method, headers=headers, **kwargs)
        assert response.status_code in (200, 201, 204), response.get_data(as_text=True)
        return None if response.status_code == 204 else response.get_json()

    task = send(
        "POST",
        "/v1/tasks",
        "req-create",
        json={"title": "Report", "tags": ["Work"], "due_date": "2026-12-01T09:00:00Z"},
    )
    url = f"/v1/tasks/{task['id']}"
    send("PATCH", url, "req-update", json={"title": "Final report", "priority": "high"})
    done = send("POST", f"{url}/complete", "req-complete")["task"]
    send("POST", f"{url}/reopen", "req-reopen")
    toggled = send("POST", f"{url}/toggle", "req-toggle")["task"]
    send("DELETE", url, "req-delete")

    entries = list(reversed(task_history(client, auth_headers, task["id"])))
    assert [entry["action"] for entry in entries] == [
        "created",
        "updated",
        "completed",
        "reopened",
        "completed",
        "deleted",
    ]
    assert [entry["request_id"] for entry in entries] == [
        "req-create",
        "req-update",
        "req-complete",
        "req-reopen",
        "req-toggle",
        "req-delete",
    ]
    for entry in entries:
        assert set(entry) == ENTRY_FIELDS
        assert entry["task_id"] == task["id"]
        assert entry["actor"] == {"type": "user", "id": user_id}
        assert entry["created_at"].endswith("+00:00")
    ids = [entry["id"] for entry in entries]
    assert ids == sorted(ids)
    assert all(isinstance(value, int) for value in ids)

    created, updated, completed, reopened, completed_again, deleted = (
        entry["changes"] for entry in entries
    )
    assert created == {
        "title": {"old": None, "new": "Report"},
        "completed": {"old": None, "new": False},
        "priority": {"old": None, "new": "medium"},
        "tags": {"old": None, "new": ["Work"]},
        "due_date": {"old": None, "new": "2026-12-01T09:00:00+00:00"},
    }
    assert updated == {
        "title": {"old": "Report", "new": "Final report"},
        "priority": {"old": "medium", "new": "high"},
    }
    assert completed == {
        "completed": {"old": False, "new": True},
        "completed_at": {"old": None, "new": done["completed_at"]},
    }
    assert reopened == {
        "completed": {"old": True, "new": False},
        "completed_at": {"old": done["completed_at"], "new": None},
    }
    assert completed_again["completed_at"] == {"old": None, "new": toggled["completed_at"]}
    assert deleted == {
        "title": {"old": "Final report", "new": None},
        "completed": {"old": True, "new": None},
        "completed_at": {"old": toggled["completed_at"], "new": None},
        "priority": {"old": "high", "new": None},
        "tags": {"old": ["Work"], "new": None},
        "due_date": {"old": "2026-12-01T09:00:00+00:00", "new": None},
    }


def test_spawned_occurrence_writes_created(client, auth_headers, create_task):
    task = create_task(
        title="Water plants", due_date="2026-12-01T09:00:00Z", recurrence_rule="FREQ=DAILY"
    )
    result = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers).get_json()
    spawned = result["next"]
    assert spawned is not None
    newest = history(client, auth_headers)[:2]
    assert [(entry["action"], entry["task_id"]) for entry in newest] == [
        ("created", spawned["id"]),
        ("completed", task["id"]),
    ]
    assert newest[0]["changes"]["due_date"] == {"old": None, "new": "2026-12-02T09:00:00+00:00"}


def test_a_refused_or_empty_change_writes_nothing(client, auth_headers, create_task):
    task = create_task(title="Keep", due_date="2026-12-01T09:00:00Z")
    url = f"/v1/tasks/{task['id']}"
    before = len(history(client, auth_headers))
    etag = client.get(url, headers=auth_headers).headers["ETag"]
    assert client.patch(url, json={"title": "Changed"}, headers=auth_headers).status_code == 200

    responses = [
        client.patch(url, json={"reminder_at": "2026-12-02T09:00:00Z"}, headers=auth_headers),
        client.patch(url, json={"title": ""}, headers=auth_headers),
        client.patch(url, json={"title": "Stale"}, headers={**auth_headers, "If-Match": etag}),
        client.delete(url, headers={**auth_headers, "If-Match": etag}),
        client.patch(url, json={"title": "Changed"}, headers=auth_headers),  # no change
    ]
    assert [response.status_code for response in responses] == [422, 422, 412, 412, 200]
    client.post(f"{url}/complete", headers=auth_headers)
    client.post(f"{url}/complete", headers=auth_headers)  # already completed: nothing changes
    actions = [entry["action"] for entry in history(client, auth_headers)]
    assert len(actions) == before + 2
    assert actions[:2] == ["completed", "updated"]


def test_a_failed_history_write_rolls_the_change_back(app, client, auth_headers):
    def refuse_history(conn, cursor, statement, parameters, context, executemany):
        # As written, or as prepared (PostgreSQL: "EXECUTE taskapi_insert_history(...)").
        written = statement.lstrip().upper()
        if written.startswith("INSERT INTO HISTORY") or "TASKAPI_INSERT_INTO_HISTORY" in written:
            raise RuntimeError("history is unavailable")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse_history)
    try:
        response = client.post("/v1/tasks", json={"title": "Ghost"}, headers=auth_headers)
    finally:
        event.remove(engine, "before_cursor_execute", refuse_history)
    assert_problem(response, 500, "internal_error")
    assert client.get("/v1/tasks", headers=auth_headers).get_json() == []
    assert history(client, auth_headers) == []


def test_entries_survive_the_deletion_of_their_task(client, auth_headers, create_task):
    task = create_task(title="Short-lived")
    assert client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers).status_code == 204
    entries = task_history(client, auth_headers, task["id"])
    assert [entry["action"] for entry in entries] == ["deleted", "created"]
    assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=auth_headers), 404, "not_found")


def test_filters(client, auth_headers, create_task):
    first = create_task(title="First")
    second = create_task(title="Second")
    client.post(f"/v1/tasks/{first['id']}/complete", headers=auth_headers)
    client.patch(f"/v1/tasks/{second['id']}", json={"title": "2nd"}, headers=auth_headers)
    everything = history(client, auth_headers)
    assert [entry["action"] for entry in everything] == [
        "updated",
        "completed",
        "created",
        "created",
    ]

    by_task = history(client, auth_headers, task_id=first["id"])
    assert [entry["action"] for entry in by_task] == ["completed", "created"]
    assert task_history(client, auth_headers, first["id"], action="created") == by_task[1:]
    assert [e["task_id"] for e in history(client, auth_headers, action="created")] == [
        second["id"],
        first["id"],
    ]
    # since and until are inclusive: the bounds of the middle two select exactly them.
    middle = everything[1:3]
    window = history(
        client, auth_headers, since=middle[1]["created_at"], until=middle[0]["created_at"]
    )
    assert window == middle
    assert history(client, auth_headers, since=everything[0]["created_at"]) == everything[:1]
    assert history(client, auth_headers, until=everything[-1]["created_at"]) == everything[-1:]

    for params in (
        {"action": "renamed"},
        {"task_id": "not-a-uuid"},
        {"since": "yesterday"},
        {"after": "-1"},
        {"after": "99999999999999999999"},
    ):
        body = assert_problem(
            client.get("/v1/history", headers=auth_headers, query_string=params),
            422,
            "validation_error",
        )
        assert set(body["errors"]["query"]) == set(params)


def test_isolation(client, auth_headers, make_user, create_task):
    bob = make_user("bob@example.com")
    task = create_task(title="Alice's")
    bobs = create_task(headers=bob, title="Bob's")
    assert [e["task_id"] for e in history(client, bob)] == [bobs["id"]]
    assert history(client, bob, task_id=task["id"]) == []
    for url in (
        f"/v1/tasks/{task['id']}/history",
        f"/v1/tasks/{uuid.uuid4()}/history",
        "/v1/tasks/not-a-uuid/history",
    ):
        assert_problem(client.get(url, headers=bob), 404, "not_found")
    client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert_problem(client.get(f"/v1/tasks/{task['id']}/history", headers=bob), 404, "not_found")
    assert_problem(client.get("/v1/history"), 401, "unauthorized")


def test_after_replays_everything_since_a_cursor(client, auth_headers, make_user, create_task):
    bob = make_user("bob@example.com")
    mine = []
    for number in range(7):
        mine.append(create_task(title=f"Mine {number}")["id"])
        create_task(headers=bob, title=f"Bob's {number}")  # interleaved ids of another user
    entries = list(reversed(history(client, auth_headers)))
    ids = [entry["id"] for entry in entries]
    assert [entry["task_id"] for entry in entries] == mine

    response = client.get("/v1/history", headers=auth_headers, query_string={"after": ids[2]})
    assert [entry["id"] for entry in response.get_json()] == ids[3:]  # oldest first
    assert total(response) == 4
    # A cursor that is another user's id works the same.
    bobs_ids = [entry["id"] for entry in history(client, bob)]
    cursor = max(i for i in bobs_ids if i < ids[4])
    response = client.get("/v1/history", headers=auth_headers, query_string={"after": cursor})
    assert [entry["id"] for entry in response.get_json()] == ids[4:]
    assert total(response) == 3

    # Paging with after: each page continues where the last one ended, nothing twice.
    seen: list[int] = []
    cursor = 0
    while True:
        page = history(client, auth_headers, after=cursor, page_size=3)
        if not page:
            break
        seen += [entry["id"] for entry in page]
        cursor = page[-1]["id"]
    assert seen == ids
    assert history(client, auth_headers, after=ids[-1]) == []
    response = client.get("/v1/history", headers=auth_headers, query_string={"after": ids[-1]})
    assert total(response) == 0


def test_totals_match_the_entries(client, auth_headers, make_user, create_task):
    bob = make_user("bob@example.com")
    task = create_task(title="Counted")
    create_task(headers=bob)
    client.patch(f"/v1/tasks/{task['id']}", json={"title": "Again"}, headers=auth_headers)
    create_task(headers=bob)
    client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers)
    for params, expected in (
        ({}, 3),
        ({"page_size": 1}, 3),
        ({"action": "updated"}, 1),
        ({"task_id": task["id"]}, 3),
        ({"after": 0}, 3),
    ):
        response = client.get("/v1/history", headers=auth_headers, query_string=params)
        assert total(response) == expected, params
    assert total(client.get("/v1/history", headers=bob)) == 2


def test_entries_are_numbered_per_user_in_id_order(
    app, client, auth_headers, make_user, create_task
):
    bob = make_user("bob@example.com")
    for _ in range(3):
        create_task()
        create_task(headers=bob)
    with app.app_context():
        rows = db.session.execute(
            sa.select(HistoryEntry.user_id, HistoryEntry.seq).order_by(HistoryEntry.id)
        ).all()
    numbers: dict[Any, list[int]] = {}
    for user_id, seq in rows:
        numbers.setdefault(user_id, []).append(seq)
    assert sorted(numbers.values()) == [[1, 2, 3], [1, 2, 3]]


#: How a prepared INSERT is run on PostgreSQL: "EXECUTE taskapi_insert_into_<table>(…)".
PREPARED_INSERT = "taskapi_insert_into_"


@contextmanager
def count_inserts(app) -> Iterator[dict[str, int]]:
    counts = {"tasks": 0, "history": 0, "other": 0}

    def count(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        prepared = words[0] == "EXECUTE" and words[1].startswith(PREPARED_INSERT)
        if words[:2] == ["INSERT", "INTO"] or prepared:
            table = words[1][len(PREPARED_INSERT) :].split("(")[0] if prepared else words[2]
            key = table.strip('"') if table.strip('"') in counts else "other"
            counts[key] += len(parameters) if executemany else 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_change_adds_exactly_one_insert_for_history(app, client, auth_headers, create_task):
    with count_inserts(app) as counts:
        task = create_task(title="Counted", due_date="2026-12-01T09:00:00Z")
    assert counts == {"tasks": 1, "history": 1, "other": 0}
    url = f"/v1/tasks/{task['id']}"
    for method, path, body in (
        ("PATCH", url, {"title": "Patched"}),
        ("PUT", url, {"title": "Replaced", "due_date": "2026-12-01T09:00:00Z"}),
        ("POST", f"{url}/complete", None),
        ("POST", f"{url}/reopen", None),
        ("DELETE", url, None),
    ):
        with count_inserts(app) as counts:
            response = client.open(path, method=method, json=body, headers=auth_headers)
            assert response.status_code in (200, 204)
        assert counts == {"tasks": 0, "history": 1, "other": 0}, (method, path)

    recurring = create_task(due_date="2026-12-01T09:00:00Z", recurrence_rule="FREQ=WEEKLY")
    with count_inserts(app) as counts:
        client.post(f"/v1/tasks/{recurring['id']}/complete", headers=auth_headers)
    # The completion and the spawned occurrence: one entry each.
    assert counts == {"tasks": 1, "history": 2, "other": 0}


def test_after_misses_nothing_under_concurrent_writes(app, client, auth_headers):
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer)")
    writers, per_writer = 4, 15
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def write(number: int) -> None:
        own = app.test_client()
        try:
            for index in range(per_writer):
                response = own.post(
                    "/v1/tasks", json={"title": f"w{number}-{index}"}, headers=auth_headers
                )
                assert response.status_code == 201
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def read() -> None:
        own = app.test_client()
        cursor = 0
        try:
            while True:
                finished = done.is_set()
                page = own.get(
                    "/v1/history",
                    headers=auth_headers,
                    query_string={"after": cursor, "page_size": 100},
                ).get_json()
                seen.extend(entry["id"] for entry in page)
                if page:
                    cursor = page[-1]["id"]
                elif finished:
                    return
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert not errors, errors
    with app.app_context():
        stored = list(db.session.scalars(sa.select(HistoryEntry.id).order_by(HistoryEntry.id)))
    assert len(stored) == writers * per_writer
    assert seen == stored
