"""Accounts and tokens: register, login, refresh with rotation, logout, me; password storage."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, assert_problem, assert_unauthorized, bearer, login, register

from taskapi.extensions import db
from taskapi.models import User

USER_FIELDS = {"id", "email", "name", "is_admin", "created_at"}


def test_register_returns_the_user(client):
    response = client.post(
        "/v1/auth/register",
        json={"email": "  Alice@Example.COM ", "password": PASSWORD, "name": "Alice"},
    )
    assert response.status_code == 201
    user = response.get_json()
    assert set(user) == USER_FIELDS
    assert user["email"] == "alice@example.com"
    assert user["name"] == "Alice"
    assert user["is_admin"] is False
    assert user["created_at"].endswith("+00:00")


def test_register_name_is_optional(client):
    assert register(client, "noname@example.com")["name"] is None


def test_register_duplicate_email_is_a_conflict_case_insensitively(client):
    register(client, "bob@example.com")
    response = client.post(
        "/v1/auth/register", json={"email": "BOB@example.com", "password": PASSWORD}
    )
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "a b@example.com", "", 42, None]
)
def test_register_rejects_a_bad_email(client, email):
    response = client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    body = assert_problem(response, 422, "validation_error")
    assert "email" in body["errors"]["json"]


@pytest.mark.parametrize("length", [0, 7, 129])
def test_register_rejects_a_password_outside_8_to_128_characters(client, length):
    response = client.post(
        "/v1/auth/register", json={"email": "short@example.com", "password": "p" * length}
    )
    body = assert_problem(response, 422, "validation_error")
    assert "password" in body["errors"]["json"]
    assert (
        client.post(
            "/v1/auth/login", json={"email": "short@example.com", "password": "p" * length}
        ).status_code
        == 401
    )


@pytest.mark.parametrize("length", [8, 128])
def test_register_accepts_passwords_of_8_and_128_characters(client, length):
    password = "p" * length
    register(client, f"len{length}@example.com", password)
    login(client, f"len{length}@example.com", password)


def test_register_rejects_unknown_and_read_only_fields(client):
    for extra in ({"is_admin": True}, {"id": "x"}, {"role": "admin"}):
        response = client.post(
            "/v1/auth/register",
            json={"email": "sneaky@example.com", "password": PASSWORD, **extra},
        )
        body = assert_problem(response, 422, "validation_error")
        assert set(body["errors"]["json"]) == set(extra)


def test_register_is_forbidden_when_disabled(make_app):
    app = make_app(REGISTRATION_ENABLED=False)
    response = app.test_client().post(
        "/v1/auth/register", json={"email": "closed@example.com", "password": PASSWORD}
    )
    assert_problem(response, 403, "forbidden")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_login_returns_a_token_pair(client):
    register(client, "carol@example.com")
    response = client.post(
        "/v1/auth/login", json={"email": "CAROL@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    tokens = response.get_json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 15 * 60
    assert tokens["access_token"] != tokens["refresh_token"]


def test_login_failure_is_identical_for_unknown_email_and_wrong_password(client):
    register(client, "dave@example.com")
    wrong_password = client.post(
        "/v1/auth/login", json={"email": "dave@example.com", "password": "wrong password"}
    )
    unknown_email = client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    first = assert_unauthorized(wrong_password)
    second = assert_unauthorized(unknown_email)
    first.pop("request_id")
    second.pop("request_id")
    assert first == second


def test_login_validates_its_body(client):
    body = assert_problem(
        client.post("/v1/auth/login", json={"email": "x@example.com"}), 422, "validation_error"
    )
    assert "password" in body["errors"]["json"]


def test_me_returns_the_logged_in_user(client, auth_headers):
    response = client.get("/v1/auth/me", headers=auth_headers)
    assert response.status_code == 200
    user = response.get_json()
    assert set(user) == USER_FIELDS
    assert user["email"] == "alice@example.com"


def test_me_needs_a_token(client):
    assert_unauthorized(client.get("/v1/auth/me"))


def test_refresh_rotates_the_refresh_token(client):
    register(client, "erin@example.com")
    tokens = login(client, "erin@example.com")

    response = client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200
    fresh = response.get_json()
    assert set(fresh) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert client.get("/v1/auth/me", headers=bearer(fresh["access_token"])).status_code == 200

    # The used refresh token is revoked; the new one works once.
    assert_unauthorized(client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"])))
    rotated = client.post("/v1/auth/refresh", headers=bearer(fresh["refresh_token"]))
    assert rotated.status_code == 200
    assert_unauthorized(client.post("/v1/auth/refresh", headers=bearer(fresh["refresh_token"])))


def test_logout_revokes_that_access_token_at_once(client):
    register(client, "frank@example.com")
    first = login(client, "frank@example.com")
    second = login(client, "frank@example.com")

    response = client.post("/v1/auth/logout", headers=bearer(first["access_token"]))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(first["access_token"])))
    assert_unauthorized(client.post("/v1/auth/logout", headers=bearer(first["access_token"])))
    # Only that token: another session of the same user keeps working.
    assert client.get("/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_revocation_is_stored_in_the_database(client, make_app):
    """Another process (here another app on the same database) sees the revocation."""
    register(client, "grace@example.com")
    tokens = login(client, "grace@example.com")
    assert client.post("/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    other = make_app().test_client()
    assert_unauthorized(other.get("/v1/auth/me", headers=bearer(tokens["access_token"])))


def test_password_is_stored_as_an_argon2id_hash(app, client):
    register(client, "heidi@example.com")
    with app.app_context():
        stored = db.session.scalar(
            sa.select(User.password_hash).where(User.email == "heidi@example.com")
        )
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_password_never_appears_in_a_response_or_a_log(client, caplog):
    secret = "Zq9-very-distinctive-secret"
    taskapi_log = logging.getLogger("taskapi")
    taskapi_log.addHandler(caplog.handler)
    previous_level = taskapi_log.level
    taskapi_log.setLevel(logging.DEBUG)
    try:
        responses = [
            client.post(
                "/v1/auth/register", json={"email": "ivan@example.com", "password": secret}
            ),
            client.post(
                "/v1/auth/register", json={"email": "ivan@example.com", "password": secret}
            ),
            client.post("/v1/auth/register", json={"email": "bad", "password": secret}),
            client.post("/v1/auth/login", json={"email": "ivan@example.com", "password": secret}),
            client.post(
                "/v1/auth/login", json={"email": "ivan@example.com", "password": secret + "x"}
            ),
        ]
        tokens = responses[3].get_json()
        responses.append(client.get("/v1/auth/me", headers=bearer(tokens["access_token"])))
    finally:
        taskapi_log.removeHandler(caplog.handler)
        taskapi_log.setLevel(previous_level)

    assert [r.status_code for r in responses] == [201, 409, 422, 200, 401, 200]
    for response in responses:
        assert secret not in response.get_data(as_text=True)
        assert "password" not in (response.get_json() or {})
    assert caplog.records, "the requests were logged"
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert secret not in text
        assert tokens["access_token"] not in text


def test_concurrent_reuse_of_a_refresh_token_succeeds_once(app, client):
    register(client, "racer@example.com")
    refresh_token = login(client, "racer@example.com")["refresh_token"]
    barrier = threading.Barrier(4)

    def refresh():
        barrier.wait(timeout=10)
        return app.test_client().post("/v1/auth/refresh", headers=bearer(refresh_token))

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: refresh(), range(4)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401, 401, 401], [r.get_json() for r in responses]
    for response in responses:
        if response.status_code == 401:
            assert_unauthorized(response)
