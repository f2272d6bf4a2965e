"""CORS from CORS_ORIGINS, and rate limits (per address on credentials, per key/user elsewhere),
including limits shared by two app instances through a real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis
from conftest import PASSWORD, assert_problem, bearer, login, register
from service_clients import key_header, user_id

from taskapi import create_app
from taskapi.config import ConfigError
from taskapi.ratelimit import ProcessCounters

ORIGIN = "https://app.example.com"
REDIS_URL = "redis://127.0.0.1:6379/15"
EXPOSED = {"etag", "location", "x-pagination", "link", "x-request-id", "retry-after"}


def preflight(client, path="/v1/tasks", origin=ORIGIN):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match",
        },
    )


def test_no_cross_origin_access_by_default(client, auth_headers):
    response = preflight(client)
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.get("/v1/tasks", headers={**auth_headers, "Origin": ORIGIN})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_configured_origins_get_cors_headers(make_app, auth_headers):
    client = make_app(CORS_ORIGINS=[ORIGIN, "https://other.example.com"]).test_client()

    for path in ("/v1/tasks", f"/v1/users/{uuid.uuid4()}/commands/create_task"):
        response = preflight(client, path)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert {"authorization", "content-type", "if-match"} <= {
            name.strip() for name in allowed.split(",")
        }
        assert "Access-Control-Allow-Credentials" not in response.headers

    response = client.post(
        "/v1/tasks", json={"title": "x"}, headers={**auth_headers, "Origin": ORIGIN}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {
        name.strip().lower()
        for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed >= EXPOSED
    assert "Access-Control-Allow-Credentials" not in response.headers

    # Another origin gets nothing, on the preflight as on the request.
    assert (
        "Access-Control-Allow-Origin"
        not in preflight(client, origin="https://evil.example").headers
    )
    response = client.get("/v1/tasks", headers={**auth_headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_login_is_limited_per_client_address(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="3/minute").test_client()
    register(client, "ann@example.com")  # registration shares the budget: 1 of 3
    body = {"email": "ann@example.com", "password": "wrong password"}
    for _ in range(2):
        response = client.post("/v1/auth/login", json=body)
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert "Retry-After" not in response.headers  # only a refusal says when to retry
    response = client.post("/v1/auth/login", json={**body, "password": PASSWORD})
    problem = assert_problem(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert "3 per 1 minute" in problem["detail"]

    # Another address has its own budget.
    elsewhere = client.post(
        "/v1/auth/login",
        json={**body, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert elsewhere.status_code == 200


def test_api_is_limited_per_user_and_per_key(make_app):
    other = make_app(
        RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="4/minute", RATELIMIT_AUTH="100/minute"
    )
    client = other.test_client()
    register(client, "u1@example.com")
    register(client, "u2@example.com")
    first = bearer(login(client, "u1@example.com")["access_token"])
    second = bearer(login(client, "u2@example.com")["access_token"])
    # The budget is per user across endpoints: /me, /commands, then two lists use up 4.
    uid = user_id(client, first)
    assert client.get("/v1/commands", headers=first).status_code == 200
    for _ in range(2):
        assert client.get("/v1/tasks", headers=first).status_code == 200
    assert_problem(client.get("/v1/tasks", headers=first), 429, "rate_limited")
    assert client.get("/v1/tasks", headers=second).status_code == 200  # another user

    key = key_header(other, ["tasks:read"])
    for _ in range(4):
        assert client.get(f"/v1/users/{uid}/tasks", headers=key).status_code == 200
    response = client.get(f"/v1/users/{uid}/tasks", headers=key)
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0

    # Probes and docs are not limited.
    for _ in range(6):
        assert client.get("/health").status_code == 200


def _redis_or_skip() -> redis.Redis:
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {error}")
    return connection


@pytest.mark.parametrize(
    ("storage", "shared"), [(REDIS_URL, True), ("memory://", False)], ids=["redis", "memory"]
)
def test_limits_hold_across_instances_sharing_redis(make_app, storage, shared):
    connection = _redis_or_skip()
    prefix = f"taskapi-test-{uuid.uuid4().hex}"
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": storage,
        "RATELIMIT_KEY_PREFIX": prefix,
        "RATELIMIT_AUTH": "3/minute",
    }
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    body = {"email": "nobody@example.com", "password": "wrong password"}
    try:
        assert first.post("/v1/auth/login", json=body).status_code == 401
        assert second.post("/v1/auth/login", json=body).status_code == 401
        assert first.post("/v1/auth/login", json=body).status_code == 401
        response = second.post("/v1/auth/login", json=body)
        if shared:
            # Second's third attempt is the fourth in all: refused, whichever process serves it.
            assert_problem(response, 429, "rate_limited")
            assert connection.keys(f"*{prefix}*")
        else:
            # memory:// counts per process: this instance has seen one attempt only.
            assert response.status_code == 401
    finally:
        for name in connection.scan_iter(f"*{prefix}*"):
            connection.delete(name)


def test_unreachable_storage_fails_open(make_app, auth_headers):
    other = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        RATELIMIT_DEFAULT="1/minute",
    )
    client = other.test_client()
    for _ in range(3):
        assert client.get("/v1/tasks", headers=auth_headers).status_code == 200


def test_invalid_limit_settings_refuse_to_start():
    with pytest.raises(ConfigError, match="RATELIMIT_DEFAULT"):
        create_app({"RATELIMIT_DEFAULT": "lots", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_settings_come_from_the_environment():
    from taskapi.config import Config

    config = Config.from_env(
        {
            "RATELIMIT_ENABLED": "false",
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_AUTH": "5/minute",
            "APIKEY_ROTATION_GRACE_SECONDS": "30",
            "CORS_ORIGINS": f"{ORIGIN}, https://other.example.com",
        }
    )
    assert config["RATELIMIT_ENABLED"] is False
    assert config["RATELIMIT_STORAGE_URI"] == REDIS_URL
    assert config["RATELIMIT_AUTH"] == "5/minute"
    assert config["RATELIMIT_DEFAULT"] == "600/minute"
    assert config["APIKEY_ROTATION_GRACE_SECONDS"] == 30
    assert config["CORS_ORIGINS"] == [ORIGIN, "https://other.example.com"]
    assert Config.from_env({})["CORS_ORIGINS"] == []


def test_process_counters_count_in_fixed_windows(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("taskapi.ratelimit.time.time", lambda: clock[0])
    counters = ProcessCounters()
    assert [counters.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.incr("b", 60) == 1  # keys count apart
    assert counters.get_expiry("a") == 1060.0
    clock[0] = 1059.9
    assert counters.incr("a", 60) == 4  # still the same window
    clock[0] = 1060.0
    assert counters.incr("a", 60) == 1  # the window is over: a new one starts
    assert counters.get_expiry("a") == 1120.0


def test_process_counters_forget_expired_windows(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("taskapi.ratelimit.time.time", lambda: clock[0])
    counters = ProcessCounters()
    for number in range(100):
        counters.incr(f"caller-{number}", 10)
    clock[0] += ProcessCounters.SWEEP_INTERVAL  # every window above is over; a sweep is due
    counters.incr("late", 10)
    assert set(counters._windows) == {"late"}
