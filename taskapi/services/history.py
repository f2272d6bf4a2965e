"""The audit log: writing one entry per task change, inside the change's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, has_request_context
from sqlalchemy import BigInteger, bindparam, exists, func, insert, select
from sqlalchemy.engine import Connection

from taskapi.errors import NotFound
from taskapi.extensions import PreparedStatement, db, execute_core
from taskapi.models import Account, HistoryEntry
from taskapi.models.types import utcnow
from taskapi.services.listing import Listing


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


def _serialize_user_writes(connection: Connection, user_id: uuid.UUID) -> None:
    """Take the user's history lock until commit (PostgreSQL).

    Sequence values are handed out at INSERT but become visible at COMMIT, so two concurrent
    transactions could commit ids out of order and an `after=` reader could skip one. Holding a
    per-user transaction lock from before the INSERT until the commit makes one user's entries
    commit in id order. SQLite serialises writers anyway.

    The lock is taken before the change it records is flushed. Triggers on `tasks` then update
    the user's tag counts (migration 0006) while this lock is held: one user's writers queue
    here first, and none waits for the lock while holding a count row another one needs (two
    writers locking in opposite orders would deadlock).
    """
    if connection.dialect.name == "postgresql":
        key = uuid.UUID(str(user_id)).int >> 65  # fits a signed bigint
        _USER_HISTORY_LOCK.execute(connection, {"key": key})


#: Built once: the statement, not the key, is the same on every write.
_USER_HISTORY_LOCK = PreparedStatement(
    "history_lock", select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))
)


def record(
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    action: str,
    changes: dict[str, dict[str, Any]],
    actor: Actor | None = None,
) -> None:
    """Write one entry in the current transaction (the caller commits the change with it).

    The entry is inserted at once, as a plain INSERT on the session's connection: nothing reads
    it back in the transaction, and the ORM's unit of work cost more than the statement."""
    actor = actor or current_actor()
    connection = db.session.connection()
    _serialize_user_writes(connection, user_id)
    _INSERT_ENTRY.execute(
        connection,
        {
            "user_id": user_id,
            "owner": user_id,
            "task_id": task_id,
            "action": action,
            "changes": changes,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "request_id": g.get("request_id") if has_request_context() else None,
            "created_at": utcnow(),
        },
    )


_ENTRIES = HistoryEntry.__table__
#: The entry's number is computed by the INSERT itself, so one statement writes the entry (and,
#: on SQLite, the write lock it takes makes the number atomic; on PostgreSQL the user's lock
#: does). Built once.
_INSERT_ENTRY = PreparedStatement(
    "insert_into_history",
    insert(_ENTRIES).values(
        seq=select(func.coalesce(func.max(_ENTRIES.c.seq), 0) + 1)
        .where(_ENTRIES.c.user_id == bindparam("owner"))
        .scalar_subquery()
    ),
    # Every column but the generated id and the computed number.
    column_keys=tuple(column.key for column in _ENTRIES.columns if column.key not in ("id", "seq")),
)


def history_query(
    owner: Account,
    *,
    task_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
) -> Listing:
    """The owner's entries, newest first; with `after`, those with a larger id, oldest first.

    Because one user's entries commit in id order, a client that replays `after=<last id seen>`
    never misses an entry.
    """
    unfiltered = task_id is None and action is None and since is None and until is None
    count = (lambda: _count_after(owner, after)) if unfiltered else None
    statement = select(HistoryEntry).where(HistoryEntry.user_id == owner.id)
    if task_id is not None:
        statement = statement.where(HistoryEntry.task_id == task_id)
    if action is not None:
        statement = statement.where(HistoryEntry.action == action)
    if since is not None:
        statement = statement.where(HistoryEntry.created_at >= since)
    if until is not None:
        statement = statement.where(HistoryEntry.created_at <= until)
    if after is not None:
        statement = statement.where(HistoryEntry.id > after).order_by(HistoryEntry.id.asc())
    else:
        statement = statement.order_by(HistoryEntry.id.desc())
    return Listing(statement, count)


def _count_after(owner: Account, after: int | None) -> int:
    """How many of the owner's entries have an id above `after`, from their sequence numbers.

    Entries are numbered 1, 2, 3 … per user in id order, so this reads two index entries
    instead of counting rows.
    """

    def last_seq(*conditions: Any) -> int:
        statement = (
            select(HistoryEntry.seq)
            .where(HistoryEntry.user_id == owner.id, *conditions)
            .order_by(HistoryEntry.id.desc())
            .limit(1)
        )
        return int(execute_core(statement).scalar() or 0)

    total = last_seq()
    if after is None or total == 0:
        return total
    return total - last_seq(HistoryEntry.id <= after)


def task_history_query(owner: Account, task_id: uuid.UUID | str, **filters: Any) -> Listing:
    """One task's entries; 404 unless the task was ever the owner's (deleted tasks included)."""
    try:
        key = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
    except ValueError:
        raise NotFound("Task not found.") from None
    known = db.session.scalar(
        select(exists().where(HistoryEntry.user_id == owner.id, HistoryEntry.task_id == key))
    )
    if not known:
        raise NotFound("Task not found.")
    return history_query(owner, **{**filters, "task_id": key})
