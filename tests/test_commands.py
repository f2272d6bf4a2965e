"""Command endpoints: the catalogue and its JSON Schemas, each command's success and errors, and
that a command and its REST twin write the same history."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from conftest import assert_problem
from service_clients import key_header, user_id

from taskapi.extensions import db
from taskapi.models import HistoryEntry
from taskapi.resources.tasks.schemas import TaskCreateSchema, TaskSchema

COMMAND_NAMES = [
    "create_task",
    "get_task",
    "list_tasks",
    "update_task",
    "complete_task",
    "reopen_task",
    "delete_task",
    "get_stats",
]


def run(client, name: str, headers, body: Any = None, prefix: str = "/v1"):
    kwargs = {} if body is None else {"json": body}
    return client.post(f"{prefix}/commands/{name}", headers=headers, **kwargs)


def result(response) -> Any:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"command", "result"}
    return body["result"]


def test_catalogue_lists_every_command_with_json_schemas(client, auth_headers):
    response = client.get("/v1/commands", headers=auth_headers)
    assert response.status_code == 200
    catalogue = {item["name"]: item for item in response.get_json()}
    assert list(catalogue) == COMMAND_NAMES
    for item in catalogue.values():
        assert item["description"]
        expected = "stats:read" if item["name"] == "get_stats" else ("tasks:read", "tasks:write")
        assert item["scope"] in expected
        assert item["input_schema"]["$schema"].startswith("https://json-schema.org/")
        assert item["input_schema"]["additionalProperties"] is False

    create = catalogue["create_task"]
    # Generated from the REST schemas: the same fields, the same constraints.
    assert set(create["input_schema"]["properties"]) == set(TaskCreateSchema().fields)
    assert create["input_schema"]["required"] == ["title"]
    assert create["input_schema"]["properties"]["title"]["maxLength"] == 500
    assert create["input_schema"]["properties"]["priority"]["enum"] == ["low", "medium", "high"]
    assert create["input_schema"]["properties"]["due_date"]["type"] == ["string", "null"]
    assert set(create["output_schema"]["properties"]) == set(TaskSchema().fields)

    assert catalogue["update_task"]["input_schema"]["required"] == ["id"]
    listing = catalogue["list_tasks"]
    assert {"page", "page_size"} <= set(listing["input_schema"]["properties"])
    assert listing["input_schema"]["properties"]["page_size"]["maximum"] == 100
    assert listing["output_schema"]["type"] == "array"
    completion = catalogue["complete_task"]["output_schema"]
    assert set(completion["properties"]) == {"task", "next"}
    assert completion["properties"]["task"]["properties"]["id"]["format"] == "uuid"
    assert catalogue["delete_task"]["output_schema"]["type"] == "null"
    stats = catalogue["get_stats"]
    assert set(stats["input_schema"]["properties"]) == {"tz"}
    assert {"total", "mood", "streak", "top_tags"} <= set(stats["output_schema"]["properties"])


def test_task_commands_end_to_end(client, auth_headers):
    created = result(
        run(client, "create_task", auth_headers, {"title": "  Plan  ", "tags": ["a", "A", "b"]})
    )
    assert created["title"] == "Plan"
    assert created["tags"] == ["a", "b"]
    rest = client.get(f"/v1/tasks/{created['id']}", headers=auth_headers).get_json()
    assert rest == created  # the result is what the REST twin returns

    assert result(run(client, "get_task", auth_headers, {"id": created["id"]})) == created

    updated = result(
        run(client, "update_task", auth_headers, {"id": created["id"], "priority": "high"})
    )
    assert updated["priority"] == "high"
    assert updated["title"] == "Plan"  # PATCH semantics: the rest is unchanged

    done = result(run(client, "complete_task", auth_headers, {"id": created["id"]}))
    assert done["task"]["completed"] is True
    assert done["next"] is None
    reopened = result(run(client, "reopen_task", auth_headers, {"id": created["id"]}))
    assert reopened == {"task": {**reopened["task"], "completed": False}, "next": None}
    assert reopened["task"]["completed_at"] is None

    assert result(run(client, "delete_task", auth_headers, {"id": created["id"]})) is None
    assert_problem(run(client, "get_task", auth_headers, {"id": created["id"]}), 404, "not_found")


def test_complete_task_spawns_the_next_occurrence(client, auth_headers):
    task = result(
        run(
            client,
            "create_task",
            auth_headers,
            {
                "title": "Weekly",
                "due_date": "2030-01-07T09:00:00Z",
                "recurrence_rule": "FREQ=WEEKLY",
            },
        )
    )
    done = result(run(client, "complete_task", auth_headers, {"id": task["id"]}))
    assert done["next"]["due_date"] == "2030-01-14T09:00:00+00:00"
    assert done["next"]["title"] == "Weekly"


def test_list_tasks_pages_like_the_rest_list(client, auth_headers, create_task):
    ids = [create_task(title=f"t{i}")["id"] for i in range(3)]
    rest = client.get("/v1/tasks?page=2&page_size=2", headers=auth_headers).get_json()
    page = result(run(client, "list_tasks", auth_headers, {"page": 2, "page_size": 2}))
    assert page == rest
    assert [item["id"] for item in page] == ids[:1]  # newest first: the oldest is on page 2
    assert len(result(run(client, "list_tasks", auth_headers))) == 3
    far = result(run(client, "list_tasks", auth_headers, {"page": 99999999999999999999}))
    assert far == []


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("create_task", {}, "title"),
        ("create_task", {"title": ""}, "title"),
        ("create_task", {"title": "x", "id": "9f1c4a8e-0000-4000-8000-000000000000"}, "id"),
        ("create_task", {"title": "x", "completed": 1}, "completed"),
        ("create_task", {"title": "x", "recurrence_rule": "FREQ=SOMETIMES"}, "recurrence_rule"),
        ("create_task", {"title": "x", "recurrence_rule": "FREQ=DAILY"}, "recurrence_rule"),
        ("get_task", {}, "id"),
        ("get_task", {"id": "not-a-uuid"}, "id"),
        ("get_task", {"id": "9f1c4a8e-0000-4000-8000-000000000000", "x": 1}, "x"),
        ("update_task", {"title": "x"}, "id"),
        ("update_task", {"id": "9f1c4a8e-0000-4000-8000-000000000000", "title": 5}, "title"),
        ("list_tasks", {"page_size": 101}, "page_size"),
        ("list_tasks", {"page": 0}, "page"),
        ("list_tasks", {"page": "2"}, "page"),
        ("list_tasks", {"nope": 1}, "nope"),
        ("complete_task", {"id": 7}, "id"),
        ("delete_task", {}, "id"),
        ("get_stats", {"tz": "Mars/Olympus_Mons"}, "tz"),
        ("get_stats", {"weeks": 2}, "weeks"),
    ],
)
def test_invalid_input_is_422_with_errors(client, auth_headers, name, body, field):
    problem = assert_problem(run(client, name, auth_headers, body), 422, "validation_error")
    assert field in problem["errors"]["json"]


def test_command_errors(client, auth_headers, make_user, create_task):
    assert_problem(run(client, "no_such_command", auth_headers, {}), 404, "not_found")
    assert_problem(run(client, "create_task", {}, {"title": "x"}), 401, "unauthorized")
    body = assert_problem(run(client, "list_tasks", auth_headers, ["x"]), 422, "validation_error")
    assert body["errors"]["json"]
    bad_json = client.post(
        "/v1/commands/get_task",
        data="{nope",
        content_type="application/json",
        headers=auth_headers,
    )
    assert_problem(bad_json, 400, "bad_request")
    not_json = client.post(
        "/v1/commands/get_task", data="id=1", content_type="text/plain", headers=auth_headers
    )
    assert_problem(not_json, 415, "unsupported_media_type")

    # Isolation: another user's task is not found, whatever the command.
    task = create_task()["id"]
    bob = make_user("bob@example.com")
    for name in ("get_task", "update_task", "complete_task", "reopen_task", "delete_task"):
        assert_problem(run(client, name, bob, {"id": task}), 404, "not_found")
    assert result(run(client, "get_task", auth_headers, {"id": task}))["id"] == task


def test_commands_honour_if_match(client, auth_headers, create_task, make_app):
    task = create_task()["id"]
    stale = {**auth_headers, "If-Match": '"stale"'}
    for name, body in (
        ("update_task", {"id": task, "title": "y"}),
        ("complete_task", {"id": task}),
        ("delete_task", {"id": task}),
    ):
        assert_problem(run(client, name, stale, body), 412, "precondition_failed")
    etag = client.get(f"/v1/tasks/{task}", headers=auth_headers).headers["ETag"]
    fresh = {**auth_headers, "If-Match": etag}
    assert result(run(client, "update_task", fresh, {"id": task, "title": "y"}))["title"] == "y"

    strict = make_app(REQUIRE_IF_MATCH=True).test_client()
    response = strict.post(
        "/v1/commands/update_task", json={"id": task, "title": "z"}, headers=auth_headers
    )
    assert_problem(response, 428, "precondition_required")


def test_key_scopes_per_command(app, client, auth_headers):
    prefix = f"/v1/users/{user_id(client, auth_headers)}"
    reader = key_header(app, ["tasks:read"])
    writer = key_header(app, ["tasks:write"])
    created = result(run(client, "create_task", writer, {"title": "k"}, prefix))
    assert_problem(run(client, "create_task", reader, {"title": "k"}, prefix), 403, "forbidden")
    for name in ("get_task", "list_tasks"):
        body = {"id": created["id"]} if name == "get_task" else {}
        assert run(client, name, reader, body, prefix).status_code == 200
        assert_problem(run(client, name, writer, body, prefix), 403, "forbidden")
    for name in ("update_task", "complete_task", "reopen_task", "delete_task"):
        assert_problem(run(client, name, reader, {"id": created["id"]}, prefix), 403, "forbidden")
    assert_problem(run(client, "no_such_command", reader, {}, prefix), 404, "not_found")
    assert client.get(f"{prefix}/commands", headers=reader).status_code == 200
    stats_reader = key_header(app, ["stats:read"])
    assert run(client, "get_stats", stats_reader, {}, prefix).status_code == 200
    assert_problem(run(client, "get_stats", reader, {}, prefix), 403, "forbidden")


def test_get_stats_returns_what_its_rest_twin_returns(client, auth_headers, create_task):
    create_task(title="open", tags=["Work"])
    done = create_task(title="done", priority="high")
    client.post(f"/v1/tasks/{done['id']}/complete", headers=auth_headers)
    response = run(client, "get_stats", auth_headers, {"tz": "Europe/Paris"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["command"] == "get_stats"
    rest = client.get("/v1/stats?tz=Europe/Paris", headers=auth_headers).get_json()
    for figures in (body["result"], rest):
        figures.pop("generated_at")
    assert body["result"] == rest
    assert rest["total"] == 2
    assert rest["completed"] == 1
    assert rest["top_tags"] == [{"tag": "work", "open": 1, "completed": 0}]


def _history(app) -> list[dict[str, Any]]:
    """Entries in order, with what differs between two tasks (ids, clocks) left out."""
    with app.app_context():
        entries = db.session.scalars(sa.select(HistoryEntry).order_by(HistoryEntry.id)).all()
        return [
            {
                "task_id": str(entry.task_id),
                "action": entry.action,
                "actor": entry.actor,
                "changes": {
                    field: (
                        {side: value is not None for side, value in change.items()}
                        if field == "completed_at"
                        else change
                    )
                    for field, change in entry.changes.items()
                },
            }
            for entry in entries
        ]


@pytest.mark.parametrize("caller", ["user", "api_key"])
def test_command_and_rest_twin_write_the_same_history(app, client, auth_headers, caller):
    prefix = "/v1"
    headers = auth_headers
    if caller == "api_key":
        prefix = f"/v1/users/{user_id(client, auth_headers)}"
        headers = key_header(app, ["tasks:read", "tasks:write"])
    fields = {"title": "Twin", "priority": "low", "tags": ["x"], "due_date": "2030-01-01T00:00:00Z"}

    rest_task = client.post(f"{prefix}/tasks", json=fields, headers=headers).get_json()["id"]
    client.patch(f"{prefix}/tasks/{rest_task}", json={"priority": "high"}, headers=headers)
    client.post(f"{prefix}/tasks/{rest_task}/complete", headers=headers)
    client.post(f"{prefix}/tasks/{rest_task}/reopen", headers=headers)
    assert client.delete(f"{prefix}/tasks/{rest_task}", headers=headers).status_code == 204

    command_task = result(run(client, "create_task", headers, fields, prefix))["id"]
    for name, body in (
        ("update_task", {"id": command_task, "priority": "high"}),
        ("complete_task", {"id": command_task}),
        ("reopen_task", {"id": command_task}),
        ("delete_task", {"id": command_task}),
    ):
        result(run(client, name, headers, body, prefix))

    entries = _history(app)
    rest = [entry for entry in entries if entry["task_id"] == rest_task]
    command = [entry for entry in entries if entry["task_id"] == command_task]
    assert [entry["action"] for entry in rest] == [
        "created",
        "updated",
        "completed",
        "reopened",
        "deleted",
    ]
    for entry in (*rest, *command):
        del entry["task_id"]
    assert command == rest
    assert rest[0]["actor"]["type"] == caller
