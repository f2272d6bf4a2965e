"""`flask seed`: bulk demo data that the API serves like any other."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from taskapi.extensions import db
from taskapi.models import HistoryEntry, Task, User


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        result = tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (User, Task, HistoryEntry)
        )
        db.session.remove()
    return result  # type: ignore[return-value]


def test_help_describes_the_options(app):
    result = app.test_cli_runner().invoke(args=["seed", "--help"])
    assert result.exit_code == 0
    for text in ("--users", "--tasks", "--user-email", "--password", "no history"):
        assert text in result.output


def test_seed_creates_users_and_spreads_tasks(app):
    result = app.test_cli_runner().invoke(
        args=["seed", "--users", "3", "--tasks", "200", "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "created 200 tasks for 3 user(s)" in result.output
    assert counts(app) == (3, 200, 0)  # seeded tasks have no history entries
    with app.app_context():
        per_user = db.session.execute(
            select(Task.user_id, func.count()).group_by(Task.user_id)
        ).all()
        tasks = db.session.scalars(select(Task)).all()
        now = datetime.now(UTC)
        assert sorted(count for _user, count in per_user) == [66, 67, 67]
        assert any(task.completed for task in tasks)
        assert any(not task.completed for task in tasks)
        assert any(task.due_date and task.due_date < now for task in tasks)
        assert any(task.due_date and task.due_date > now for task in tasks)
        assert any(task.due_date is None for task in tasks)
        assert any(task.recurrence_rule for task in tasks)
        assert any(task.tags for task in tasks)
        assert {task.priority for task in tasks} == {"low", "medium", "high"}
        assert all(task.completed == (task.completed_at is not None) for task in tasks)
        assert all(task.reminder_at <= task.due_date for task in tasks if task.reminder_at)
        assert all(task.created_at <= task.updated_at <= now for task in tasks)
        db.session.remove()


def test_seed_onto_one_user_is_served_and_searchable(app, client, auth_headers):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--user-email", "alice@example.com", "--tasks", "120"])
    assert result.exit_code == 0, result.output
    assert counts(app)[0] == 1  # alice only

    response = client.get("/v1/tasks?page_size=100", headers=auth_headers)
    assert response.status_code == 200
    assert json.loads(response.headers["X-Pagination"])["total"] == 120
    task = response.get_json()[0]
    word = task["title"].split()[-1].lower()
    found = client.get(f"/v1/tasks?q={word}&page_size=100", headers=auth_headers).get_json()
    assert task["id"] in [item["id"] for item in found]
    assert all(word in f"{item['title']} {item['description']}".lower() for item in found)


def test_seeded_users_can_log_in_with_the_given_password(app, client):
    result = app.test_cli_runner().invoke(
        args=["seed", "--users", "1", "--tasks", "0", "--password", "demo-password"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        email = db.session.scalar(select(User.email))
        db.session.remove()
    login = client.post("/v1/auth/login", json={"email": email, "password": "demo-password"})
    assert login.status_code == 200


def test_bad_options_fail_with_a_message(app):
    runner = app.test_cli_runner()
    both = runner.invoke(args=["seed", "--users", "2", "--user-email", "a@example.com"])
    assert both.exit_code != 0
    assert "cannot be combined" in both.output
    negative = runner.invoke(args=["seed", "--tasks", "-1"])
    assert negative.exit_code != 0
    assert "--tasks" in negative.output
    assert counts(app) == (0, 0, 0)


def test_seeded_list_pages_hold_fifty_tasks_by_default(app, client, auth_headers):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--user-email", "alice@example.com", "--tasks", "120"])
    assert result.exit_code == 0, result.output
    response = client.get("/v1/tasks?sort_by=due_date&page=3", headers=auth_headers)
    assert response.status_code == 200
    assert len(response.get_json()) == 20
    pagination = json.loads(response.headers["X-Pagination"])
    assert (pagination["total"], pagination["total_pages"]) == (120, 3)
