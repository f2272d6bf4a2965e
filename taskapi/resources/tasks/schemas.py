"""Task request and response bodies."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import ValidationError

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
