"""Migration 0004 numbers the history entries written before it, per user in id order."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from conftest import BASE_TEST_CONFIG
from flask_migrate import downgrade, upgrade

from taskapi import create_app
from taskapi.extensions import db


def test_existing_entries_are_numbered_per_user(empty_database):
    app = create_app({**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": empty_database})
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        upgrade(revision="0001")
        users = sa.table(
            "users",
            sa.column("id", sa.Uuid),
            sa.column("email"),
            sa.column("is_admin"),
            sa.column("is_active"),
            sa.column("created_at"),
        )
        history = sa.table(
            "history",
            sa.column("user_id", sa.Uuid),
            sa.column("task_id", sa.Uuid),
            sa.column("action"),
            sa.column("changes", sa.JSON),
            sa.column("actor_type"),
            sa.column("actor_id"),
            sa.column("created_at", sa.DateTime),
        )
        now = sa.func.current_timestamp()
        with db.engine.begin() as connection:
            for user in (alice, bob):
                connection.execute(
                    sa.insert(users).values(
                        id=user,
                        email=f"{user}@example.com",
                        is_admin=False,
                        is_active=True,
                        created_at=now,
                    )
                )
            for user in (alice, bob, alice, alice, bob):
                connection.execute(
                    sa.insert(history).values(
                        user_id=user,
                        task_id=uuid.uuid4(),
                        action="created",
                        changes={},
                        actor_type="user",
                        actor_id=str(user),
                        created_at=now,
                    )
                )
        upgrade()
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT user_id, seq FROM history ORDER BY id")).all()
        assert [row.seq for row in rows] == [1, 1, 2, 3, 2]
        downgrade(revision="0001")
        assert "seq" not in {c["name"] for c in sa.inspect(db.engine).get_columns("history")}
        db.engine.dispose()
