"""OWASP API5:2023 Broken Function Level Authorization.

What exists today: every operation answers only the methods it documents (others are 405 with
`Allow`, never run), registration can be switched off, and an administrator's token gives no
reach into other users' data through the routes that address the caller's own data (the contract
gives admins the /v1/users/{id}/… prefix for that, not /v1/tasks).
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD, assert_problem, bearer, login
from inventory import NOT_API_OPERATIONS, served_operations

ALL_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_api5_undocumented_methods_are_405_with_allow(app, client, auth_headers, create_task):
    task = create_task()
    for path, methods in served_operations(app).items():
        if path in NOT_API_OPERATIONS:
            continue
        url = path.replace("{task_id}", task["id"])
        for method in sorted(ALL_METHODS - methods):
            response = client.open(url, method=method, headers=auth_headers, json={})
            assert_problem(response, 405, "method_not_allowed")
            allowed = {item.strip() for item in response.headers["Allow"].split(",")}
            assert methods <= allowed, (method, path)
    # None of those calls changed the task.
    assert client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json() == task


def test_api5_registration_switched_off_is_403_and_creates_nobody(make_app):
    client = make_app(REGISTRATION_ENABLED=False).test_client()
    response = client.post(
        "/v1/auth/register", json={"email": "x@example.com", "password": PASSWORD}
    )
    assert_problem(response, 403, "forbidden")
    refused = client.post("/v1/auth/login", json={"email": "x@example.com", "password": PASSWORD})
    assert_problem(refused, 401, "unauthorized")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_api5_an_admin_has_no_reach_into_others_tasks_through_own_routes(
    app, client, create_task, method
):
    task = create_task()
    result = app.test_cli_runner().invoke(
        args=["users", "create", "root@example.com", "--admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    admin = bearer(login(client, "root@example.com")["access_token"])
    assert client.get("/v1/auth/me", headers=admin).get_json()["is_admin"] is True
    response = getattr(client, method)(
        f"/v1/tasks/{task['id']}", headers=admin, json={"title": "x"}
    )
    assert_problem(response, 404, "not_found")
    assert client.get("/v1/tasks", headers=admin).get_json() == []
