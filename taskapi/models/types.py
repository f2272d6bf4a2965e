"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite (no time zones) values are stored in UTC.

    Always returns aware datetimes in UTC, so every timestamp is serialised with its offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


PRIORITIES = ("low", "medium", "high")
_PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES, start=1)}


class Priority(TypeDecorator[str]):
    """`low`/`medium`/`high` stored as 1/2/3, so the database sorts high > medium > low."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> int | None:
        return None if value is None else _PRIORITY_RANK[value]

    def process_result_value(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else PRIORITIES[value - 1]

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return str(_PRIORITY_RANK[value])


#: JSONB on PostgreSQL (indexable), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
