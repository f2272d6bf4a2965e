"""Migrations: from an empty database to head and back to base (and up again), and each revision
upgrading a database that holds data from the one before it without losing a row.

Written for whatever revisions exist: the rows are generated from the tables reflected at each
revision, so a new migration is covered without touching this file.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import BASE_TEST_CONFIG
from flask import Flask
from flask_migrate import downgrade, upgrade

from taskapi import MIGRATIONS_DIR, create_app
from taskapi.extensions import db
from taskapi.models import schema_metadata

ROWS_PER_TABLE = 3


@pytest.fixture
def migration_app(empty_database: str) -> Iterator[Flask]:
    app = create_app({**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": empty_database})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def revisions_base_to_head() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1, "the migrations must form one line (a single head)"
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _current(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_upgrade_from_empty_to_head_down_to_base_and_up_again(migration_app: Flask) -> None:
    head = revisions_base_to_head()[-1]
    with migration_app.app_context():
        engine = db.engine
        assert _tables(engine) == set()
        metadata = schema_metadata(engine.dialect.name)
        tables = {name for each in metadata for name in each.tables}
        upgrade()
        assert _current(engine) == head
        assert _tables(engine) == tables
        if engine.dialect.name == "postgresql":  # PostgreSQL-only search tables and indexes
            with engine.connect() as connection:
                # The migrated schema is the one the models describe (no missing column or index).
                context = MigrationContext.configure(connection)
                assert compare_metadata(context, metadata) == []

        downgrade(revision="base")
        assert _current(engine) is None
        assert _tables(engine) == set()

        upgrade()
        assert _current(engine) == head
        assert _tables(engine) == tables


_counter = itertools.count()


def _value_for(column: sa.Column[Any], parents: dict[str, list[Any]]) -> Any:
    """A value that fits the column's type, constraints and foreign keys."""
    for foreign_key in column.foreign_keys:
        target = foreign_key.column
        return parents[f"{target.table.name}.{target.name}"][0]
    number = next(_counter)
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enums:
        return kind.enums[0]
    if isinstance(kind, sa.Uuid) or "UUID" in type(kind).__name__.upper():
        return uuid.uuid4()
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.SmallInteger):
        return 1 + number % 3  # small: fits the 1-3 priority ranks
    if isinstance(kind, sa.Integer):
        return 1_000_000 + number  # distinct: integer columns may be unique per user (seq)
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(kind, sa.JSON) or "JSON" in type(kind).__name__.upper():
        return []  # tags are arrays (triggers read them); any JSON fits the others
    if isinstance(kind, sa.String):
        text = f"r{number}@example.com"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no sample value for {column.table.name}.{column.name} ({kind!r})")


def _is_generated(column: sa.Column[Any]) -> bool:
    return bool(
        column.primary_key
        and isinstance(column.type, sa.Integer)
        and not column.foreign_keys
        and (column.autoincrement is True or column.autoincrement == "auto")
    )


def _fill_every_table(engine: sa.Engine) -> dict[str, int]:
    """Insert rows into every table (parents first); return the row count of each table."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    metadata.remove(metadata.tables["alembic_version"])
    parents: dict[str, list[Any]] = {}
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            for _ in range(ROWS_PER_TABLE):
                row = {
                    column.name: _value_for(column, parents)
                    for column in table.columns
                    if not _is_generated(column) and (not column.nullable or column.foreign_keys)
                }
                connection.execute(table.insert().values(**row))
            for column in table.columns:
                if column.primary_key or column.unique:
                    values = connection.execute(sa.select(column)).scalars().all()
                    parents[f"{table.name}.{column.name}"] = list(values)
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
        }


def test_each_revision_upgrades_a_database_holding_data_without_losing_rows(
    migration_app: Flask,
) -> None:
    revisions = revisions_base_to_head()
    with migration_app.app_context():
        engine = db.engine
        counts: dict[str, int] = {}
        for revision in revisions:
            upgrade(revision=revision)
            assert _current(engine) == revision
            tables = _tables(engine)
            lost = {name: count for name, count in counts.items() if name not in tables}
            assert not lost, f"{revision} dropped tables holding rows: {lost}"
            with engine.connect() as connection:
                for name, before in counts.items():
                    after = connection.execute(
                        sa.text(f'SELECT count(*) FROM "{name}"')  # noqa: S608 - reflected names
                    ).scalar_one()
                    assert after >= before, f"{revision} lost rows of {name}: {before} → {after}"
            counts = _fill_every_table(engine)
            assert all(count >= ROWS_PER_TABLE for count in counts.values()), counts
        # Down to base works with data in every table too.
        downgrade(revision="base")
        assert _tables(engine) == set()


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
            differences = compare_metadata(context, schema_metadata("postgresql"))
    assert differences == []


def test_the_migrated_database_is_at_head(app):
    with app.app_context():
        from taskapi.services.readiness import migration_head

        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        assert current == migration_head(app.extensions["migrate"].directory)
