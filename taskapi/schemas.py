"""Project-wide schema base and strict fields (the contract wants exact types, storable text)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError


class Schema(ma.Schema):
    """Unknown (and read-only) fields in input are rejected, never silently dropped."""

    class Meta:
        unknown = ma.RAISE


class QuerySchema(ma.Schema):
    """Query strings: pagination parameters are parsed separately, other unknowns are ignored."""

    class Meta:
        unknown = ma.EXCLUDE


def check_storable(value: str) -> str:
    """Refuse text PostgreSQL cannot store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text (no lone surrogates).") from None
    return value


class Text(ma.fields.String):
    """A string that can be stored; `strip=True` trims surrounding white space first."""

    def __init__(self, *args: Any, strip: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strip = strip

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = check_storable(super()._deserialize(value, attr, data, **kwargs))
        return text.strip() if self.strip else text


class Email(Text):
    """An e-mail address, trimmed and lower-cased (addresses are unique case-insensitively)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", [ma.validate.Length(max=320), ma.validate.Email()])
        kwargs.setdefault("metadata", {"format": "email"})
        super().__init__(strip=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).lower()


class StrictBoolean(ma.fields.Boolean):
    """Only JSON `true`/`false`: `1`, `"true"`, `"yes"` are refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Timestamp(ma.fields.DateTime):
    """ISO 8601 timestamp; input without offset is taken as UTC; stored and returned in UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Timestamp is out of range.") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
