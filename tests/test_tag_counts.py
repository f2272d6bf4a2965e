"""The tag counts behind the statistics' top tags stay exact after every kind of change.

`tag_counts` is kept by triggers on `tasks` (migration 0006). After each change, through the API
or not, the stored counts must equal a recount of the tasks themselves, on both engines; on
PostgreSQL also with simultaneous writers. Migration 0006 counts the tasks already stored.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import BASE_TEST_CONFIG, run_together
from flask_migrate import downgrade, upgrade

from taskapi import create_app
from taskapi.extensions import db
from taskapi.models import TagCount, Task, User
from taskapi.services import seeding

Counts = dict[tuple[uuid.UUID, str], tuple[int, int]]


def recount(rows: Any) -> Counts:
    """(user, lower-cased tag) → (open, completed), from (user_id, completed, tags) rows."""
    counter: Counter[tuple[uuid.UUID, str, bool]] = Counter()
    for user_id, completed, tags in rows:
        for tag in tags:
            counter[(user_id, tag.lower(), bool(completed))] += 1
    keys = {(user_id, tag) for user_id, tag, _ in counter}
    return {key: (counter[(*key, False)], counter[(*key, True)]) for key in keys}


def stored(app: Any) -> Counts:
    with app.app_context():
        rows = db.session.execute(
            sa.select(TagCount.user_id, TagCount.tag, TagCount.open, TagCount.completed)
        )
        counts = {(user_id, tag): (open_, completed) for user_id, tag, open_, completed in rows}
        db.session.remove()
    return counts


def expected(app: Any) -> Counts:
    with app.app_context():
        counts = recount(db.session.execute(sa.select(Task.user_id, Task.completed, Task.tags)))
        db.session.remove()
    return counts


def assert_exact(app: Any) -> Counts:
    counts = stored(app)
    assert counts == expected(app)
    return counts


def test_every_change_through_the_api_keeps_the_counts_exact(
    app, client, auth_headers, create_task
):
    def call(method: str, url: str, **body: Any) -> Any:
        response = client.open(url, method=method, json=body or None, headers=auth_headers)
        assert response.status_code in (200, 204), response.get_json()
        assert_exact(app)
        return response.get_json(silent=True)

    work = create_task(title="Report", tags=["Work", "Été"])
    home = create_task(title="Dishes", tags=["home"])
    create_task(title="Untagged")
    recurring = create_task(
        title="Standup",
        tags=["WORK", "daily"],
        due_date="2026-03-02T09:00:00Z",
        recurrence_rule="FREQ=DAILY",
    )
    counts = assert_exact(app)
    owner = uuid.UUID(client.get("/v1/auth/me", headers=auth_headers).get_json()["id"])
    assert counts[(owner, "work")] == (2, 0)
    assert counts[(owner, "été")] == (1, 0)

    call("PATCH", f"/v1/tasks/{work['id']}", title="Report v2")  # counts untouched
    call("PATCH", f"/v1/tasks/{work['id']}", tags=["work", "errands"])
    call("POST", f"/v1/tasks/{work['id']}/complete")
    call("POST", f"/v1/tasks/{work['id']}/reopen")
    call("POST", f"/v1/tasks/{home['id']}/toggle")
    call("PATCH", f"/v1/tasks/{home['id']}", completed=False, tags=["Home", "garden"])
    call("PUT", f"/v1/tasks/{home['id']}", title="Dishes")  # PUT resets the tags to []
    completed = call("POST", f"/v1/tasks/{recurring['id']}/complete")
    assert completed["next"]["tags"] == ["WORK", "daily"]  # the spawned occurrence counts too
    assert stored(app)[(owner, "daily")] == (1, 1)
    call("DELETE", f"/v1/tasks/{work['id']}")
    call("DELETE", f"/v1/tasks/{completed['next']['id']}")

    assert {tag: count for (_, tag), count in stored(app).items()} == {
        "work": (0, 1),
        "daily": (0, 1),
    }
    call("DELETE", f"/v1/tasks/{recurring['id']}")
    assert stored(app) == {}  # a row is deleted when both of its counts reach zero


def test_writes_outside_the_api_keep_the_counts_exact(app, make_user):
    make_user("ann@example.com")
    make_user("bob@example.com")
    with app.app_context():
        ann, bob = db.session.scalars(sa.select(User.id).order_by(User.email)).all()
        # A bulk insert: many rows and both users in one statement.
        db.session.execute(
            sa.insert(Task),
            [
                {
                    "user_id": owner,
                    "title": f"Task {number}",
                    "completed": number % 3 == 0,
                    "priority": "medium",
                    # Two spellings of one tag on one task count twice, as two tags would.
                    "tags": ["Work", "work", f"tag{number % 4}"][: number % 4],
                }
                for number in range(60)
                for owner in (ann, bob)
            ],
        )
        db.session.commit()
        assert_exact(app)
        # One UPDATE changing many rows, tags and completion at once.
        db.session.execute(
            sa.update(Task)
            .where(Task.user_id == ann, Task.title.like("Task 1%"))
            .values(completed=sa.not_(Task.completed), tags=["Moved"])
        )
        db.session.commit()
        assert_exact(app)
        db.session.execute(sa.delete(Task).where(Task.user_id == bob, Task.completed))
        db.session.commit()
        assert_exact(app)
        # Deleting a user deletes its tasks (ON DELETE CASCADE), and with them its counts.
        db.session.execute(sa.delete(User).where(User.id == ann))
        db.session.commit()
        counts = assert_exact(app)
        assert counts
        assert {user for user, _tag in counts} == {bob}
        db.session.remove()


def test_seeded_tasks_are_counted(app):
    with app.app_context():
        users = seeding.create_users(3)
        seeding.seed_tasks(seeding.spread(500, users), rng=seeding.new_random(5))
        db.session.remove()
    counts = assert_exact(app)
    assert {user for user, _tag in counts} == set(users)


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_writers_keep_the_counts_exact(app, client, auth_headers, make_user):
    """Writers of one user share the count rows of their tags: increments must add up, and
    transactions locking the same rows must not deadlock."""
    owners = [auth_headers, make_user("bob@example.com")] * 8
    tags = [["Work", "home"], ["home", "Work"], ["work", "urgent"], ["urgent"], ["Home"]]

    def create(number: int, headers: dict[str, str]) -> Callable[[Any], Any]:
        body = {"title": f"Task {number}", "tags": tags[number % len(tags)]}
        return lambda c: c.post("/v1/tasks", json=body, headers=headers)

    def change(number: int, url: str, headers: dict[str, str]) -> Callable[[Any], Any]:
        if number % 3 == 0:
            return lambda c: c.delete(url, headers=headers)
        if number % 3 == 1:
            return lambda c: c.post(f"{url}/complete", headers=headers)
        body = {"tags": [*reversed(tags[number % len(tags)]), "new"]}
        return lambda c: c.patch(url, json=body, headers=headers)

    created = run_together(app, [create(n, headers) for n, headers in enumerate(owners)])
    assert {response.status_code for response in created} == {201}
    assert_exact(app)

    changes = [
        change(n, f"/v1/tasks/{response.get_json()['id']}", headers)
        for n, (response, headers) in enumerate(zip(created, owners, strict=True))
    ]
    changes += [create(n, auth_headers) for n in range(16, 20)]
    responses = run_together(app, changes)
    assert {response.status_code for response in responses} <= {200, 201, 204}
    assert_exact(app)


def test_the_migration_counts_the_tasks_already_stored(empty_database):
    app = create_app({**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": empty_database})
    users = [uuid.uuid4(), uuid.uuid4()]
    rows = [
        (users[0], False, ["Work", "home"]),
        (users[0], True, ["work"]),
        (users[0], True, []),
        (users[0], False, ["ÉTÉ", "été"]),
        (users[1], False, ["work"]),
    ]
    try:
        with app.app_context():
            upgrade(revision="0004")
            # Written with the models' tables: users and tasks are as revision 0004 left them.
            with db.engine.begin() as connection:
                connection.execute(
                    sa.insert(User),
                    [{"id": user, "email": f"{user}@example.com"} for user in users],
                )
                connection.execute(
                    sa.insert(Task),
                    [
                        {"user_id": user, "title": "Task", "completed": completed, "tags": tags}
                        for user, completed, tags in rows
                    ],
                )
            upgrade(revision="0006")
            assert stored(app) == recount(rows)
            assert stored(app)[(users[0], "été")] == (2, 0)

            downgrade(revision="0005")
            assert "tag_counts" not in sa.inspect(db.engine).get_table_names()
            upgrade()
            assert stored(app) == recount(rows)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
