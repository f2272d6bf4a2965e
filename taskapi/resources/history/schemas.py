"""History entry bodies and the filters of the history lists."""

from __future__ import annotations

import marshmallow as ma

from taskapi.models.history import ACTIONS
from taskapi.schemas import QuerySchema, Schema, Timestamp

#: Largest id a client may send as `after` (a signed 64-bit integer).
MAX_ENTRY_ID = 2**63 - 1


class ActorSchema(Schema):
    type = ma.fields.String(dump_only=True, metadata={"enum": ["user", "api_key", "system"]})
    id = ma.fields.String(dump_only=True)


class HistoryEntrySchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    task_id = ma.fields.UUID(dump_only=True)
    action = ma.fields.String(dump_only=True, metadata={"enum": list(ACTIONS)})
    changes = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Dict(),
        dump_only=True,
        metadata={"description": 'Every field that changed, as {"old": …, "new": …}'},
    )
    actor = ma.fields.Nested(ActorSchema, dump_only=True)
    request_id = ma.fields.String(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)


class TaskHistoryQueryArgsSchema(QuerySchema):
    """Filters for a task's history."""

    action = ma.fields.String(validate=ma.validate.OneOf(ACTIONS))
    since = Timestamp(metadata={"description": "Entries written at or after this time"})
    until = Timestamp(metadata={"description": "Entries written at or before this time"})
    after = ma.fields.Integer(
        strict=False,
        validate=ma.validate.Range(min=0, max=MAX_ENTRY_ID),
        metadata={
            "description": (
                "Incremental sync: only entries with a larger id, oldest first. "
                "Pass the largest id you have seen."
            )
        },
    )


class HistoryQueryArgsSchema(TaskHistoryQueryArgsSchema):
    """Filters for the history of all your tasks."""

    task_id = ma.fields.UUID()
