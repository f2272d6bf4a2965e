"""Task CRUD, the completion commands, pagination and ETags."""

import json
import re
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from conftest import assert_problem

from taskapi.extensions import db
from taskapi.models import Task

TASK_FIELDS = {
    "id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "tags",
    "due_date",
    "reminder_at",
    "recurrence_rule",
    "is_recurring",
    "created_at",
    "updated_at",
}

FULL = {
    "title": "Weekly review",
    "description": "Look back at the week",
    "priority": "high",
    "tags": ["work", "review"],
    "due_date": "2026-12-07T09:00:00+00:00",
    "reminder_at": "2026-12-07T08:30:00+00:00",
    "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO",
}


def test_create_with_defaults(client, auth_headers):
    response = client.post("/v1/tasks", json={"title": "Buy milk"}, headers=auth_headers)
    assert response.status_code == 201
    task = response.get_json()
    assert set(task) == TASK_FIELDS
    uuid.UUID(task["id"])
    assert task == {
        **task,
        "title": "Buy milk",
        "description": None,
        "completed": False,
        "completed_at": None,
        "priority": "medium",
        "tags": [],
        "due_date": None,
        "reminder_at": None,
        "recurrence_rule": None,
        "is_recurring": False,
    }
    assert task["created_at"] == task["updated_at"]
    assert response.headers["Location"].endswith(f"/v1/tasks/{task['id']}")
    assert response.headers["ETag"]


def test_create_with_every_field(client, auth_headers):
    response = client.post("/v1/tasks", json=FULL, headers=auth_headers)
    assert response.status_code == 201
    task = response.get_json()
    assert {name: task[name] for name in FULL} == FULL
    assert task["is_recurring"] is True


def test_create_completed_sets_completed_at(client, auth_headers):
    task = client.post(
        "/v1/tasks", json={"title": "Done already", "completed": True}, headers=auth_headers
    ).get_json()
    assert task["completed"] is True
    assert task["completed_at"] is not None


def test_get_returns_the_task_with_its_etag(client, auth_headers, create_task):
    task = create_task(**FULL)
    response = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == task
    assert response.headers["ETag"]


def test_unknown_and_malformed_ids_are_not_found(client, auth_headers):
    for task_id in (uuid.uuid4(), "not-a-uuid", "1", "%00"):
        assert_problem(client.get(f"/v1/tasks/{task_id}", headers=auth_headers), 404, "not_found")
        assert_problem(
            client.patch(f"/v1/tasks/{task_id}", json={"title": "x"}, headers=auth_headers),
            404,
            "not_found",
        )
        assert_problem(
            client.post(f"/v1/tasks/{task_id}/complete", headers=auth_headers), 404, "not_found"
        )


def test_put_replaces_the_task(client, auth_headers, create_task):
    task = create_task(title="Old")
    body = {**FULL, "title": "New", "completed": True}
    response = client.put(f"/v1/tasks/{task['id']}", json=body, headers=auth_headers)
    assert response.status_code == 200
    replaced = response.get_json()
    assert {name: replaced[name] for name in body} == body
    assert replaced["id"] == task["id"]
    assert replaced["created_at"] == task["created_at"]
    assert replaced["updated_at"] > task["updated_at"]
    assert replaced["completed_at"] is not None
    assert response.headers["ETag"] != ""
    fetched = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert fetched.get_json() == replaced
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_put_requires_a_title(client, auth_headers, create_task):
    task = create_task()
    response = client.put(f"/v1/tasks/{task['id']}", json={"priority": "low"}, headers=auth_headers)
    body = assert_problem(response, 422, "validation_error")
    assert "title" in body["errors"]["json"]


def test_patch_changes_only_the_fields_sent(client, auth_headers, create_task):
    task = create_task(**FULL)
    response = client.patch(
        f"/v1/tasks/{task['id']}", json={"priority": "low"}, headers=auth_headers
    )
    assert response.status_code == 200
    patched = response.get_json()
    assert patched["priority"] == "low"
    unchanged = {k: v for k, v in task.items() if k not in ("priority", "updated_at")}
    assert {k: patched[k] for k in unchanged} == unchanged
    assert patched["updated_at"] > task["updated_at"]


def test_empty_patch_changes_nothing(client, auth_headers, create_task):
    task = create_task()
    response = client.patch(f"/v1/tasks/{task['id']}", json={}, headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == task


def test_delete(client, auth_headers, create_task):
    task = create_task()
    response = client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=auth_headers), 404, "not_found")
    assert_problem(client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers), 404, "not_found")


def test_complete_and_reopen(client, auth_headers, create_task):
    task = create_task()
    done = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers)
    assert done.status_code == 200
    assert done.headers["ETag"]
    body = done.get_json()
    assert set(body) == {"task", "next"}
    assert body["task"]["completed"] is True
    assert body["task"]["completed_at"] is not None
    assert body["next"] is None

    # The command's ETag is the task's, usable as If-Match for the next change.
    fetched = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert fetched.headers["ETag"] == done.headers["ETag"]
    assert fetched.get_json() == body["task"]

    again = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers).get_json()
    assert again == {"task": body["task"], "next": None}

    reopened = client.post(f"/v1/tasks/{task['id']}/reopen", headers=auth_headers)
    assert reopened.status_code == 200
    assert reopened.get_json()["task"]["completed"] is False
    assert reopened.get_json()["task"]["completed_at"] is None
    assert reopened.get_json()["next"] is None


def test_toggle_flips_the_state(client, auth_headers, create_task):
    task = create_task()
    first = client.post(f"/v1/tasks/{task['id']}/toggle", headers=auth_headers)
    assert first.status_code == 200
    assert first.get_json()["task"]["completed"] is True
    second = client.post(f"/v1/tasks/{task['id']}/toggle", headers=auth_headers)
    assert second.get_json()["task"]["completed"] is False
    assert second.get_json()["next"] is None


def test_completing_a_recurring_task_returns_the_next_occurrence(client, auth_headers, create_task):
    task = create_task(**FULL)
    body = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers).get_json()
    following = body["next"]
    assert following is not None
    assert following["id"] != task["id"]
    assert following["completed"] is False
    assert following["due_date"] == "2026-12-14T09:00:00+00:00"
    assert following["reminder_at"] == "2026-12-14T08:30:00+00:00"
    assert following["recurrence_rule"] == FULL["recurrence_rule"]


# Pagination ------------------------------------------------------------------


def links_of(response):
    header = response.headers.get("Link", "")
    return dict((rel, url) for url, rel in re.findall(r'<([^>]+)>;\s*rel="([a-z]+)"', header))


def test_list_returns_only_a_json_array(client, auth_headers, create_task):
    task = create_task()
    response = client.get("/v1/tasks", headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == [task]
    metadata = json.loads(response.headers["X-Pagination"])
    assert metadata == {
        "total": 1,
        "total_pages": 1,
        "first_page": 1,
        "last_page": 1,
        "page": 1,
    }
    assert set(links_of(response)) == {"first", "last"}


def test_empty_list(client, auth_headers):
    response = client.get("/v1/tasks", headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 0


def test_pagination_headers(client, auth_headers, create_task):
    for number in range(5):
        create_task(title=f"Task {number}")

    first = client.get("/v1/tasks?page_size=2", headers=auth_headers)
    assert len(first.get_json()) == 2
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
    }
    links = links_of(first)
    assert set(links) == {"first", "last", "next"}
    assert links["first"].endswith("/v1/tasks?page=1&page_size=2")
    assert links["last"].endswith("/v1/tasks?page=3&page_size=2")
    assert links["next"].endswith("/v1/tasks?page=2&page_size=2")

    middle = client.get("/v1/tasks?page=2&page_size=2", headers=auth_headers)
    metadata = json.loads(middle.headers["X-Pagination"])
    assert (metadata["page"], metadata["previous_page"], metadata["next_page"]) == (2, 1, 3)
    assert set(links_of(middle)) == {"first", "last", "prev", "next"}
    assert links_of(middle)["prev"].endswith("page=1&page_size=2")

    last = client.get("/v1/tasks?page=3&page_size=2", headers=auth_headers)
    assert len(last.get_json()) == 1
    metadata = json.loads(last.headers["X-Pagination"])
    assert "next_page" not in metadata
    assert metadata["previous_page"] == 2
    assert set(links_of(last)) == {"first", "last", "prev"}

    beyond = client.get("/v1/tasks?page=4&page_size=2", headers=auth_headers)
    assert beyond.status_code == 200
    assert beyond.get_json() == []


def test_pages_never_repeat_or_skip_a_task_even_with_equal_timestamps(
    app, client, auth_headers, create_task
):
    ids = [create_task(title=f"Task {number}")["id"] for number in range(7)]
    # Give most tasks the same creation time: only the id can order them.
    same = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        db.session.execute(
            sa.update(Task)
            .where(Task.id.in_([uuid.UUID(i) for i in ids[1:6]]))
            .values(created_at=same)
        )
        db.session.commit()

    seen = []
    url = "/v1/tasks?page_size=2"
    for _ in range(10):
        response = client.get(url, headers=auth_headers)
        assert response.status_code == 200
        seen += [task["id"] for task in response.get_json()]
        if "next" not in links_of(response):
            break
        url = links_of(response)["next"].replace("http://localhost", "")
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == set(ids)
    tied = [task_id for task_id in seen if task_id in ids[1:6]]
    assert tied == sorted(ids[1:6], key=uuid.UUID, reverse=True)
    # The untouched tasks are newer than 2026-11-01: they come first, newest first.
    assert seen[:2] == [ids[6], ids[0]]
    # Walking twice gives the same order.
    again = []
    for page in (1, 2, 3, 4):
        response = client.get(f"/v1/tasks?page={page}&page_size=2", headers=auth_headers)
        again += [task["id"] for task in response.get_json()]
    assert again == seen


def test_list_default_page_size_is_50(app, client, auth_headers, create_task):
    owner_id = create_task()["id"]
    with app.app_context():
        user_id = db.session.get(Task, uuid.UUID(owner_id)).user_id
        now = datetime.now(UTC)
        db.session.add_all(
            Task(user_id=user_id, title=f"Task {n}", created_at=now, updated_at=now)
            for n in range(50)
        )
        db.session.commit()
    response = client.get("/v1/tasks", headers=auth_headers)
    assert len(response.get_json()) == 50
    assert json.loads(response.headers["X-Pagination"])["total_pages"] == 2
    assert len(client.get("/v1/tasks?page=2", headers=auth_headers).get_json()) == 1


# ETags -----------------------------------------------------------------------


def test_if_none_match_answers_304(client, auth_headers, create_task):
    task = create_task()
    etag = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    response = client.get(
        f"/v1/tasks/{task['id']}", headers={**auth_headers, "If-None-Match": etag}
    )
    assert response.status_code == 304
    assert response.get_data() == b""
    other = client.get(
        f"/v1/tasks/{task['id']}", headers={**auth_headers, "If-None-Match": '"stale"'}
    )
    assert other.status_code == 200


def test_etag_changes_when_the_task_changes(client, auth_headers, create_task):
    task = create_task()
    before = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    patched = client.patch(
        f"/v1/tasks/{task['id']}", json={"title": "Changed"}, headers=auth_headers
    )
    assert patched.headers["ETag"] != before
    after = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    assert after == patched.headers["ETag"]


def test_stale_if_match_is_refused_and_changes_nothing(client, auth_headers, create_task):
    task = create_task()
    stale = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).headers["ETag"]
    current = client.patch(
        f"/v1/tasks/{task['id']}", json={"title": "Second"}, headers=auth_headers
    ).headers["ETag"]
    stored = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json()

    conditional = {**auth_headers, "If-Match": stale}
    calls = [
        client.patch(f"/v1/tasks/{task['id']}", json={"title": "Lost"}, headers=conditional),
        client.put(f"/v1/tasks/{task['id']}", json={"title": "Lost"}, headers=conditional),
        client.delete(f"/v1/tasks/{task['id']}", headers=conditional),
        client.post(f"/v1/tasks/{task['id']}/complete", headers=conditional),
        client.post(f"/v1/tasks/{task['id']}/toggle", headers=conditional),
    ]
    for response in calls:
        assert_problem(response, 412, "precondition_failed")
    assert client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json() == stored

    ok = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "Third"},
        headers={**auth_headers, "If-Match": current},
    )
    assert ok.status_code == 200
    assert ok.get_json()["title"] == "Third"


def test_if_match_is_required_when_configured(make_app, make_user):
    app = make_app(REQUIRE_IF_MATCH=True)
    client = app.test_client()
    headers = make_user("strict@example.com")
    created = client.post("/v1/tasks", json={"title": "Strict"}, headers=headers)
    assert created.status_code == 201
    task_id = created.get_json()["id"]
    etag = created.headers["ETag"]

    for response in (
        client.patch(f"/v1/tasks/{task_id}", json={"title": "x"}, headers=headers),
        client.put(f"/v1/tasks/{task_id}", json={"title": "x"}, headers=headers),
        client.delete(f"/v1/tasks/{task_id}", headers=headers),
    ):
        assert_problem(response, 428, "precondition_required")
    assert client.get(f"/v1/tasks/{task_id}", headers=headers).get_json()["title"] == "Strict"

    conditional = {**headers, "If-Match": etag}
    patched = client.patch(f"/v1/tasks/{task_id}", json={"title": "y"}, headers=conditional)
    assert patched.status_code == 200
    deleted = client.delete(
        f"/v1/tasks/{task_id}", headers={**headers, "If-Match": patched.headers["ETag"]}
    )
    assert deleted.status_code == 204


# History (written by every change, in the change's transaction) ----------------------


def history_of(app, task_id):
    from taskapi.models import HistoryEntry

    with app.app_context():
        entries = db.session.scalars(
            sa.select(HistoryEntry)
            .where(HistoryEntry.task_id == uuid.UUID(task_id))
            .order_by(HistoryEntry.id)
        ).all()
        return [(entry.action, entry.changes, entry.actor_type) for entry in entries]


def test_every_change_writes_exactly_one_history_entry(app, client, auth_headers, create_task):
    task = create_task(title="Tracked")
    url = f"/v1/tasks/{task['id']}"
    client.patch(url, json={"priority": "high"}, headers=auth_headers)
    client.patch(url, json={"priority": "high"}, headers=auth_headers)  # no change, no entry
    client.patch(url, json={"priority": "urgent"}, headers=auth_headers)  # refused, no entry
    client.post(f"{url}/complete", headers=auth_headers)
    client.post(f"{url}/complete", headers=auth_headers)  # already completed, no entry
    client.post(f"{url}/reopen", headers=auth_headers)
    client.delete(url, headers=auth_headers)

    entries = history_of(app, task["id"])
    assert [action for action, _, _ in entries] == [
        "created",
        "updated",
        "completed",
        "reopened",
        "deleted",
    ]
    assert all(actor == "user" for _, _, actor in entries)
    created, updated, completed, _, deleted = (changes for _, changes, _ in entries)
    assert created["title"] == {"old": None, "new": "Tracked"}
    assert updated == {"priority": {"old": "medium", "new": "high"}}
    assert completed["completed"] == {"old": False, "new": True}
    assert deleted["title"] == {"old": "Tracked", "new": None}


def test_history_ids_start_at_one_in_every_test(app, create_task):
    """Each test starts from empty tables, identity counters included."""
    from taskapi.models import HistoryEntry

    create_task()
    with app.app_context():
        assert db.session.scalars(sa.select(HistoryEntry.id)).all() == [1]
