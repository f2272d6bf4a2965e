"""Statistics bodies and their query parameters."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import marshmallow as ma
from marshmallow import ValidationError

from taskapi.schemas import QuerySchema, Schema, Timestamp
from taskapi.services.stats import MAX_WEEKS


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


class TimeZone(ma.fields.Field[ZoneInfo]):
    """An IANA time zone name (`Europe/Paris`), deserialised to a `ZoneInfo`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> ZoneInfo:
        name = value if isinstance(value, str) else None
        if name is None or name not in _zone_names():
            raise ValidationError("Must be an IANA time zone name, such as Europe/Paris.")
        return ZoneInfo(name)


def _tz_field() -> TimeZone:
    return TimeZone(
        load_default=lambda: ZoneInfo("UTC"),
        metadata={
            "type": "string",
            "description": "IANA time zone that decides what a day is",
            "example": "UTC",
            # The exact set accepted, so clients and generated ones know it.
            "enum": sorted(_zone_names()),
        },
    )


class StatsQueryArgsSchema(QuerySchema):
    tz = _tz_field()


class WeeklyStatsQueryArgsSchema(QuerySchema):
    tz = _tz_field()
    weeks = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_WEEKS))


class StatusCountsSchema(Schema):
    open = ma.fields.Integer(dump_only=True)
    completed = ma.fields.Integer(dump_only=True)


class StatsByPrioritySchema(Schema):
    high = ma.fields.Nested(StatusCountsSchema, dump_only=True)
    medium = ma.fields.Nested(StatusCountsSchema, dump_only=True)
    low = ma.fields.Nested(StatusCountsSchema, dump_only=True)


class TagCountsSchema(StatusCountsSchema):
    tag = ma.fields.String(dump_only=True)

    class Meta:
        fields = ("tag", "open", "completed")


class StreakSchema(Schema):
    current = ma.fields.Integer(dump_only=True)
    longest = ma.fields.Integer(dump_only=True)


class StatsSchema(Schema):
    total = ma.fields.Integer(dump_only=True)
    open = ma.fields.Integer(dump_only=True)
    completed = ma.fields.Integer(dump_only=True)
    overdue = ma.fields.Integer(dump_only=True)
    due_today = ma.fields.Integer(dump_only=True)
    due_next_7_days = ma.fields.Integer(dump_only=True)
    completion_rate = ma.fields.Float(dump_only=True)
    by_priority = ma.fields.Nested(StatsByPrioritySchema, dump_only=True)
    top_tags = ma.fields.List(ma.fields.Nested(TagCountsSchema), dump_only=True)
    streak = ma.fields.Nested(StreakSchema, dump_only=True)
    created_last_7_days = ma.fields.Integer(dump_only=True)
    completed_last_7_days = ma.fields.Integer(dump_only=True)
    mood = ma.fields.String(
        dump_only=True,
        metadata={"enum": ["sleepy", "grumpy", "worried", "ecstatic", "happy", "content"]},
    )
    generated_at = Timestamp(dump_only=True)


class StatsDaySchema(Schema):
    date = ma.fields.Date(dump_only=True)
    created = ma.fields.Integer(dump_only=True)
    completed = ma.fields.Integer(dump_only=True)


class StatsWeekSchema(Schema):
    week_start = ma.fields.Date(dump_only=True)
    created = ma.fields.Integer(dump_only=True)
    completed = ma.fields.Integer(dump_only=True)
    days = ma.fields.List(ma.fields.Nested(StatsDaySchema), dump_only=True)


class WeeklyStatsSchema(Schema):
    tz = ma.fields.String(dump_only=True)
    weeks = ma.fields.List(ma.fields.Nested(StatsWeekSchema), dump_only=True)
