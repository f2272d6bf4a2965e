"""OWASP API3:2023 Broken Object Property Level Authorization: no mass assignment, no over-exposure.

Read-only and server-owned properties (id, user_id, completed_at, created_at, updated_at,
is_recurring, is_admin …) cannot be set by any body (422, nothing stored), and no response ever
carries a password or its hash.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import PASSWORD, assert_problem, login, register

SERVER_OWNED_TASK_FIELDS = {
    "id": str(uuid.uuid4()),
    "user_id": str(uuid.uuid4()),
    "completed_at": "2020-01-01T00:00:00Z",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "is_recurring": True,
    "recurrence_start": "2020-01-01T00:00:00Z",
}


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED_TASK_FIELDS.items())
def test_api3_server_owned_task_fields_cannot_be_assigned(
    client, auth_headers, create_task, field, value
):
    task = create_task()
    url = f"/v1/tasks/{task['id']}"
    attempts = [
        client.post("/v1/tasks", json={"title": "x", field: value}, headers=auth_headers),
        client.put(url, json={"title": "x", field: value}, headers=auth_headers),
        client.patch(url, json={field: value}, headers=auth_headers),
    ]
    for response in attempts:
        body = assert_problem(response, 422, "validation_error")
        assert field in body["errors"]["json"]
    assert client.get(url, headers=auth_headers).get_json() == task
    assert len(client.get("/v1/tasks", headers=auth_headers).get_json()) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_admin", True), ("id", str(uuid.uuid4())), ("is_active", True), ("created_at", "2020")],
)
def test_api3_registration_cannot_assign_privileged_fields(client, field, value):
    response = client.post(
        "/v1/auth/register",
        json={"email": "eve@example.com", "password": PASSWORD, field: value},
    )
    assert_problem(response, 422, "validation_error")
    # Nothing was created: the address is still free, and registering it makes a normal user.
    user = register(client, "eve@example.com")
    assert user["is_admin"] is False


def test_api3_no_response_carries_a_password_or_its_hash(client):
    responses = [
        client.post("/v1/auth/register", json={"email": "p@example.com", "password": PASSWORD})
    ]
    tokens = login(client, "p@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    responses += [
        client.post("/v1/auth/login", json={"email": "p@example.com", "password": PASSWORD}),
        client.post("/v1/auth/login", json={"email": "p@example.com", "password": "wrong-pass"}),
        client.get("/v1/auth/me", headers=headers),
        client.post("/v1/auth/register", json={"email": "p@example.com", "password": PASSWORD}),
    ]
    for response in responses:
        text = response.get_data(as_text=True)
        assert PASSWORD not in text
        assert "$argon2" not in text
        if response.is_json and isinstance(response.get_json(), dict):
            assert not {"password", "password_hash"} & set(response.get_json())
    me = responses[3].get_json()
    assert set(me) == {"id", "email", "name", "is_admin", "created_at"}
