"""Tasks, owned by one user."""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    Uuid,
    column,
    desc,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskapi.extensions import db
from taskapi.models.types import JSONType, Priority, UTCDateTime, utcnow


class Task(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tasks"
    __table_args__ = (
        # One index per listing order, per user, ties broken by id (scanned either way).
        Index("ix_tasks_user_id_created_at_id", "user_id", "created_at", "id"),
        # Completions per day (statistics): only completed tasks. SQLAlchemy writes the
        # condition as `completed = 1` on SQLite, which the planner must see as the same.
        Index(
            "ix_tasks_user_id_completed_at",
            "user_id",
            "completed_at",
            postgresql_where=text("completed"),
            sqlite_where=text("completed = 1"),
        ),
        # Open and completed tasks per priority (statistics), counted from the index alone.
        Index("ix_tasks_user_id_completed_priority", "user_id", "completed", "priority"),
        Index("ix_tasks_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_id_priority_id", "user_id", "priority", "id"),
        Index("ix_tasks_user_id_title_id", "user_id", "title", "id"),
        # Tasks without a due date come last in both directions: one index per direction.
        Index("ix_tasks_user_id_due_date_id", "user_id", "due_date", "id"),
        Index(
            "ix_tasks_user_id_due_date_desc_id",
            "user_id",
            desc(column("due_date")).nulls_last(),
            desc(column("id")),
        ),
        # Open tasks by due date: `status=open|overdue` and their counts from the index alone.
        Index(
            "ix_tasks_user_id_open_due_date",
            "user_id",
            "due_date",
            postgresql_where=text("completed = false"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[str] = mapped_column(Priority, default="medium")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recurrence_rule: Mapped[str | None] = mapped_column(String(1000))
    # RFC 5545 DTSTART of the series this task belongs to (the due date the rule was first set on).
    recurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_recurring(self) -> bool:
        return self.recurrence_rule is not None

    def snapshot(self) -> dict[str, Any]:
        """The client-visible fields, JSON-ready, as history records them."""
        return {field: _jsonable(getattr(self, field)) for field in TRACKED_FIELDS}

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.title!r}>"


#: Fields whose changes history records.
TRACKED_FIELDS = (
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "tags",
    "due_date",
    "reminder_at",
    "recurrence_rule",
)


#: A task's client-visible columns: what reads that need no ORM object select (a page of 50
#: tasks costs a fraction of loading 50 mapped instances).
TASK_ROW_COLUMNS = tuple(
    Task.__table__.c[name] for name in ("id", *TRACKED_FIELDS, "created_at", "updated_at")
)
TASK_ROW_FIELDS = tuple(column.name for column in TASK_ROW_COLUMNS)

#: One task read as `TASK_ROW_COLUMNS` out of a wider row (read-only, like the rows of a list).
TaskRow = namedtuple("TaskRow", TASK_ROW_FIELDS)  # type: ignore[misc]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    return value
