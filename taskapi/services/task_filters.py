"""The task list's filters and orders, with the same results on PostgreSQL and SQLite.

Search words are runs of letters and digits, lower-cased; anything else separates words, so
"my-report" holds the words "my" and "report". A query word matches a word it is a prefix of.
PostgreSQL matches against the indexed `search_vector` column (prefix `to_tsquery` on words keyed
by owner, see `taskapi.models.task.SEARCH_VECTOR_SQL`); SQLite, where
that column does not exist, matches the same words through SQL functions registered on each
connection (`register_sqlite_functions`).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, select, true

from taskapi.extensions import db
from taskapi.models import Task
from taskapi.models.types import utcnow

#: A word: a run of letters and digits (no underscore), as PostgreSQL's `[[:alnum:]]+`.
WORD = re.compile(r"[^\W_]+")

SORT_COLUMNS = {
    "created_at": Task.created_at,
    "updated_at": Task.updated_at,
    "due_date": Task.due_date,
    "priority": Task.priority,
    "title": Task.title,
}
STATUSES = ("open", "completed", "overdue")
SORT_ORDERS = ("asc", "desc")

_search_vector = Task.__table__.c.search_vector
_tag_keys = Task.__table__.c.tag_keys


def search_words(text: str) -> list[str]:
    """The lower-cased words of `text`, in order."""
    return WORD.findall(text.lower())


def owner_key(owner_id: uuid.UUID) -> str:
    """The prefix of the owner's entries in `search_vector` and `tag_keys` (see the model)."""
    return "u" + hashlib.md5(str(owner_id).encode(), usedforsecurity=False).hexdigest()[:8]


def apply_filters(
    statement: Select[Any], owner_id: uuid.UUID, filters: Mapping[str, Any]
) -> Select[Any]:
    """Narrow `statement` (over `owner_id`'s tasks) by the list filters present in `filters`."""
    postgres = db.engine.dialect.name == "postgresql"
    conditions: list[ColumnElement[bool]] = []
    words = search_words(filters.get("q") or "")
    if words:
        conditions.append(_words_match(owner_id, words, postgres))
    status = filters.get("status")
    # `completed = false`, as the predicate of the partial index on open tasks.
    if status == "open":
        conditions.append(Task.completed == false())
    elif status == "completed":
        conditions.append(Task.completed == true())
    elif status == "overdue":
        conditions += [Task.completed == false(), Task.due_date < utcnow()]
    if filters.get("priority"):
        conditions.append(Task.priority.in_(filters["priority"]))
    if filters.get("tags"):
        tags = [tag.lower() for tag in filters["tags"]]
        conditions.append(_has_tags(owner_id, tags, postgres))
    if filters.get("due_date_from") is not None:
        conditions.append(Task.due_date >= filters["due_date_from"])
    if filters.get("due_date_to") is not None:
        conditions.append(Task.due_date <= filters["due_date_to"])
    return statement.where(*conditions) if conditions else statement


def apply_order(statement: Select[Any], filters: Mapping[str, Any]) -> Select[Any]:
    """Order by `sort_by`/`sort_order`, ties broken by id in the same direction, so that pages
    never repeat or skip a task; tasks without a due date come last in both directions."""
    column = SORT_COLUMNS[filters.get("sort_by") or "created_at"]
    descending = (filters.get("sort_order") or "desc") == "desc"
    first = column.desc() if descending else column.asc()
    if column is Task.due_date:
        first = first.nulls_last()
    return statement.order_by(first, Task.id.desc() if descending else Task.id.asc())


def _words_match(owner_id: uuid.UUID, words: Sequence[str], postgres: bool) -> ColumnElement[bool]:
    if postgres:
        # Words hold only letters and digits: nothing in them is tsquery syntax.
        key = owner_key(owner_id)
        query = " & ".join(f"{key}{word}:*" for word in words)
        return _search_vector.op("@@")(func.to_tsquery("simple", query))
    text = func.taskapi_search_text(Task.title, Task.description)
    return and_(*(text.like(f"% {word}%") for word in words))


def _has_tags(owner_id: uuid.UUID, tags: Sequence[str], postgres: bool) -> ColumnElement[bool]:
    if postgres:
        key = owner_key(owner_id)
        return _tag_keys.contains([key + tag for tag in tags])
    conditions = []
    for tag in tags:
        each = func.json_each(Task.tags).table_valued("value").alias()
        conditions.append(
            exists(select(1).select_from(each).where(func.taskapi_lower(each.c.value) == tag))
        )
    return and_(*conditions)


def _search_text(title: str | None, description: str | None) -> str:
    """Title and description as " word word …" (each word preceded by a space), for LIKE."""
    words = search_words(f"{title or ''} {description or ''}")
    return "".join(f" {word}" for word in words)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """The SQL functions the SQLite fallback of the filters uses (Python's Unicode lower case;
    SQLite's own `lower()` knows only ASCII)."""
    connection.create_function("taskapi_search_text", 2, _search_text, deterministic=True)
    connection.create_function("taskapi_lower", 1, _lower, deterministic=True)


__all__ = ["apply_filters", "apply_order", "register_sqlite_functions", "search_words"]
