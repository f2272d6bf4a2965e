"""End-to-end happy path: register, log in, create, read, change, complete, delete."""

from conftest import assert_problem


def test_task_lifecycle(client, auth_headers):
    created = client.post("/v1/tasks", json={"title": "  Write report  "}, headers=auth_headers)
    assert created.status_code == 201
    task = created.get_json()
    assert task["title"] == "Write report"
    assert task["priority"] == "medium"
    assert task["tags"] == []
    assert task["completed"] is False
    assert created.headers["Location"].endswith(f"/v1/tasks/{task['id']}")
    assert created.headers["ETag"]

    fetched = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == task
    assert fetched.headers["ETag"] == created.headers["ETag"]

    patched = client.patch(
        f"/v1/tasks/{task['id']}", json={"priority": "high"}, headers=auth_headers
    )
    assert patched.status_code == 200
    assert patched.get_json()["priority"] == "high"

    done = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers)
    assert done.status_code == 200
    assert done.get_json()["task"]["completed"] is True
    assert done.get_json()["task"]["completed_at"] is not None
    assert done.get_json()["next"] is None

    deleted = client.delete(f"/v1/tasks/{task['id']}", headers=auth_headers)
    assert deleted.status_code == 204
    assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=auth_headers), 404, "not_found")
