"""The audit log: writing one entry per task change, inside the change's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import func, select

from taskapi.extensions import db
from taskapi.models import HistoryEntry


@dataclass(frozen=True)
class Actor:
    type: str  # "user", "api_key" or "system"
    id: str


def current_actor() -> Actor:
    """The caller of the current request (the CLI and seeding act as `system`)."""
    principal = g.get("principal") if has_request_context() else None
    if principal is None:
        return Actor("system", "cli")
    return Actor(principal.actor_type, principal.actor_id)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field-level changes as {"field": {"old": …, "new": …}}."""
    return {
        name: {"old": before.get(name), "new": after.get(name)}
        for name in after
        if before.get(name) != after.get(name)
    }


def initial_values(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"old": None, "new": value} for name, value in snapshot.items() if value is not None
    }


def final_values(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"old": value, "new": None} for name, value in snapshot.items() if value is not None
    }


def _serialize_user_writes(user_id: uuid.UUID) -> None:
    """Take the user's history lock until commit (PostgreSQL).

    Sequence values are handed out at INSERT but become visible at COMMIT, so two concurrent
    transactions could commit ids out of order and an `after=` reader could skip one. Holding a
    per-user transaction lock from before the INSERT until the commit makes one user's entries
    commit in id order. SQLite serialises writers anyway.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        key = uuid.UUID(str(user_id)).int >> 65  # fits a signed bigint
        db.session.execute(select(func.pg_advisory_xact_lock(key)))


def record(
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    action: str,
    changes: dict[str, dict[str, Any]],
    actor: Actor | None = None,
) -> HistoryEntry:
    """Add one entry to the current transaction (the caller commits the change with it)."""
    actor = actor or current_actor()
    _serialize_user_writes(user_id)
    entry = HistoryEntry(
        user_id=user_id,
        task_id=task_id,
        action=action,
        changes=changes,
        actor_type=actor.type,
        actor_id=actor.id,
        request_id=g.get("request_id") if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
