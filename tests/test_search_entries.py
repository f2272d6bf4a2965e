"""PostgreSQL's search tables (`task_words`, `task_tags`) stay exact: after every kind of write
they hold the words and tags of every task, and nothing else."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import BASE_TEST_CONFIG
from flask import Flask
from flask_migrate import downgrade, upgrade

from taskapi import create_app
from taskapi.extensions import db
from taskapi.models import Task
from taskapi.models.task_search import MAX_WORD_LENGTH, task_tags, task_words
from taskapi.services import seeding, task_filters

Entries = tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]


@pytest.fixture
def pg_app(app: Flask) -> Flask:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the search tables exist on PostgreSQL only")
    return app


def stored(connection: sa.Connection) -> Entries:
    words = {tuple(row) for row in connection.execute(sa.select(task_words))}
    tags = {tuple(row) for row in connection.execute(sa.select(task_tags))}
    return words, tags


def expected(connection: sa.Connection) -> Entries:
    """The entries the tasks call for, computed here (Python's word splitting and lower case)."""
    words, tags = set(), set()
    rows = connection.execute(
        sa.select(Task.user_id, Task.id, Task.title, Task.description, Task.tags)
    )
    for user_id, task_id, title, description, task_tag_list in rows:
        text = f"{title} {description or ''}"
        words |= {(user_id, w[:MAX_WORD_LENGTH], task_id) for w in task_filters.search_words(text)}
        tags |= {(user_id, tag.lower(), task_id) for tag in task_tag_list}
    return words, tags


def assert_exact(app: Flask) -> Entries:
    with app.app_context(), db.engine.connect() as connection:
        entries = stored(connection)
        assert entries == expected(connection)
    return entries


def test_entries_follow_every_change_through_the_api(pg_app, client, auth_headers, create_task):
    first = create_task(title="Write the Report", description="my-report, draft", tags=["Work"])
    second = create_task(title="Été à Paris", tags=["travel", "Été"])
    words, tags = assert_exact(pg_app)
    assert {word for _user, word, _task in words} >= {"write", "report", "my", "draft", "été"}
    assert len(tags) == 3

    def send(method: str, path: str, body: Any = None) -> None:
        response = client.open(path, method=method, json=body, headers=auth_headers)
        assert response.status_code in (200, 204), response.get_json()

    send("PATCH", f"/v1/tasks/{first['id']}", {"title": "Rewrite the report", "tags": ["home"]})
    assert_exact(pg_app)
    send("PATCH", f"/v1/tasks/{first['id']}", {"description": None, "priority": "high"})
    assert_exact(pg_app)
    send("PUT", f"/v1/tasks/{second['id']}", {"title": "Back home"})
    assert_exact(pg_app)
    send("POST", f"/v1/tasks/{second['id']}/complete")
    send("POST", f"/v1/tasks/{second['id']}/reopen")
    assert_exact(pg_app)
    send("DELETE", f"/v1/tasks/{first['id']}")
    words, tags = assert_exact(pg_app)
    assert {task for _user, _word, task in words} == {uuid.UUID(second["id"])}
    assert tags == set()


def test_a_spawned_occurrence_has_its_entries(pg_app, client, auth_headers, create_task):
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    task = create_task(
        title="Water plants", tags=["Home"], due_date=due, recurrence_rule="FREQ=DAILY"
    )
    response = client.post(f"/v1/tasks/{task['id']}/complete", headers=auth_headers)
    spawned = response.get_json()["next"]
    assert spawned is not None
    _words, tags = assert_exact(pg_app)
    assert (uuid.UUID(spawned["id"]), "home") in {(task_id, tag) for _u, tag, task_id in tags}
    found = client.get("/v1/tasks?q=wat&tags=home&status=open", headers=auth_headers)
    assert [item["id"] for item in found.get_json()] == [spawned["id"]]


def test_entries_follow_bulk_and_hand_written_sql(pg_app, make_user):
    make_user("bob@example.com")
    with pg_app.app_context():
        bob = db.session.scalar(sa.text("SELECT id FROM users WHERE email = 'bob@example.com'"))
        seeding.seed_tasks([(bob, 300)], rng=seeding.new_random(7))  # COPY on PostgreSQL
    words, _tags = assert_exact(pg_app)
    assert len({task for _user, _word, task in words}) == 300
    with pg_app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE tasks SET title = upper(title) || ' extra', tags = '[\"X\", \"x\"]' "
                "WHERE id IN (SELECT id FROM tasks ORDER BY id LIMIT 100)"
            )
        )
        connection.execute(sa.text("UPDATE tasks SET completed = NOT completed"))
    assert_exact(pg_app)
    with pg_app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": bob})
    assert assert_exact(pg_app) == (set(), set())


def test_truncating_the_tasks_empties_the_entries(pg_app, create_task):
    create_task(title="Something", tags=["a"])
    with pg_app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE tasks"))
    assert assert_exact(pg_app) == (set(), set())


def test_words_longer_than_the_stored_length_are_found_by_their_start(
    pg_app, client, auth_headers, create_task
):
    long_word = "a" * 300 + "b" * 600
    task = create_task(title="Long", description=f"x {long_word} y")
    assert uuid.UUID(task["id"]) in {task_id for _u, _w, task_id in assert_exact(pg_app)[0]}

    def found(q: str) -> list[str]:
        response = client.get(f"/v1/tasks?q={q}", headers=auth_headers)
        return [item["id"] for item in response.get_json()]

    assert found("a" * 300 + "b" * 200) == [task["id"]]
    assert found("a" * 299 + "b") == []


@pytest.mark.parametrize(("few", "hashed"), [(500, 20_000), (0, 20_000), (0, 0)])
def test_the_three_page_plans_give_the_same_pages(
    pg_app, client, auth_headers, create_task, monkeypatch, few, hashed
):
    """A search reads few matches by id, meets more along the order's index, and joins even
    more to the tasks: the pages are the same."""
    monkeypatch.setattr(task_filters, "FEW_SEARCH_MATCHES", few)
    monkeypatch.setattr(task_filters, "HASHED_SEARCH_MAX_MATCHES", hashed)
    for number in range(7):
        create_task(title=f"report {number % 3}", tags=["t"] if number % 2 else [])
    create_task(title="other", tags=["t"])

    def titles(query: str) -> tuple[int, list[str]]:
        walked, page = [], 1
        while True:
            response = client.get(
                f"/v1/tasks?{query}&sort_by=title&sort_order=asc&page={page}&page_size=2",
                headers=auth_headers,
            )
            pagination = json.loads(response.headers["X-Pagination"])
            walked += [item["title"] for item in response.get_json()]
            if "next_page" not in pagination:
                return pagination["total"], walked
            page += 1

    assert titles("q=rep&tags=T") == (3, ["report 0", "report 1", "report 2"])
    reports = ["report 0"] * 3 + ["report 1"] * 2 + ["report 2"] * 2
    assert titles("q=rep") == (7, reports)
    assert titles("q=rep&status=open") == (7, reports)
    assert titles("tags=t&priority=medium") == (4, ["other", "report 0", "report 1", "report 2"])


def test_the_upgrade_fills_the_entries_of_existing_tasks(empty_database: str) -> None:
    app = create_app({**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            db.engine.dispose()
            pytest.skip("the search tables exist on PostgreSQL only")
        upgrade(revision="0004")
        users = seeding.create_users(2, rng=seeding.new_random(1))
        seeding.seed_tasks([(users[0], 40), (users[1], 25)], rng=seeding.new_random(2))
        db.session.remove()
        upgrade()
    words, tags = assert_exact(app)
    assert len({task for _user, _word, task in words}) == 65
    assert tags
    with app.app_context():
        downgrade(revision="0004")
        assert "task_words" not in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()
