"""The search tables and indexes: the models and the migrations describe the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from taskapi.extensions import db
from taskapi.models import schema_metadata


def test_model_matches_migrated_postgresql_schema(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the search tables exist on PostgreSQL only")
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, schema_metadata("postgresql")) == []
