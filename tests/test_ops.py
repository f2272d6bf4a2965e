"""Operations: liveness, readiness, Swagger UI served offline, and the OpenAPI document."""

import re
import sqlite3
import uuid
from typing import Any

import pytest
from conftest import BASE_TEST_CONFIG, assert_problem
from flask_jwt_extended import create_access_token
from openapi_spec_validator import validate

from taskapi import create_app
from taskapi.extensions import db


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def standalone_app():
    """Apps built outside the test database (their engines are disposed afterwards)."""
    built = []

    def factory(**overrides: Any):
        app = create_app({**BASE_TEST_CONFIG, **overrides})
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_ready_is_503_when_the_database_is_unreachable(standalone_app):
    app = standalone_app(
        SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/unreachable",
        DB_CONNECT_TIMEOUT=1,
    )
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["connect_timeout"] == 1
    client = app.test_client()
    response = client.get("/ready")
    body = assert_problem(response, 503, "service_unavailable")
    assert response.headers.get("Retry-After")
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert body["detail"]
    # Liveness does not touch the database.
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}


def test_api_route_is_503_when_the_database_is_unreachable(standalone_app):
    app = standalone_app(
        SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/unreachable",
        DB_CONNECT_TIMEOUT=1,
    )
    response = app.test_client().post(
        "/v1/auth/login", json={"email": "x@example.com", "password": "whatever1"}
    )
    assert_problem(response, 503, "service_unavailable")


def test_authenticated_route_is_503_when_the_database_is_unreachable(standalone_app):
    """The token check needs the database: its failure is a 503, not a 401 or a 500."""
    app = standalone_app(
        SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/unreachable",
        DB_CONNECT_TIMEOUT=1,
    )
    with app.app_context():
        token = create_access_token(identity=str(uuid.uuid4()))
    response = app.test_client().get("/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 503, "service_unavailable")


def test_ready_is_503_when_the_schema_is_not_migrated(standalone_app, tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    app = standalone_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    client = app.test_client()
    body = assert_problem(client.get("/ready"), 503, "service_unavailable")
    assert "migrat" in body["detail"] or "initialised" in body["detail"]
    assert client.get("/health").status_code == 200


def test_ready_is_503_when_the_schema_is_behind_head(standalone_app, tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0000')")
    app = standalone_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    body = assert_problem(app.test_client().get("/ready"), 503, "service_unavailable")
    assert "latest migration" in body["detail"]


# Swagger UI ---------------------------------------------------------------------


def test_docs_use_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in html
    assert not re.search(r"https?://", html), "the page must not load anything from a CDN"
    assert not re.search(r"""(src|href)=["']//""", html), "no protocol-relative URLs either"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert "/docs/assets/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert asset.startswith("/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.get_data()) > 1000, asset


def test_swagger_ui_bundle_is_served(client):
    response = client.get("/docs/assets/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert b"SwaggerUIBundle" in response.get_data()


def test_docs_assets_cannot_escape_their_directory(client):
    for path in ("/docs/assets/../../taskapi/config.py", "/docs/assets/%2e%2e/%2e%2e/setup.cfg"):
        response = client.get(path)
        assert response.status_code == 404


# OpenAPI ---------------------------------------------------------------------------


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_openapi_has_both_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    me = spec["paths"]["/v1/auth/me"]["get"]
    assert {"bearerAuth": []} in me["security"]
    assert "401" in me["responses"]


def test_openapi_lists_every_route(app, spec):
    documented = {
        (re.sub(r"\{(\w+)\}", r"<\1>", path), method.upper())
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "patch", "delete"}
    }
    routed = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/") or rule.rule in ("/health", "/ready", "/metrics")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed
    assert documented == routed


def test_openapi_documents_problem_details_for_errors(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail", "errors", "request_id"} <= set(
        problem["properties"]
    )
    task_get = spec["paths"]["/v1/tasks/{task_id}"]["get"]["responses"]
    assert "404" in task_get
    not_found = spec["components"]["responses"]["NOT_FOUND"]
    assert "application/problem+json" in not_found["content"]
    patch = spec["paths"]["/v1/tasks/{task_id}"]["patch"]["responses"]
    assert {"401", "404", "412", "422"} <= set(patch)


def test_openapi_documents_pagination_parameters(spec):
    parameters = spec["paths"]["/v1/tasks"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter for parameter in parameters}
    assert by_name["page_size"]["schema"]["maximum"] == 100
    assert by_name["page_size"]["schema"]["default"] == 50
    assert by_name["page"]["schema"]["minimum"] == 1


# Request logs, security headers, CORS -------------------------------------------------


@pytest.fixture
def access_log(caplog):
    """Records of the `taskapi` loggers (which do not propagate to the root logger)."""
    import logging

    logger = logging.getLogger("taskapi")
    previous = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    yield lambda: [r for r in caplog.records if r.name == "taskapi.access"]
    logger.removeHandler(caplog.handler)
    logger.setLevel(previous)


def test_one_structured_log_line_per_request(client, auth_headers, access_log):
    me = client.get("/v1/auth/me", headers={**auth_headers, "X-Request-ID": "log-1"})
    client.get("/nope", headers={"X-Request-ID": "log-2"})
    records = access_log()
    assert len(records) == 2
    first, second = records
    assert (first.method, first.path, first.status, first.request_id) == (
        "GET",
        "/v1/auth/me",
        200,
        "log-1",
    )
    assert first.user_id == me.get_json()["id"]
    assert first.duration_ms >= 0
    assert (second.path, second.status, second.request_id, second.user_id) == (
        "/nope",
        404,
        "log-2",
        None,
    )
    for record in records:
        assert auth_headers["Authorization"].split()[1] not in record.getMessage()


def test_security_headers(client, auth_headers):
    response = client.get("/v1/tasks", headers=auth_headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_cors_allows_no_origin_by_default(client):
    response = client.get("/v1/auth/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allows_configured_origins(make_app):
    client = make_app(CORS_ORIGINS=["https://app.example"]).test_client()
    preflight = client.options(
        "/v1/tasks",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.get("/v1/auth/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    allowed = client.get("/v1/auth/me", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]


def test_openapi_documents_auth_and_validation_errors_on_every_operation(spec):
    open_routes = {("/v1/auth/register", "post"), ("/v1/auth/login", "post")}
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            if (path, method) not in open_routes:
                assert {"bearerAuth": []} in operation.get("security", []), where
                assert "401" in operation["responses"], where
            if "requestBody" in operation:
                assert "422" in operation["responses"], where
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response.get("$ref", "")
                    content = response.get("content") or spec["components"]["responses"][
                        ref.rsplit("/", 1)[-1]
                    ].get("content", {})
                    assert "application/problem+json" in content, (where, status)
