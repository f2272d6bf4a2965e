"""OWASP API4:2023 Unrestricted Resource Consumption: every input that could make the server do
unbounded work is bounded, and refused with a 4xx problem, never a 500.

Server-level limits (idle connections, slow clients, header size, Content-Length checked before
the body is read) are tested against a served instance in tests/test_abusive_clients.py.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import assert_problem


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "1000000", "abc", "1.5"])
def test_api4_page_size_is_capped_at_100(client, auth_headers, page_size):
    response = client.get(f"/v1/tasks?page_size={page_size}", headers=auth_headers)
    body = assert_problem(response, 422, "validation_error")
    assert "page_size" in body["errors"]["query"]


@pytest.mark.parametrize("page", ["99999999999999999999", "922337203685477582", str(2**31)])
def test_api4_huge_page_numbers_are_an_empty_page_or_422(client, auth_headers, create_task, page):
    create_task()
    response = client.get(f"/v1/tasks?page={page}", headers=auth_headers)
    if response.status_code == 200:
        assert response.get_json() == []
    else:
        assert_problem(response, 422, "validation_error")


def test_api4_body_over_the_limit_is_413(make_app, make_user):
    app = make_app(MAX_CONTENT_LENGTH=10_000)
    client = app.test_client()
    headers = make_user()
    body = '{"title": "' + "a" * 10_000 + '"}'
    response = client.post(
        "/v1/tasks", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert client.get("/v1/tasks", headers=headers).get_json() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "t" * 501),
        ("description", "d" * 5001),
        ("tags", [f"tag{number}" for number in range(21)]),
        ("tags", ["t" * 51]),
        ("recurrence_rule", "FREQ=DAILY;" + "BYHOUR=1;" * 200),
        ("title", "nul \x00 inside"),
        ("description", "lone surrogate \ud800"),
    ],
)
def test_api4_oversized_or_unstorable_strings_are_422(client, auth_headers, field, value):
    body = {"title": "ok", "due_date": "2030-01-01T00:00:00Z", field: value}
    # ASCII-escaped JSON: a lone surrogate can only travel as a \ud800 escape.
    response = client.post(
        "/v1/tasks",
        data=json.dumps(body, ensure_ascii=True),
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]["json"]
    assert client.get("/v1/tasks", headers=auth_headers).get_json() == []


def test_api4_huge_strings_are_refused_quickly(client, auth_headers):
    started = time.monotonic()
    response = client.post("/v1/tasks", json={"title": "x" * 900_000}, headers=auth_headers)
    assert_problem(response, 422, "validation_error")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",  # never happens: dateutil would search to 9999
        "FREQ=HOURLY;INTERVAL=100000",
        "FREQ=SECONDLY",
        "FREQ=MINUTELY;COUNT=100000000",
    ],
)
def test_api4_expensive_recurrence_rules_are_refused_quickly(client, auth_headers, rule):
    started = time.monotonic()
    body = {"title": "r", "due_date": "2030-01-01T00:00:00Z", "recurrence_rule": rule}
    response = client.post("/v1/tasks", json=body, headers=auth_headers)
    assert_problem(response, 422, "validation_error")
    assert time.monotonic() - started < 2


def test_api4_completing_a_sparse_recurring_task_is_quick(client, auth_headers, create_task):
    task = create_task(
        due_date="2028-02-29T09:00:00Z", recurrence_rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"
    )
    started = time.monotonic()
    done = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers)
    assert done.status_code == 200
    assert done.get_json()["next"]["due_date"].startswith("2032-02-29")
    assert time.monotonic() - started < 2


def test_api4_server_limits_are_configured(app):
    """The header limit and connection limit reach waitress (see tests/test_abusive_clients.py)."""
    assert 8 * 1024 <= app.config["MAX_REQUEST_HEADER_SIZE"] <= 64 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] <= 1024 * 1024
    assert app.config["SERVER_CONNECTION_LIMIT"] >= 1000
    assert app.config["DB_STATEMENT_TIMEOUT_MS"] > 0
