"""Every error is problem+json with the contract's code; request ids; no input answers 500."""

import re

import pytest
from conftest import PASSWORD, assert_problem

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def test_malformed_json_is_a_bad_request(client, auth_headers):
    for raw in ('{"title": ', "{'title': 'x'}", "not json", '{"title": "x",}'):
        response = client.post(
            "/v1/tasks", data=raw, content_type="application/json", headers=auth_headers
        )
        assert_problem(response, 400, "bad_request")
    assert client.get("/v1/tasks", headers=auth_headers).get_json() == []


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 50_000, "[" * 5000 + "]" * 5000])
def test_json_nested_too_deeply_is_a_bad_request(client, auth_headers, raw):
    response = client.post(
        "/v1/tasks", data=raw, content_type="application/json", headers=auth_headers
    )
    assert_problem(response, 400, "bad_request")


def test_malformed_json_on_an_open_route(client):
    response = client.post("/v1/auth/register", data="{nope", content_type="application/json")
    assert_problem(response, 400, "bad_request")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_json_with_another_content_type_is_unsupported(client, auth_headers, content_type):
    response = client.post(
        "/v1/tasks", data='{"title": "x"}', content_type=content_type, headers=auth_headers
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert client.get("/v1/tasks", headers=auth_headers).get_json() == []


def test_json_with_a_charset_is_accepted(client, auth_headers):
    response = client.post(
        "/v1/tasks",
        data='{"title": "x"}',
        content_type="application/json; charset=utf-8",
        headers=auth_headers,
    )
    assert response.status_code == 201


def test_body_over_the_limit_is_refused(make_app):
    app = make_app(MAX_CONTENT_LENGTH=200)
    client = app.test_client()
    response = client.post(
        "/v1/auth/register",
        json={"email": "big@example.com", "password": PASSWORD, "name": "n" * 300},
    )
    body = assert_problem(response, 413, "payload_too_large")
    assert "200" in body["detail"]
    # Under the limit the same route works.
    small = client.post(
        "/v1/auth/register", json={"email": "big@example.com", "password": PASSWORD}
    )
    assert small.status_code == 201


def test_body_over_the_limit_on_an_authenticated_route(make_app, make_user):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    client = app.test_client()
    headers = make_user("limits@example.com")
    response = client.post("/v1/tasks", json={"title": "x" * 2000}, headers=headers)
    assert_problem(response, 413, "payload_too_large")
    assert client.get("/v1/tasks", headers=headers).get_json() == []


def test_default_body_limit_is_one_mebibyte(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/tasks/x/y/z", "/v2/tasks"])
def test_unknown_route_is_not_found(client, path):
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/health", {"GET", "HEAD", "OPTIONS"}),
        ("get", "/v1/auth/login", {"POST", "OPTIONS"}),
        ("put", "/v1/tasks", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("get", "/v1/tasks/00000000-0000-0000-0000-000000000000/complete", {"POST", "OPTIONS"}),
    ],
)
def test_wrong_method_has_an_allow_header(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert_problem(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


def test_unexpected_exception_is_a_500_without_internals(make_app):
    app = make_app()

    def explode():
        raise RuntimeError("secret internals: password=hunter2 at /srv/app/secret.py")

    app.add_url_rule("/test-only/explode", "explode", explode)
    response = app.test_client().get("/test-only/explode", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "boom-1"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret internals", "hunter2", ".py"):
        assert leak not in text


def test_database_error_is_a_500_without_sql(make_app):
    app = make_app()

    def bad_sql():
        from sqlalchemy import text

        from taskapi.extensions import db

        db.session.execute(text("SELECT * FROM no_such_table_xyz"))

    app.add_url_rule("/test-only/bad-sql", "bad_sql", bad_sql)
    response = app.test_client().get("/test-only/bad-sql")
    assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "no_such_table_xyz" not in text
    assert "SELECT" not in text


# Request ids ------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["a", "abc-123", "A.b_c:d-e", "x" * 128])
def test_valid_request_id_is_echoed(client, request_id):
    response = client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id
    problem = assert_problem(
        client.get("/nope", headers={"X-Request-ID": request_id}), 404, "not_found"
    )
    assert problem["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["x" * 129, "has space", "semi;colon", "slash/", "<script>", "é", "a\tb"]
)
def test_invalid_request_id_is_replaced(client, request_id):
    response = client.get("/nope", headers={"X-Request-ID": request_id})
    problem = assert_problem(response, 404, "not_found")
    generated = response.headers["X-Request-ID"]
    assert generated != request_id
    assert VALID_REQUEST_ID.match(generated)
    assert problem["request_id"] == generated


def test_every_response_has_a_fresh_request_id(client, auth_headers):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}
    ids.add(client.get("/v1/tasks", headers=auth_headers).headers["X-Request-ID"])
    assert len(ids) == 4
    assert all(VALID_REQUEST_ID.match(value) for value in ids)


# Query parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=-1", "page_size"),
        ("page_size=abc", "page_size"),
        ("page=0", "page"),
        ("page=-5", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
    ],
)
def test_bad_pagination_parameters(client, auth_headers, query, field):
    body = assert_problem(
        client.get(f"/v1/tasks?{query}", headers=auth_headers), 422, "validation_error"
    )
    assert field in body["errors"]["query"]


@pytest.mark.parametrize("page_size", [1, 100])
def test_page_size_bounds_are_accepted(client, auth_headers, page_size):
    assert client.get(f"/v1/tasks?page_size={page_size}", headers=auth_headers).status_code == 200


@pytest.mark.parametrize(
    "page", ["99999999999999999999", "922337203685477582", str(2**31), str(2**63)]
)
def test_huge_page_number_is_never_a_500(client, auth_headers, create_task, page):
    create_task()
    response = client.get(f"/v1/tasks?page={page}", headers=auth_headers)
    if response.status_code == 200:
        assert response.get_json() == []
    else:
        assert 400 <= response.status_code < 500
        assert response.mimetype == "application/problem+json"


def test_huge_strings_get_a_4xx(client, auth_headers):
    response = client.post("/v1/tasks", json={"title": "x" * 200_000}, headers=auth_headers)
    assert_problem(response, 422, "validation_error")
    response = client.get(f"/v1/tasks/{'a' * 5000}", headers=auth_headers)
    assert_problem(response, 404, "not_found")
