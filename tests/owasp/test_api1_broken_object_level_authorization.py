"""OWASP API1:2023 Broken Object Level Authorization: no user reaches another user's objects.

Another user's task answers exactly like a task that does not exist (404, same body), for every
method and command, and the attempt changes nothing.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import assert_problem

ITEM_CALLS = [
    ("get", "", None),
    ("put", "", {"title": "hijacked"}),
    ("patch", "", {"title": "hijacked"}),
    ("delete", "", None),
    ("post", "/complete", None),
    ("post", "/reopen", None),
    ("post", "/toggle", None),
]


def _comparable(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


@pytest.mark.parametrize(("method", "suffix", "body"), ITEM_CALLS)
def test_api1_another_users_task_is_404_like_an_unknown_one(
    client, make_user, create_task, auth_headers, method, suffix, body
):
    task = create_task(title="Alice's", tags=["private"])
    mallory = make_user("mallory@example.com")
    call = getattr(client, method)
    theirs = call(f"/v1/tasks/{task['id']}{suffix}", json=body, headers=mallory)
    unknown = call(f"/v1/tasks/{uuid.uuid4()}{suffix}", json=body, headers=mallory)
    theirs_body = assert_problem(theirs, 404, "not_found")
    assert _comparable(theirs_body) == _comparable(assert_problem(unknown, 404, "not_found"))
    assert "ETag" not in theirs.headers
    # Nothing changed for the owner, and no history entry was written by the attempt.
    assert client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).get_json() == task


def test_api1_another_users_tasks_are_never_listed(client, make_user, create_task):
    create_task(title="Alice's")
    mallory = make_user("mallory@example.com")
    listed = client.get("/v1/tasks", headers=mallory)
    assert listed.status_code == 200
    assert listed.get_json() == []


@pytest.mark.parametrize("task_id", ["1", "not-a-uuid", "%00", "' OR '1'='1", "a" * 300])
def test_api1_malformed_ids_are_404(client, auth_headers, task_id):
    assert_problem(client.get(f"/v1/tasks/{task_id}", headers=auth_headers), 404, "not_found")
