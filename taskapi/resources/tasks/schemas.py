"""Task request and response bodies."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError

from taskapi.models import Task
from taskapi.models.types import PRIORITIES
from taskapi.schemas import QuerySchema, Schema, StrictBoolean, Text, Timestamp
from taskapi.services.recurrence import InvalidRule, normalize_rule

MAX_TAGS = 20


class Tags(ma.fields.List):
    """Tags: each trimmed, 1-50 characters; duplicates dropped case-insensitively, first spelling
    and order kept; at most 20 after that."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Text(strip=True, validate=ma.validate.Length(min=1, max=50)), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        tags = super()._deserialize(value, attr, data, **kwargs)
        unique: dict[str, str] = {}
        for tag in tags:
            unique.setdefault(str(tag).casefold(), str(tag))
        if len(unique) > MAX_TAGS:
            raise ValidationError(f"At most {MAX_TAGS} distinct tags.")
        return list(unique.values())


class RecurrenceRule(Text):
    """An RFC 5545 RRULE, with or without the `RRULE:` prefix (stored without it)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 1000:
            raise ValidationError("Longer than maximum length 1000.")
        try:
            return normalize_rule(text)
        except InvalidRule as error:
            raise ValidationError(str(error)) from None


class TaskSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    title = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True, allow_none=True)
    completed = ma.fields.Boolean(dump_only=True)
    completed_at = Timestamp(dump_only=True, allow_none=True)
    priority = ma.fields.String(dump_only=True, metadata={"enum": list(PRIORITIES)})
    tags = ma.fields.List(ma.fields.String(), dump_only=True)
    due_date = Timestamp(dump_only=True, allow_none=True)
    reminder_at = Timestamp(dump_only=True, allow_none=True)
    recurrence_rule = ma.fields.String(dump_only=True, allow_none=True)
    is_recurring = ma.fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand for `Task` objects: a task is dumped twice per
        response (its ETag, its body) and a list page 50 times, and marshmallow's generic field
        machinery cost more than the rest of a read. The output is identical (tested against
        `marshmallow.Schema.dump`); anything other than a full dump of tasks takes the generic
        path."""
        many = self.many if many is None else many
        if self.only is None and not self.exclude:
            if not many and type(obj) is Task:
                return _dump_task(obj)
            if many and isinstance(obj, list) and all(type(item) is Task for item in obj):
                return [_dump_task(item) for item in obj]
        return super().dump(obj, many=many)


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _strings(values: Iterable[Any] | None) -> list[str | None] | None:
    return None if values is None else [_text(value) for value in values]


def _dump_task(task: Task) -> dict[str, Any]:
    return {
        "id": _text(task.id),
        "title": _text(task.title),
        "description": _text(task.description),
        "completed": _boolean(task.completed),
        "completed_at": _timestamp(task.completed_at),
        "priority": _text(task.priority),
        "tags": _strings(task.tags),
        "due_date": _timestamp(task.due_date),
        "reminder_at": _timestamp(task.reminder_at),
        "recurrence_rule": _text(task.recurrence_rule),
        "is_recurring": _boolean(task.is_recurring),
        "created_at": _timestamp(task.created_at),
        "updated_at": _timestamp(task.updated_at),
    }


class TaskPatchSchema(Schema):
    """Only the fields sent change; `null` clears a nullable field."""

    title = Text(strip=True, validate=ma.validate.Length(min=1, max=500))
    description = Text(allow_none=True, validate=ma.validate.Length(max=5000))
    completed = StrictBoolean()
    priority = ma.fields.String(validate=ma.validate.OneOf(PRIORITIES))
    tags = Tags()
    due_date = Timestamp(allow_none=True)
    reminder_at = Timestamp(allow_none=True)
    recurrence_rule = RecurrenceRule(allow_none=True)

    @ma.validates_schema
    def check_dates(self, data: dict[str, Any], **kwargs: Any) -> None:
        due, reminder = data.get("due_date"), data.get("reminder_at")
        if due is not None and reminder is not None and reminder > due:
            raise ValidationError("Must not be after due_date.", "reminder_at")


class TaskCreateSchema(TaskPatchSchema):
    """A new task (also the body of PUT: optional fields left out take their defaults)."""

    title = Text(strip=True, required=True, validate=ma.validate.Length(min=1, max=500))


class CompletionSchema(Schema):
    task = ma.fields.Nested(TaskSchema, dump_only=True)
    next = ma.fields.Nested(
        TaskSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The next occurrence of a recurring task, if one was created"},
    )


class TaskQueryArgsSchema(QuerySchema):
    """Filters for the task list."""
