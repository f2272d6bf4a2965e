"""Users: people who log in, or accounts provisioned by a service client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from taskapi.extensions import db
from taskapi.models.types import UTCDateTime, utcnow


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored lower-cased: addresses are unique case-insensitively.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # None for users provisioned by a service client: they cannot log in with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


@dataclass(frozen=True, slots=True)
class Account:
    """A user as a request's authentication read them: whose data it is, and whether they
    administer. What services need of the owner of the data they work on; the full `User` is
    loaded only by the routes that show or change the user."""

    id: uuid.UUID
    is_admin: bool = False
