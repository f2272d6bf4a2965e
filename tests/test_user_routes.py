"""User-addressed routes `/v1/users/{user_id}/…`, API key scopes on each route family, and user
provisioning."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, assert_problem
from service_clients import ALL_SCOPES, key_header, make_admin, new_key, user_id

from taskapi.extensions import db
from taskapi.models import HistoryEntry
from taskapi.services import users


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to /v1 (or /v1/users/{user_id}); {task} is a fresh task of the owner
    scope: str | None  # None: any scope will do
    status: int
    body: Any = None


ROUTES = {
    "list tasks": Route("GET", "/tasks", "tasks:read", 200),
    "create task": Route("POST", "/tasks", "tasks:write", 201, {"title": "made"}),
    "get task": Route("GET", "/tasks/{task}", "tasks:read", 200),
    "replace task": Route("PUT", "/tasks/{task}", "tasks:write", 200, {"title": "new"}),
    "patch task": Route("PATCH", "/tasks/{task}", "tasks:write", 200, {"priority": "high"}),
    "delete task": Route("DELETE", "/tasks/{task}", "tasks:write", 204),
    "complete task": Route("POST", "/tasks/{task}/complete", "tasks:write", 200),
    "reopen task": Route("POST", "/tasks/{task}/reopen", "tasks:write", 200),
    "toggle task": Route("POST", "/tasks/{task}/toggle", "tasks:write", 200),
    "list commands": Route("GET", "/commands", None, 200),
    "command get_task": Route("POST", "/commands/get_task", "tasks:read", 200, {"id": "{task}"}),
    "command create_task": Route(
        "POST", "/commands/create_task", "tasks:write", 200, {"title": "by command"}
    ),
}


@pytest.fixture
def people(app, client, make_user):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    return {
        "alice": alice,
        "alice_id": user_id(client, alice),
        "bob": bob,
        "bob_id": user_id(client, bob),
        "admin": make_admin(app, client),
    }


def fresh_task(client, headers) -> str:
    response = client.post("/v1/tasks", json={"title": "target"}, headers=headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


def call(client, route: Route, prefix: str, headers, owner_headers) -> Any:
    needs_task = "{task}" in route.path or "{task}" in str(route.body)
    task = fresh_task(client, owner_headers) if needs_task else None
    path = prefix + route.path.replace("{task}", str(task))
    body = route.body
    if isinstance(body, dict):
        body = {k: (task if v == "{task}" else v) for k, v in body.items()}
    return client.open(path, method=route.method, json=body, headers=headers)


@pytest.mark.parametrize("name", list(ROUTES))
def test_user_addressed_route(app, client, people, name):
    route = ROUTES[name]
    alice = people["alice"]
    prefix = f"/v1/users/{people['alice_id']}"

    # A service key with the scope acts for the user of the path.
    response = call(client, route, prefix, key_header(app), alice)
    assert response.status_code == route.status, response.get_json()

    # A key lacking the scope: 403.
    if route.scope is not None:
        lacking = key_header(app, [scope for scope in ALL_SCOPES if scope != route.scope])
        body = assert_problem(call(client, route, prefix, lacking, alice), 403, "forbidden")
        assert route.scope in body["detail"]

    # The user's own token with its own id; another user's id: 404; an admin: any user.
    assert call(client, route, prefix, alice, alice).status_code == route.status
    assert_problem(call(client, route, prefix, people["bob"], alice), 404, "not_found")
    assert call(client, route, prefix, people["admin"], alice).status_code == route.status

    # Unknown and malformed user ids: 404, for keys and admins alike.
    for headers in (key_header(app), people["admin"]):
        for missing in (str(uuid.uuid4()), "not-a-uuid"):
            response = call(client, route, f"/v1/users/{missing}", headers, alice)
            assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("name", list(ROUTES))
def test_key_without_user_prefix_is_forbidden(app, client, people, name):
    route = ROUTES[name]
    body = assert_problem(
        call(client, route, "/v1", key_header(app), people["alice"]), 403, "forbidden"
    )
    assert "/v1/users/{user_id}" in body["detail"]
    assert call(client, route, "/v1", people["alice"], people["alice"]).status_code == route.status


def test_key_acts_only_on_the_addressed_users_data(app, client, people):
    headers = key_header(app)
    task = fresh_task(client, people["alice"])
    bob_prefix = f"/v1/users/{people['bob_id']}"
    assert_problem(client.get(f"{bob_prefix}/tasks/{task}", headers=headers), 404, "not_found")
    assert client.get(f"{bob_prefix}/tasks", headers=headers).get_json() == []
    response = client.post(f"{bob_prefix}/commands/get_task", json={"id": task}, headers=headers)
    assert_problem(response, 404, "not_found")

    alice_tasks = client.get(f"/v1/users/{people['alice_id']}/tasks", headers=headers)
    assert [item["id"] for item in alice_tasks.get_json()] == [task]


def test_user_tokens_only_endpoints_refuse_keys(app, client):
    for path in ("/v1/auth/me", "/v1/auth/logout"):
        method = "GET" if path.endswith("me") else "POST"
        response = client.open(path, method=method, headers=key_header(app))
        assert_problem(response, 403, "forbidden")


def test_disabled_user_cannot_be_addressed(app, client, people):
    with app.app_context():
        users.disable_user("alice@example.com")
    response = client.get(f"/v1/users/{people['alice_id']}/tasks", headers=key_header(app))
    assert_problem(response, 403, "forbidden")


def test_writes_through_a_key_are_audited_as_the_key(app, client, people):
    key, headers = new_key(app)
    prefix = f"/v1/users/{people['alice_id']}"
    created = client.post(f"{prefix}/tasks", json={"title": "audited"}, headers=headers)
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"{prefix}/tasks/{created.get_json()['id']}")
    task_id = created.get_json()["id"]
    assert client.post(f"{prefix}/tasks/{task_id}/complete", headers=headers).status_code == 200
    client.patch(f"/v1/tasks/{task_id}", json={"title": "by alice"}, headers=people["alice"])

    with app.app_context():
        entries = db.session.scalars(sa.select(HistoryEntry).order_by(HistoryEntry.id)).all()
        seen = [(entry.action, entry.actor, str(entry.user_id)) for entry in entries]
    assert seen == [
        ("created", {"type": "api_key", "id": str(key.id)}, people["alice_id"]),
        ("completed", {"type": "api_key", "id": str(key.id)}, people["alice_id"]),
        ("updated", {"type": "user", "id": people["alice_id"]}, people["alice_id"]),
    ]


def test_provision_users(app, client, people):
    headers = key_header(app, ["users:write"])
    response = client.post(
        "/v1/users", json={"email": " Carol@Example.com ", "name": "Carol"}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    carol = response.get_json()
    assert carol["email"] == "carol@example.com"
    assert carol["name"] == "Carol"
    assert carol["is_admin"] is False
    assert set(carol) == {"id", "email", "name", "is_admin", "created_at"}
    assert response.headers["Location"].endswith(f"/v1/users/{carol['id']}")

    fetched = client.get(f"/v1/users/{carol['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == carol

    # The provisioned user has no password: it cannot log in by itself.
    response = client.post("/v1/auth/login", json={"email": carol["email"], "password": PASSWORD})
    assert_problem(response, 401, "unauthorized")

    # A key with the tasks scopes now manages carol's tasks.
    tasks_key = key_header(app, ["tasks:write", "tasks:read"])
    created = client.post(f"/v1/users/{carol['id']}/tasks", json={"title": "x"}, headers=tasks_key)
    assert created.status_code == 201

    duplicate = client.post("/v1/users", json={"email": "CAROL@example.com"}, headers=headers)
    assert_problem(duplicate, 409, "conflict")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not an address"},
        {"email": "d@example.com", "password": "secret-password"},
        {"email": "d@example.com", "is_admin": True},
        {"email": "d@example.com", "name": "x" * 201},
        {"email": "d\u0000@example.com"},
    ],
)
def test_provision_validates_the_body(app, client, body):
    response = client.post("/v1/users", json=body, headers=key_header(app, ["users:write"]))
    problem = assert_problem(response, 422, "validation_error")
    assert "json" in problem["errors"]


def test_provision_needs_the_scope_or_an_admin(app, client, people):
    lacking = key_header(app, [scope for scope in ALL_SCOPES if scope != "users:write"])
    body = {"email": "e@example.com"}
    assert_problem(client.post("/v1/users", json=body, headers=lacking), 403, "forbidden")
    assert_problem(client.post("/v1/users", json=body, headers=people["alice"]), 403, "forbidden")
    assert_problem(client.post("/v1/users", json=body), 401, "unauthorized")
    assert client.post("/v1/users", json=body, headers=people["admin"]).status_code == 201

    # Reading a user: the key's users:write scope, the user itself, an admin; nobody else.
    path = f"/v1/users/{people['alice_id']}"
    assert_problem(client.get(path, headers=lacking), 403, "forbidden")
    assert client.get(path, headers=people["alice"]).get_json()["email"] == "alice@example.com"
    assert_problem(client.get(path, headers=people["bob"]), 404, "not_found")
    assert client.get(path, headers=people["admin"]).status_code == 200


def test_openapi_documents_both_families(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/v1/tasks",
        "/v1/tasks/{task_id}/complete",
        "/v1/commands/create_task",
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/tasks",
        "/v1/users/{user_id}/tasks/{task_id}/complete",
        "/v1/users/{user_id}/commands/complete_task",
    ):
        assert path in paths, path

    user_family = paths["/v1/users/{user_id}/tasks/{task_id}"]
    assert user_family["parameters"][0]["name"] == "user_id"
    get = user_family["get"]
    assert {"apiKeyAuth": []} in get["security"]
    assert get["x-api-key-scope"] == "tasks:read"
    assert {"401", "403", "404"} <= set(get["responses"])
    assert paths["/v1/tasks/{task_id}"]["get"]["security"] == [{"bearerAuth": []}]
    assert "apiKeyAuth" in spec["components"]["securitySchemes"]
