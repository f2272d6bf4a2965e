"""The audit log: one entry per change to a task, kept after the task is deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from taskapi.extensions import db
from taskapi.models.types import JSONType, UTCDateTime, utcnow

ACTIONS = ("created", "updated", "completed", "reopened", "deleted")


class HistoryEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_user_id_id", "user_id", "id"),
        Index("ix_history_user_id_task_id_id", "user_id", "task_id", "id"),
        Index("ix_history_user_id_action_id", "user_id", "action", "id"),
        Index("uq_history_user_id_seq", "user_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # Position among the user's entries (1, 2, 3 …), in id order: counts without scanning.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # No foreign key: the entry outlives its task.
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(16))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def actor(self) -> dict[str, str]:
        return {"type": self.actor_type, "id": self.actor_id}
