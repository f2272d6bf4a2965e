"""API keys of service clients: stored as a hash, looked up by their public prefix."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from taskapi.extensions import db
from taskapi.models.types import JSONType, UTCDateTime, utcnow


class ApiKey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_keys"
    __table_args__ = (
        # A name designates the current key of a credential; the keys it replaced by rotation
        # keep the name (and work until their grace period ends) but do not hold it.
        Index(
            "uq_api_keys_current_name",
            "name",
            unique=True,
            postgresql_where=text("replaced_by_id IS NULL"),
            sqlite_where=text("replaced_by_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    #: Public part of the key (`tk_` + 8 characters), unique, used to find the row.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: Hex SHA-256 of the whole key; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key: rotation sets it in the transaction that inserts the new key, before the
    # INSERT (the unique current name must be freed first).
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    def status(self, now: datetime | None = None) -> str:
        """`active`, `revoked`, `expired`, or `rotated` (replaced, still in its grace period)."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.replaced_by_id is not None:
            return "rotated"
        return "active"

    def __repr__(self) -> str:
        return f"<ApiKey {self.name} {self.prefix}>"
