"""Command inputs that are not a REST body as is (the id of the path joins the body), and the
catalogue and result envelopes."""

from __future__ import annotations

import marshmallow as ma

from taskapi.resources.stats.schemas import StatsQueryArgsSchema
from taskapi.resources.tasks.schemas import TaskPatchSchema, TaskQueryArgsSchema
from taskapi.schemas import Schema


class TaskIdSchema(Schema):
    """Commands on one task: its id (the REST path parameter)."""

    id = ma.fields.UUID(required=True)


class TaskUpdateCommandSchema(TaskPatchSchema):
    """PATCH semantics: only the fields sent change; plus the task's id."""

    id = ma.fields.UUID(required=True)


class TaskListCommandSchema(TaskQueryArgsSchema):
    """The list filters, and the page as fields."""

    class Meta(TaskQueryArgsSchema.Meta):
        unknown = ma.RAISE  # a body, not a query string: unknown fields are refused

    page = ma.fields.Integer(strict=True, load_default=1, validate=ma.validate.Range(min=1))
    page_size = ma.fields.Integer(
        strict=True, load_default=50, validate=ma.validate.Range(min=1, max=100)
    )


class StatsCommandSchema(StatsQueryArgsSchema):
    """`tz` as a field."""

    class Meta(StatsQueryArgsSchema.Meta):
        unknown = ma.RAISE  # a body, not a query string: unknown fields are refused


class CommandInfoSchema(ma.Schema):
    name = ma.fields.String(metadata={"example": "create_task"})
    description = ma.fields.String()
    scope = ma.fields.String(
        metadata={"description": "Scope an API key needs to run it", "example": "tasks:write"}
    )
    input_schema = ma.fields.Dict(metadata={"description": "JSON Schema of the input (the body)"})
    output_schema = ma.fields.Dict(
        metadata={"description": "JSON Schema of `result` (null for none)"}
    )


class CommandResultSchema(ma.Schema):
    command = ma.fields.String(metadata={"example": "get_task"})
    result = ma.fields.Raw(allow_none=True, metadata={"description": "What the REST twin returns"})
