"""Optimistic concurrency: ETag, If-None-Match, If-Match and REQUIRE_IF_MATCH on both engines;
simultaneous writers from real threads on PostgreSQL (contract section 1, "Concurrency")."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conftest import assert_problem, run_together
from sqlalchemy import func, select

from taskapi.extensions import db
from taskapi.models import HistoryEntry, Task

COMMANDS = ("complete", "reopen", "toggle")


def state(app: Any) -> tuple[list[Any], list[Any]]:
    """Every task and history entry as stored, to prove a refused request changed nothing."""
    with app.app_context():
        tasks = db.session.execute(select(Task).order_by(Task.id)).scalars().all()
        entries = db.session.execute(select(HistoryEntry.id, HistoryEntry.action)).all()
        return [
            (task.id, task.snapshot(), task.updated_at, task.recurrence_start) for task in tasks
        ], sorted(entries)


def stale_and_current(client: Any, headers: dict[str, str]) -> tuple[str, str, str]:
    """A recurring task, the ETag of its first version (stale) and of its current one."""
    created = client.post(
        "/v1/tasks",
        json={
            "title": "Report",
            "due_date": "2026-03-02T09:00:00Z",
            "recurrence_rule": "FREQ=WEEKLY",
        },
        headers=headers,
    )
    task = created.get_json()
    changed = client.patch(f"/v1/tasks/{task['id']}", json={"priority": "high"}, headers=headers)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != created.headers["ETag"]
    return task["id"], created.headers["ETag"], changed.headers["ETag"]


def send(client: Any, method: str, task_id: str, headers: dict[str, str]) -> Any:
    """One of the conditional requests on a task."""
    url = f"/v1/tasks/{task_id}"
    if method == "PUT":
        return client.put(url, json={"title": "Replaced"}, headers=headers)
    if method == "PATCH":
        return client.patch(url, json={"title": "Changed"}, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    return client.post(f"{url}/{method}", headers=headers)


CONDITIONAL = ("PUT", "PATCH", "DELETE", *COMMANDS)


@pytest.mark.parametrize("method", CONDITIONAL)
def test_a_stale_if_match_is_412_and_changes_nothing(
    app, client, auth_headers, create_task, method
):
    task_id, stale, current = stale_and_current(client, auth_headers)
    before = state(app)

    response = send(client, method, task_id, {**auth_headers, "If-Match": stale})

    assert_problem(response, 412, "precondition_failed")
    assert state(app) == before
    assert client.get(f"/v1/tasks/{task_id}", headers=auth_headers).headers["ETag"] == current


@pytest.mark.parametrize("method", CONDITIONAL)
def test_the_current_etag_or_a_star_is_accepted(app, client, auth_headers, create_task, method):
    task_id, stale, current = stale_and_current(client, auth_headers)
    for if_match in (f"{stale}, {current}", "*"):
        response = send(client, method, task_id, {**auth_headers, "If-Match": if_match})
        assert response.status_code in (200, 204), response.get_json()
        if method == "DELETE":
            return
        current = response.headers["ETag"]


def test_the_etag_of_a_write_is_the_next_if_match(client, auth_headers, create_task):
    task = create_task(due_date="2026-03-02T09:00:00Z", recurrence_rule="FREQ=DAILY")
    url = f"/v1/tasks/{task['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]

    steps = [
        ("PATCH", url, {"title": "B"}),
        ("PUT", url, {"title": "C", "due_date": "2026-03-02T09:00:00Z"}),
        ("POST", f"{url}/complete", None),
        ("POST", f"{url}/reopen", None),
        ("POST", f"{url}/toggle", None),
    ]
    for method, path, body in steps:
        headers = {**auth_headers, "If-Match": etag}
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.headers["ETag"] != etag
        etag = response.headers["ETag"]
        # The ETag a write returns is the one a read of the same version returns.
        assert client.get(url, headers=auth_headers).headers["ETag"] == etag

    deleted = client.delete(url, headers={**auth_headers, "If-Match": etag})
    assert deleted.status_code == 204


def test_a_weak_if_match_never_matches(client, auth_headers, create_task):
    task = create_task()
    etag = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    response = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "B"},
        headers={**auth_headers, "If-Match": f"W/{etag}"},
    )
    assert_problem(response, 412, "precondition_failed")


def test_if_none_match_answers_304_while_unchanged(client, auth_headers, create_task):
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]

    unchanged = client.get(url, headers={**auth_headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == etag

    client.patch(url, json={"title": "B"}, headers=auth_headers)
    changed = client.get(url, headers={**auth_headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["title"] == "B"
    assert changed.headers["ETag"] != etag


@pytest.fixture
def strict(make_app: Callable[..., Any]) -> Any:
    """A client of an app with REQUIRE_IF_MATCH=true on the same database."""
    return make_app(REQUIRE_IF_MATCH=True).test_client()


@pytest.mark.parametrize("method", CONDITIONAL)
def test_require_if_match_makes_it_mandatory(app, strict, auth_headers, create_task, method):
    task = create_task(due_date="2026-03-02T09:00:00Z", recurrence_rule="FREQ=DAILY")
    before = state(app)

    response = send(strict, method, task["id"], auth_headers)

    assert_problem(response, 428, "precondition_required")
    assert state(app) == before
    etag = strict.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    accepted = send(strict, method, task["id"], {**auth_headers, "If-Match": etag})
    assert accepted.status_code in (200, 204), accepted.get_json()


def test_require_if_match_leaves_creation_free(strict, auth_headers):
    response = strict.post("/v1/tasks", json={"title": "New"}, headers=auth_headers)
    assert response.status_code == 201
    assert response.headers["ETag"]


def test_the_openapi_document_lists_if_match_for_the_commands(client):
    document = client.get("/openapi.json").get_json()
    paths, parameters = document["paths"], document["components"]["parameters"]
    for command in COMMANDS:
        operation = paths[f"/v1/tasks/{{task_id}}/{command}"]["post"]
        assert {"412", "428"} <= set(operation["responses"])
        names = [
            parameters[item["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in item else item["name"]
            for item in operation["parameters"]
        ]
        assert "If-Match" in names
    creation = paths["/v1/tasks"]["post"]
    assert "428" not in creation["responses"]


# Simultaneous writers: PostgreSQL only (SQLite serialises whole-database writes by itself).


def patcher(url: str, body: dict[str, Any], headers: dict[str, str]) -> Callable[[Any], Any]:
    return lambda client: client.patch(url, json=body, headers=headers)


def count_rows(app: Any, model: Any, *conditions: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*conditions)))


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_completions_create_one_next_occurrence(app, client, auth_headers):
    for round_number in range(3):
        created = client.post(
            "/v1/tasks",
            json={
                "title": f"Round {round_number}",
                "due_date": "2026-03-02T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
            },
            headers=auth_headers,
        ).get_json()
        url = f"/v1/tasks/{created['id']}/complete"

        responses = run_together(
            app, [lambda c, url=url: c.post(url, headers=auth_headers) for _ in range(6)]
        )

        assert [response.status_code for response in responses] == [200] * 6
        spawned = [response.get_json()["next"] for response in responses]
        assert sum(item is not None for item in spawned) == 1
        task_id = uuid.UUID(created["id"])
        assert count_rows(app, Task, Task.title == f"Round {round_number}") == 2
        completed = (HistoryEntry.task_id == task_id, HistoryEntry.action == "completed")
        assert count_rows(app, HistoryEntry, *completed) == 1


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_toggles_alternate(app, client, auth_headers, create_task):
    for _ in range(5):
        task = create_task(due_date="2026-03-02T09:00:00Z", recurrence_rule="FREQ=DAILY")
        url = f"/v1/tasks/{task['id']}/toggle"

        responses = run_together(app, [lambda c, url=url: c.post(url, headers=auth_headers)] * 4)

        assert [response.status_code for response in responses] == [200] * 4
        # Each toggle saw the previous one's result, and answers with the version it wrote.
        states = sorted(response.get_json()["task"]["completed"] for response in responses)
        assert states == [False, False, True, True]
        assert len({response.headers["ETag"] for response in responses}) == 4
        for response in responses:
            body = response.get_json()
            assert (body["next"] is not None) == body["task"]["completed"]
        actions = (HistoryEntry.task_id == uuid.UUID(task["id"]),)
        assert count_rows(app, HistoryEntry, *actions, HistoryEntry.action == "completed") == 2
        assert count_rows(app, HistoryEntry, *actions, HistoryEntry.action == "reopened") == 2
    assert count_rows(app, Task) == 5 * 3  # each task and the occurrence of each completion


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_patches_with_one_if_match_one_wins(app, client, auth_headers, create_task):
    task = create_task(title="Original", description="Original")
    url = f"/v1/tasks/{task['id']}"
    for round_number in range(5):
        etag = client.get(url, headers=auth_headers).headers["ETag"]
        headers = {**auth_headers, "If-Match": etag}
        title, text = f"Title {round_number}", f"Description {round_number}"

        first, second = run_together(
            app,
            [patcher(url, {"title": title}, headers), patcher(url, {"description": text}, headers)],
        )

        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        assert_problem(loser, 412, "precondition_failed")
        stored = client.get(url, headers=auth_headers)
        # No lost update: what is stored is exactly the winner's version, the loser's change is
        # absent, and the winner's ETag is current.
        assert stored.get_json() == winner.get_json()
        assert stored.headers["ETag"] == winner.headers["ETag"]
        body = stored.get_json()
        assert (body["title"] == title) != (body["description"] == text)
    updates = (HistoryEntry.task_id == uuid.UUID(task["id"]), HistoryEntry.action == "updated")
    assert count_rows(app, HistoryEntry, *updates) == 5


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_patches_without_if_match_both_apply(app, client, auth_headers, create_task):
    task = create_task(title="Original", description="Original")
    url = f"/v1/tasks/{task['id']}"

    responses = run_together(
        app,
        [
            patcher(url, {"title": "New title"}, auth_headers),
            patcher(url, {"description": "New description"}, auth_headers),
        ],
    )

    assert [response.status_code for response in responses] == [200, 200]
    stored = client.get(url, headers=auth_headers).get_json()
    assert (stored["title"], stored["description"]) == ("New title", "New description")
    # Each history entry records only its own change, against the state the other left.
    with app.app_context():
        entries = db.session.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.task_id == uuid.UUID(task["id"]), HistoryEntry.action == "updated")
            .order_by(HistoryEntry.id)
        ).all()
        assert sorted(tuple(entry.changes) for entry in entries) == [("description",), ("title",)]
