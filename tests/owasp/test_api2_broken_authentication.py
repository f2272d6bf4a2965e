"""OWASP API2:2023 Broken Authentication.

Every token that is missing, malformed, forged, expired, revoked, of the wrong type or of a
disabled user is a 401 with `WWW-Authenticate: Bearer`; login does not tell an unknown address
from a wrong password; and no password, token or key ever appears in a log line or an error body.
"""

from __future__ import annotations

import logging
import time
import uuid

import jwt as pyjwt
import pytest
from conftest import PASSWORD, assert_problem, bearer, login, register

PROTECTED = [("get", "/v1/auth/me"), ("get", "/v1/tasks"), ("post", "/v1/tasks")]


def _claims(user_id: str, **overrides):
    now = int(time.time())
    claims = {
        "sub": user_id,
        "jti": str(uuid.uuid4()),
        "type": "access",
        "fresh": False,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _forged_tokens(app, user_id: str) -> dict[str, str]:
    secret = app.config["JWT_SECRET_KEY"]
    return {
        "wrong secret": pyjwt.encode(_claims(user_id), "another-secret-" + "y" * 40, "HS256"),
        "alg none": pyjwt.encode(_claims(user_id), None, algorithm="none"),
        "expired": pyjwt.encode(_claims(user_id, exp=int(time.time()) - 60), secret, "HS256"),
        "not yet valid": pyjwt.encode(
            _claims(user_id, nbf=int(time.time()) + 600), secret, "HS256"
        ),
        "unknown user": pyjwt.encode(_claims(str(uuid.uuid4())), secret, "HS256"),
        "subject not a uuid": pyjwt.encode(_claims("1 OR 1=1"), secret, "HS256"),
        "no subject": pyjwt.encode(
            {k: v for k, v in _claims(user_id).items() if k != "sub"}, secret, "HS256"
        ),
        "no jti": pyjwt.encode(
            {k: v for k, v in _claims(user_id).items() if k != "jti"}, secret, "HS256"
        ),
        "refresh as access": pyjwt.encode(_claims(user_id, type="refresh"), secret, "HS256"),
        "garbage": "not.a.jwt",
        "empty": "",
    }


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_api2_every_bad_token_is_401_with_www_authenticate(app, client, method, path):
    user = register(client, "victim@example.com")
    for label, token in _forged_tokens(app, user["id"]).items():
        for header in (f"Bearer {token}", token, f"Basic {token}"):
            response = getattr(client, method)(path, headers={"Authorization": header}, json={})
            body = assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), label
            assert token not in body["detail"] or not token, label
    assert_problem(getattr(client, method)(path, json={}), 401, "unauthorized")


def test_api2_revoked_and_disabled_users_tokens_stop_working(app, client):
    register(client, "leaving@example.com")
    tokens = login(client, "leaving@example.com")
    headers = bearer(tokens["access_token"])
    assert client.post("/v1/auth/logout", headers=headers).status_code == 204
    assert_problem(client.get("/v1/auth/me", headers=headers), 401, "unauthorized")

    tokens = login(client, "leaving@example.com")
    result = app.test_cli_runner().invoke(args=["users", "disable", "leaving@example.com"])
    assert result.exit_code == 0, result.output
    assert_problem(
        client.get("/v1/auth/me", headers=bearer(tokens["access_token"])), 401, "unauthorized"
    )
    refreshed = client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert_problem(refreshed, 401, "unauthorized")
    relogin = client.post(
        "/v1/auth/login", json={"email": "leaving@example.com", "password": PASSWORD}
    )
    assert_problem(relogin, 401, "unauthorized")


def test_api2_access_and_refresh_tokens_are_not_interchangeable(client):
    register(client, "pair@example.com")
    tokens = login(client, "pair@example.com")
    wrong_way = client.post("/v1/auth/refresh", headers=bearer(tokens["access_token"]))
    assert_problem(wrong_way, 401, "unauthorized")
    assert_problem(
        client.get("/v1/tasks", headers=bearer(tokens["refresh_token"])), 401, "unauthorized"
    )
    rotated = client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert rotated.status_code == 200
    replayed = client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert_problem(replayed, 401, "unauthorized")


def test_api2_login_does_not_reveal_which_accounts_exist(client):
    register(client, "known@example.com")
    unknown = client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    wrong = client.post("/v1/auth/login", json={"email": "known@example.com", "password": "x" * 12})
    first, second = (
        assert_problem(unknown, 401, "unauthorized"),
        assert_problem(wrong, 401, "unauthorized"),
    )
    first.pop("request_id")
    second.pop("request_id")
    assert first == second


def test_api2_no_password_token_or_key_in_logs_or_error_bodies(app, client, caplog):
    secrets = [PASSWORD, "Wrong-Password-123", app.config["JWT_SECRET_KEY"]]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="taskapi")
    root = logging.getLogger("taskapi")
    root.addHandler(caplog.handler)  # the app's logger does not propagate to the root logger
    try:
        bodies = []
        register(client, "secretive@example.com")
        tokens = login(client, "secretive@example.com")
        secrets += [tokens["access_token"], tokens["refresh_token"]]
        bad_token = tokens["access_token"][:-4] + "AAAA"
        secrets.append(bad_token)
        api_key = "tk_live_" + "k" * 40
        secrets.append(api_key)
        calls = [
            lambda: client.post(
                "/v1/auth/login",
                json={"email": "secretive@example.com", "password": "Wrong-Password-123"},
            ),
            lambda: client.post(
                "/v1/auth/register", json={"email": "secretive@example.com", "password": PASSWORD}
            ),
            lambda: client.post(
                "/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD}
            ),
            lambda: client.get("/v1/tasks", headers=bearer(bad_token)),
            lambda: client.get("/v1/tasks", headers=bearer(tokens["refresh_token"])),
            lambda: client.get("/v1/tasks", headers={"X-API-Key": api_key}),
            lambda: client.post("/v1/auth/refresh", headers=bearer(tokens["access_token"])),
            lambda: client.get("/v1/auth/me", headers=bearer(tokens["access_token"])),
            lambda: client.post("/v1/auth/logout", headers=bearer(tokens["access_token"])),
            lambda: client.get("/v1/auth/me", headers=bearer(tokens["access_token"])),
        ]
        for call in calls:
            bodies.append(call().get_data(as_text=True))
    finally:
        root.removeHandler(caplog.handler)
    lines = [record.getMessage() + " " + str(record.__dict__) for record in caplog.records]
    assert any("/v1/auth/login" in line for line in lines), "the access log was not captured"
    for secret in secrets:
        for line in lines:
            assert secret not in line
        for body in bodies:
            assert secret not in body
