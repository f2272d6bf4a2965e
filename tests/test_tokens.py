"""Token edge cases: every bad token is a 401 problem with `WWW-Authenticate: Bearer`."""

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from conftest import PASSWORD, assert_unauthorized, bearer, login, register

from taskapi.extensions import db
from taskapi.models import User

SECRET = "test-secret-" + "x" * 40  # BASE_TEST_CONFIG's JWT secret


@pytest.fixture
def tokens(client):
    register(client, "tess@example.com")
    return login(client, "tess@example.com")


def claims_of(token):
    return jwt.decode(token, SECRET, algorithms=["HS256"])


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_valid_token_is_accepted(client, tokens):
    """The control for every case below: the unaltered token works."""
    assert client.get("/v1/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    assert client.get("/v1/tasks", headers=bearer(tokens["access_token"])).status_code == 200


def test_a_re_signed_token_with_the_right_secret_is_accepted(client, tokens):
    """Proves the crafted tokens below fail for the altered part, not for the crafting."""
    token = jwt.encode(claims_of(tokens["access_token"]), SECRET, algorithm="HS256")
    assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 200


def test_expired_access_token(client, tokens):
    claims = {**claims_of(tokens["access_token"]), "exp": int(time.time()) - 10}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    body = assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))
    assert "expired" in body["detail"]


def test_token_expires_with_its_configured_lifetime(make_app):
    # 2 s, not 1: `exp` is truncated to whole seconds, so a 1 s token may live only a few ms.
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=2))
    client = app.test_client()
    register(client, "brief@example.com")
    tokens = login(client, "brief@example.com")
    assert tokens["expires_in"] == 2
    assert client.get("/v1/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    time.sleep(2.1)
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(tokens["access_token"])))


def test_bad_signature(client, tokens):
    token = jwt.encode(claims_of(tokens["access_token"]), "another-secret-" + "y" * 40)
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


def test_tampered_payload(client, tokens):
    header, _, signature = tokens["access_token"].split(".")
    claims = {**claims_of(tokens["access_token"]), "sub": "00000000-0000-0000-0000-000000000000"}
    token = f"{header}.{b64(claims)}.{signature}"
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token(client, tokens, alg):
    claims = claims_of(tokens["access_token"])
    token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "",
    ],
)
def test_garbage_or_malformed_authorization(client, authorization):
    assert_unauthorized(client.get("/v1/auth/me", headers={"Authorization": authorization}))


def test_token_without_bearer_prefix(client, tokens):
    response = client.get("/v1/auth/me", headers={"Authorization": tokens["access_token"]})
    assert_unauthorized(response)


def test_missing_authorization_on_every_protected_route(client):
    task_id = "00000000-0000-0000-0000-000000000000"
    calls = [
        ("get", "/v1/auth/me"),
        ("post", "/v1/auth/logout"),
        ("post", "/v1/auth/refresh"),
        ("get", "/v1/tasks"),
        ("post", "/v1/tasks"),
        ("get", f"/v1/tasks/{task_id}"),
        ("put", f"/v1/tasks/{task_id}"),
        ("patch", f"/v1/tasks/{task_id}"),
        ("delete", f"/v1/tasks/{task_id}"),
        ("post", f"/v1/tasks/{task_id}/complete"),
        ("post", f"/v1/tasks/{task_id}/reopen"),
        ("post", f"/v1/tasks/{task_id}/toggle"),
    ]
    for method, path in calls:
        # An invalid body must not answer 422 before the missing token answers 401.
        kwargs = {"json": {"bogus": 1}} if method in ("post", "put", "patch") else {}
        assert_unauthorized(getattr(client, method)(path, **kwargs))


def test_refresh_token_is_not_an_access_token(client, tokens):
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(tokens["refresh_token"])))
    assert_unauthorized(client.get("/v1/tasks", headers=bearer(tokens["refresh_token"])))
    assert_unauthorized(client.post("/v1/auth/logout", headers=bearer(tokens["refresh_token"])))


def test_access_token_is_not_a_refresh_token(client, tokens):
    assert_unauthorized(client.post("/v1/auth/refresh", headers=bearer(tokens["access_token"])))


def test_disabled_user_tokens_stop_working_at_once(app, client, tokens):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "disable", "tess@example.com"])
    assert result.exit_code == 0, result.output
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(tokens["access_token"])))
    assert_unauthorized(client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"])))
    assert_unauthorized(
        client.post("/v1/auth/login", json={"email": "tess@example.com", "password": PASSWORD})
    )


def test_token_of_a_deleted_user(app, client, tokens):
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.email == "tess@example.com"))
        db.session.commit()
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(tokens["access_token"])))
    assert_unauthorized(client.post("/v1/auth/refresh", headers=bearer(tokens["refresh_token"])))


@pytest.mark.parametrize(
    "change", [{"sub": "not-a-uuid"}, {"sub": 12345}, {"sub": None}, {"jti": None}, {"jti": 7}]
)
def test_correctly_signed_token_with_bad_claims(client, tokens, change):
    claims = {**claims_of(tokens["access_token"]), **change}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


@pytest.mark.parametrize("claim", ["sub", "jti"])
def test_correctly_signed_token_missing_a_claim(client, tokens, claim):
    claims = claims_of(tokens["access_token"])
    del claims[claim]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))
