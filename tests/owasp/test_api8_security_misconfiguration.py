"""OWASP API8:2023 Security Misconfiguration: hardening headers, no TRACE, strict CORS, no stack
traces, and a production configuration that refuses a development secret."""

from __future__ import annotations

import pytest
from conftest import BASE_TEST_CONFIG, assert_problem
from sqlalchemy import text

from taskapi import create_app
from taskapi.config import DEV_SECRET, ConfigError
from taskapi.extensions import db


def _sample_responses(client, auth_headers, create_task):
    task = create_task()
    return {
        "health": client.get("/health"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "list": client.get("/v1/tasks", headers=auth_headers),
        "item": client.get(f"/v1/tasks/{task['id']}", headers=auth_headers),
        "created": client.post("/v1/tasks", json={"title": "x"}, headers=auth_headers),
        "me": client.get("/v1/auth/me", headers=auth_headers),
        "login": client.post("/v1/auth/login", json={"email": "a@example.com", "password": "x"}),
        "401": client.get("/v1/tasks"),
        "404": client.get("/v1/nothing-here", headers=auth_headers),
        "405": client.delete("/v1/tasks", headers=auth_headers),
        "422": client.post("/v1/tasks", json={}, headers=auth_headers),
    }


def test_api8_every_response_has_nosniff(client, auth_headers, create_task):
    for name, response in _sample_responses(client, auth_headers, create_task).items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name


def test_api8_api_responses_are_not_cacheable(client, auth_headers, create_task):
    for name, response in _sample_responses(client, auth_headers, create_task).items():
        if name in ("health", "openapi", "docs"):
            continue
        assert "no-store" in response.headers.get("Cache-Control", ""), name


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/auth/me", "/health", "/"])
def test_api8_trace_is_refused_and_echoes_nothing(client, auth_headers, path):
    response = client.open(path, method="TRACE", headers={**auth_headers, "X-Echo": "marker-123"})
    assert response.status_code in (404, 405)
    assert response.mimetype == "application/problem+json"
    assert "marker-123" not in response.get_data(as_text=True)
    assert auth_headers["Authorization"] not in response.get_data(as_text=True)


def test_api8_no_cors_by_default(client, auth_headers):
    response = client.get("/v1/tasks", headers={**auth_headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/v1/tasks",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_api8_cors_allows_only_configured_origins_and_never_credentials(make_app, make_user):
    app = make_app(CORS_ORIGINS=["https://app.example.com"])
    client = app.test_client()
    headers = make_user()
    allowed = client.get("/v1/tasks", headers={**headers, "Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get("/v1/tasks", headers={**headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    for response in (allowed, other):
        assert response.headers.get("Access-Control-Allow-Origin") != "*"


def _app_with_failing_routes(make_app):
    app = make_app()

    @app.get("/v1/_boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/passwd")

    @app.get("/v1/_bad_sql")
    def bad_sql():
        db.session.execute(text("SELECT secret_column FROM no_such_table"))

    return app


@pytest.mark.parametrize("path", ["/v1/_boom", "/v1/_bad_sql"])
def test_api8_a_500_shows_no_stack_trace_sql_or_detail(make_app, path):
    client = _app_with_failing_routes(make_app).test_client()
    response = client.get(path)
    body = assert_problem(response, 500, "internal_error")
    text_body = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret", "no_such_table", "SELECT", 'File "'):
        assert leak not in text_body
    assert body["detail"] == "The server could not complete the request."


@pytest.mark.parametrize("secret", [DEV_SECRET, "", "short-secret"])
def test_api8_production_refuses_a_development_or_weak_secret(secret):
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app({**BASE_TEST_CONFIG, "ENV": "production", "JWT_SECRET_KEY": secret})


def test_api8_production_runs_without_debug_and_logs_json(database_url):
    app = create_app(
        {
            **BASE_TEST_CONFIG,
            "ENV": "production",
            "JWT_SECRET_KEY": "s" * 48,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LOG_FORMAT": None,
            "TESTING": False,
        }
    )
    assert app.debug is False
    assert app.config["PROPAGATE_EXCEPTIONS"] is False
    assert app.config["LOG_FORMAT"] == "json"
    with app.app_context():
        db.engine.dispose()
