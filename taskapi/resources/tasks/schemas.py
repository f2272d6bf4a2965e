"""Task request and response bodies."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError
from sqlalchemy import Row

from taskapi.models import Task
from taskapi.models.task import TASK_ROW_FIELDS, TaskRow
from taskapi.models.types import PRIORITIES
from taskapi.schemas import QuerySchema, Schema, StrictBoolean, Text, Timestamp
from taskapi.services import task_filters
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
        """The fields above, written out by hand for `Task` objects and for the rows lists read
        (same attribute names): a task is dumped twice per response (its ETag, its body) and a
        list page 50 times, and marshmallow's generic field machinery cost more than the rest of
        a read. The output is identical (tested against `marshmallow.Schema.dump`); anything
        other than a full dump of tasks takes the generic path."""
        many = self.many if many is None else many
        if self.only is None and not self.exclude:
            if not many and _is_task(obj):
                return _dump_task(obj)
            if many and isinstance(obj, list) and _all_tasks(obj):
                return [_dump_task(item) for item in obj]
        return super().dump(obj, many=many)


def _is_task(obj: Any) -> bool:
    """A `Task`, a row of `TASK_ROW_COLUMNS` (what lists read) or a `TaskRow`."""
    kind = type(obj)
    return kind is Task or kind is TaskRow or (kind is Row and obj._fields == TASK_ROW_FIELDS)


def _all_tasks(items: list[Any]) -> bool:
    if items and type(items[0]) is Row:
        # Rows of one result share their fields: one check covers the page.
        return _is_task(items[0]) and all(type(item) is Row for item in items)
    return all(type(item) is Task for item in items)


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # as the database hands them back
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _strings(values: Iterable[Any] | None) -> list[str | None] | None:
    return None if values is None else [_text(value) for value in values]


def _dump_task(task: Any) -> dict[str, Any]:
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
        "is_recurring": task.recurrence_rule is not None,
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


#: One tag of a comma-separated filter: not blank, 1-50 characters once trimmed, no NUL.
_TAG_ITEM = r"\s*[^,\s\x00]([^,\x00]{0,48}[^,\s\x00])?\s*"


class CommaSeparated(ma.fields.Field):
    """A comma-separated list in a query string (`high,medium`), each item checked by `item`."""

    def __init__(self, item: ma.fields.Field, *, max_items: int = 20, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {"type": "string", **kwargs["metadata"]}
        super().__init__(**kwargs)
        self.item = item
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        parts = [part.strip() for part in value.split(",")]
        if len(parts) > self.max_items:
            raise ValidationError(f"At most {self.max_items} items.")
        items: list[Any] = []
        errors: dict[int, Any] = {}
        for index, part in enumerate(parts):
            if not part:
                errors[index] = ["Empty item."]
                continue
            try:
                items.append(self.item.deserialize(part))
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)
        return items


class TaskQueryArgsSchema(QuerySchema):
    """Filters for the task list, all optional and combinable."""

    q = Text(
        validate=ma.validate.Length(max=500),
        metadata={
            "description": (
                "Words searched in title and description, case-insensitively; every word must "
                'match the start of a word (`rep` finds "report" and "my-report"). A word is a '
                "run of letters and digits; anything else separates words. A value without any "
                "letter or digit does not filter."
            )
        },
    )
    status = ma.fields.String(
        validate=ma.validate.OneOf(task_filters.STATUSES),
        metadata={"description": "`overdue`: open with a due_date in the past"},
    )
    priority = CommaSeparated(
        ma.fields.String(validate=ma.validate.OneOf(PRIORITIES)),
        metadata={
            "description": "One priority or a comma-separated list",
            "example": "high,medium",
            "pattern": r"^\s*(low|medium|high)\s*(,\s*(low|medium|high)\s*)*$",
        },
    )
    tags = CommaSeparated(
        Text(strip=True, validate=ma.validate.Length(min=1, max=50)),
        max_items=MAX_TAGS,
        metadata={
            "description": "Comma-separated tags a task must all carry (case-insensitive)",
            "example": "work,urgent",
            # Up to 20 items, each 1-50 characters once trimmed.
            "pattern": rf"^{_TAG_ITEM}(,{_TAG_ITEM}){{0,{MAX_TAGS - 1}}}$",
        },
    )
    due_date_from = Timestamp(
        metadata={"description": "due_date at or after (tasks without a due_date are excluded)"}
    )
    due_date_to = Timestamp(
        metadata={"description": "due_date at or before (tasks without a due_date are excluded)"}
    )
    sort_by = ma.fields.String(
        load_default="created_at",
        validate=ma.validate.OneOf(list(task_filters.SORT_COLUMNS)),
        metadata={"description": "Ties are broken by id, in the same direction"},
    )
    sort_order = ma.fields.String(
        load_default="desc",
        validate=ma.validate.OneOf(task_filters.SORT_ORDERS),
        metadata={"description": "Tasks without a due_date come last whatever the order"},
    )

    @ma.validates_schema
    def check_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("due_date_from"), data.get("due_date_to")
        if start is not None and end is not None and start > end:
            raise ValidationError("Must not be after due_date_to.", "due_date_from")
