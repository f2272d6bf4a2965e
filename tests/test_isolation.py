"""A user never sees or changes another user's tasks: they answer 404 as if they did not exist."""

import pytest
from conftest import assert_problem


@pytest.fixture
def bob(make_user):
    return make_user("bob@example.com")


def route_calls(task_id):
    url = f"/v1/tasks/{task_id}"
    return [
        ("get", url, None),
        ("put", url, {"title": "Taken over"}),
        ("patch", url, {"title": "Taken over"}),
        ("patch", url, {"completed": True}),
        ("post", f"{url}/complete", None),
        ("post", f"{url}/reopen", None),
        ("post", f"{url}/toggle", None),
        ("delete", url, None),
    ]


@pytest.mark.parametrize("completed", [False, True])
def test_another_users_task_is_not_found_on_every_route(
    client, auth_headers, bob, create_task, completed
):
    task = create_task(title="Alice's secret", tags=["private"], completed=completed)
    url = f"/v1/tasks/{task['id']}"
    before = client.get(url, headers=auth_headers)

    for method, path, body in route_calls(task["id"]):
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(path, headers=bob, **kwargs)
        problem = assert_problem(response, 404, "not_found")
        assert "Alice" not in response.get_data(as_text=True), (method, path, problem)

    after = client.get(url, headers=auth_headers)
    assert after.status_code == 200
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]


def test_not_found_for_someone_elses_task_matches_an_unknown_id(
    client, auth_headers, bob, create_task
):
    task = create_task()
    foreign = assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=bob), 404, "not_found")
    unknown = assert_problem(
        client.get("/v1/tasks/00000000-0000-0000-0000-000000000000", headers=bob), 404, "not_found"
    )
    foreign.pop("request_id")
    unknown.pop("request_id")
    assert foreign == unknown


def test_stale_if_match_on_someone_elses_task_is_still_404(client, auth_headers, bob, create_task):
    task = create_task()
    response = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "x"},
        headers={**bob, "If-Match": '"whatever"'},
    )
    assert_problem(response, 404, "not_found")


def test_lists_contain_only_the_callers_tasks(client, auth_headers, bob, create_task):
    alices = {create_task(title=f"Alice {n}")["id"] for n in range(3)}
    bobs = {create_task(headers=bob, title="Bob's")["id"]}

    alice_list = client.get("/v1/tasks", headers=auth_headers)
    bob_list = client.get("/v1/tasks", headers=bob)
    assert {task["id"] for task in alice_list.get_json()} == alices
    assert {task["id"] for task in bob_list.get_json()} == bobs
    assert '"total": 1' in bob_list.headers["X-Pagination"]


def test_owners_can_still_use_every_route(client, auth_headers, create_task):
    """The control: the same calls succeed for the owner."""
    task = create_task()
    expected = {
        "get": 200,
        "put": 200,
        "patch": 200,
        "post": 200,
        "delete": 204,
    }
    for method, path, body in route_calls(task["id"]):
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(path, headers=auth_headers, **kwargs)
        assert response.status_code == expected[method], (method, path, response.get_json())
    assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=auth_headers), 404, "not_found")
