"""The search columns and indexes: the model and the migrations describe the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from taskapi.extensions import db


def test_model_matches_migrated_postgresql_schema(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the generated search columns and GIN indexes exist on PostgreSQL only")
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []


def test_generated_columns_follow_the_task(app, client, auth_headers, create_task):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the generated search columns exist on PostgreSQL only")
    task = create_task(title="Fix the roof", tags=["Home"])
    patched = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "Paint the fence", "tags": ["Garden"]},
        headers=auth_headers,
    )
    assert patched.status_code == 200

    def search(query: str) -> list[str]:
        response = client.get(f"/v1/tasks?{query}", headers=auth_headers)
        return [item["id"] for item in response.get_json()]

    assert search("q=fence&tags=garden") == [task["id"]]
    assert search("q=roof") == []
    assert search("tags=home") == []
