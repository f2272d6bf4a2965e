"""Task operations. Each one validates, changes the task, writes its history entry and commits,
all in one transaction: the change and its entry are stored together, or neither is."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, insert, select

from taskapi.errors import NotFound, ValidationFailed
from taskapi.extensions import PreparedStatement, db, execute_core
from taskapi.models import Account, Task
from taskapi.models.task import TASK_ROW_COLUMNS, TaskRow
from taskapi.models.types import utcnow
from taskapi.services import history, task_filters
from taskapi.services.listing import Listing
from taskapi.services.recurrence import InvalidRule, check_series, next_occurrence

#: Called with the locked task before it changes; raises to refuse (e.g. a stale If-Match).
Precondition = Callable[[Task], None]

#: What PUT resets optional fields to.
DEFAULTS: dict[str, Any] = {
    "description": None,
    "completed": False,
    "priority": "medium",
    "tags": [],
    "due_date": None,
    "reminder_at": None,
    "recurrence_rule": None,
}


def task_query(owner: Account, filters: Mapping[str, Any] | None = None) -> Listing:
    """The owner's tasks narrowed by the list filters, in the requested order (by default
    newest first), ties broken by id."""
    return task_filters.task_listing(owner.id, filters or {})


def task_rows(statement: Select[Any]) -> list[Row[Any]]:
    """The tasks `statement` selects, as rows of `TASK_ROW_COLUMNS` (read-only)."""
    return list(execute_core(statement.with_only_columns(*TASK_ROW_COLUMNS)).all())


def get_task(owner: Account, task_id: uuid.UUID | str) -> Task | TaskRow:
    """The owner's task (read-only when the token check fetched it: a `TaskRow`); 404 for a
    malformed id, an unknown one, or someone else's."""
    from taskapi.auth import NOT_PRELOADED, preloaded_task

    task = preloaded_task(owner, task_id)
    if task is NOT_PRELOADED:
        task = _find(owner, task_id, lock=False)
    if task is None:
        raise NotFound("Task not found.")
    return task


#: The owner's task by id, built once (see `_find`).
_OWN_TASK = select(Task).where(Task.id == bindparam("task_id"), Task.user_id == bindparam("owner"))
#: The same, locked: serialises writers on this task (a concurrent change waits, then sees the
#: new state).
_OWN_TASK_LOCKED = _OWN_TASK.with_for_update().execution_options(populate_existing=True)


def _find(owner: Account, task_id: uuid.UUID | str, *, lock: bool) -> Task | None:
    try:
        key = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
    except ValueError:
        return None
    statement = _OWN_TASK_LOCKED if lock else _OWN_TASK
    return db.session.scalars(statement, {"task_id": key, "owner": owner.id}).first()


def _locked(owner: Account, task_id: uuid.UUID | str, precondition: Precondition | None) -> Task:
    task = _find(owner, task_id, lock=True)
    if task is None:
        db.session.rollback()
        raise NotFound("Task not found.")
    if precondition is not None:
        try:
            precondition(task)
        except Exception:
            db.session.rollback()
            raise
    return task


def create_task(owner: Account, data: Mapping[str, Any]) -> Task:
    """Create a task from validated input and record `created`."""
    values = {**DEFAULTS, **data}
    _check_consistency(values)
    now = utcnow()
    task = Task(id=uuid.uuid4(), user_id=owner.id, created_at=now, updated_at=now)
    for name, value in values.items():
        setattr(task, name, value)
    task.completed_at = now if task.completed else None
    if task.recurrence_rule:
        _start_series(task)
    history.record(owner.id, task.id, "created", history.initial_values(task.snapshot()))
    # A plain INSERT of every column: the new task is not read back in this transaction, and
    # the ORM's unit of work cost more than the statement. `task` stays a transient object
    # describing what was written.
    _INSERT_TASK.execute(db.session.connection(), {key: getattr(task, key) for key in _TASK_KEYS})
    db.session.commit()
    return task


_TASK_KEYS = tuple(column.key for column in Task.__table__.columns)
_INSERT_TASK = PreparedStatement("insert_into_tasks", insert(Task.__table__), _TASK_KEYS)


def replace_task(
    owner: Account,
    task_id: uuid.UUID | str,
    data: Mapping[str, Any],
    precondition: Precondition | None = None,
) -> Task:
    """PUT: full replacement; optional fields left out go back to their defaults."""
    return update_task(owner, task_id, {**DEFAULTS, **data}, precondition)[0]


def update_task(
    owner: Account,
    task_id: uuid.UUID | str,
    data: Mapping[str, Any],
    precondition: Precondition | None = None,
) -> tuple[Task, Task | None]:
    """PATCH: only the fields given change. Returns the task and the occurrence it spawned."""
    task = _locked(owner, task_id, precondition)
    try:
        return _apply(owner, task, dict(data))
    except Exception:
        db.session.rollback()
        raise


def complete_task(
    owner: Account, task_id: uuid.UUID | str, precondition: Precondition | None = None
) -> tuple[Task, Task | None]:
    """Mark completed; a recurring task spawns its next occurrence in the same transaction.

    Completing a completed task changes nothing and spawns nothing.
    """
    return update_task(owner, task_id, {"completed": True}, precondition)


def reopen_task(
    owner: Account, task_id: uuid.UUID | str, precondition: Precondition | None = None
) -> tuple[Task, Task | None]:
    return update_task(owner, task_id, {"completed": False}, precondition)


def toggle_task(
    owner: Account, task_id: uuid.UUID | str, precondition: Precondition | None = None
) -> tuple[Task, Task | None]:
    """Complete an open task or reopen a completed one, by the state found under the lock."""
    task = _locked(owner, task_id, precondition)
    try:
        return _apply(owner, task, {"completed": not task.completed})
    except Exception:
        db.session.rollback()
        raise


def delete_task(
    owner: Account, task_id: uuid.UUID | str, precondition: Precondition | None = None
) -> None:
    task = _locked(owner, task_id, precondition)
    history.record(owner.id, task.id, "deleted", history.final_values(task.snapshot()))
    db.session.delete(task)
    db.session.commit()


def _apply(owner: Account, task: Task, data: dict[str, Any]) -> tuple[Task, Task | None]:
    before = task.snapshot()
    was_completed = task.completed
    old_rule, old_due = task.recurrence_rule, task.due_date
    values = {**{name: getattr(task, name) for name in DEFAULTS}, "title": task.title, **data}
    _check_consistency(values)

    for name, value in data.items():
        setattr(task, name, value)
    now = utcnow()
    if task.completed and not was_completed:
        task.completed_at = now
    elif not task.completed:
        task.completed_at = None
    if not task.recurrence_rule:
        task.recurrence_start = None
    elif task.recurrence_rule != old_rule or task.due_date != old_due or not task.recurrence_start:
        # A new rule or due date starts a new series at this task.
        _start_series(task)

    changes = history.diff(before, task.snapshot())
    spawned = None
    if changes:
        task.updated_at = now
        if task.completed and not was_completed:
            action = "completed"
            spawned = _spawn_next(owner, task, now)
        elif was_completed and not task.completed:
            action = "reopened"
        else:
            action = "updated"
        history.record(owner.id, task.id, action, changes)
        if spawned is not None:
            history.record(
                owner.id, spawned.id, "created", history.initial_values(spawned.snapshot())
            )
    _commit_keeping_state()
    return task, spawned


def _commit_keeping_state() -> None:
    """Commit without expiring the loaded tasks, so that the response describes the version this
    transaction wrote. Expired, they would be reloaded when serialised and could show a change
    another request committed in between (a toggle answering with the state after the next one)."""
    session = db.session()
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire_on_commit


def _start_series(task: Task) -> None:
    """Make the task the start (RFC 5545 DTSTART) of a new series; 422 if the rule never recurs
    from its due date (e.g. `FREQ=HOURLY;INTERVAL=2;BYHOUR=0` from an odd hour).
    `_check_consistency` has made sure a task with a rule has a due date."""
    rule, start = task.recurrence_rule or "", task.due_date or utcnow()
    try:
        check_series(rule, start)
    except InvalidRule as error:
        raise ValidationFailed.field("recurrence_rule", str(error)) from None
    task.recurrence_start = task.due_date


def _spawn_next(owner: Account, task: Task, now: datetime) -> Task | None:
    """The series' next occurrence after the completed task's due date, or None when exhausted."""
    if not task.recurrence_rule or task.due_date is None:
        return None
    start = task.recurrence_start or task.due_date
    due = next_occurrence(task.recurrence_rule, start, task.due_date)
    if due is None:
        return None
    reminder = None
    if task.reminder_at is not None:
        reminder = due - (task.due_date - task.reminder_at)
    spawned = Task(
        id=uuid.uuid4(),
        user_id=owner.id,
        title=task.title,
        description=task.description,
        completed=False,
        completed_at=None,
        priority=task.priority,
        tags=list(task.tags),
        due_date=due,
        reminder_at=reminder,
        recurrence_rule=task.recurrence_rule,
        recurrence_start=start,
        created_at=now,
        updated_at=now,
    )
    db.session.add(spawned)
    return spawned


def _check_consistency(values: Mapping[str, Any]) -> None:
    """Rules that involve several fields, checked on the task as it would be after the change."""
    due, reminder = values.get("due_date"), values.get("reminder_at")
    if due is not None and reminder is not None and reminder > due:
        raise ValidationFailed.field("reminder_at", "Must not be after due_date.")
    if values.get("recurrence_rule") and due is None:
        raise ValidationFailed.field("recurrence_rule", "A recurrence rule needs a due_date.")
