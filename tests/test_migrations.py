"""The migrations build the schema the models describe, and can be undone."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import BASE_TEST_CONFIG
from flask_migrate import downgrade, upgrade

from taskapi import create_app
from taskapi.extensions import db


def test_models_and_migrations_agree_on_postgresql(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip(
                "autogenerate comparison is meaningful on PostgreSQL, the production engine"
            )
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_migrated_database_is_at_head(app):
    with app.app_context():
        from taskapi.services.readiness import migration_head

        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        assert current == migration_head(app.extensions["migrate"].directory)


def test_downgrade_to_base_and_upgrade_again_on_sqlite(tmp_path):
    app = create_app(
        {**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    )
    with app.app_context():
        upgrade()
        assert {"users", "tasks", "history", "revoked_tokens"} <= set(
            db.inspect(db.engine).get_table_names()
        )
        downgrade(revision="base")
        assert set(db.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "tasks" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
