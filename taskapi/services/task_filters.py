"""The task list's filters and orders, with the same results on PostgreSQL and SQLite.

Search words are runs of letters and digits, lower-cased; anything else separates words, so
"my-report" holds the words "my" and "report". A query word matches a word it is a prefix of.

PostgreSQL matches words and tags in the `task_words` and `task_tags` tables (see
`taskapi.models.task_search`): each query word or tag is a range of the owner's B-tree entries,
read from the index alone. A search without other filters is counted there, without visiting
a task, and its page is found by walking the index of the requested order and keeping the keys
of matching tasks (a hash of the matching ids); only the page's rows are then read (a few
matches are read by id and sorted instead, very many joined to the tasks). SQLite,
where those tables do not exist, matches the same words through SQL functions registered on
each connection (`register_sqlite_functions`).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Uuid,
    and_,
    any_,
    cast,
    distinct,
    exists,
    false,
    func,
    intersect,
    select,
    true,
)

from taskapi.extensions import db, execute_core
from taskapi.models import Task
from taskapi.models.task_search import MAX_WORD_LENGTH, task_tags, task_words
from taskapi.models.types import utcnow
from taskapi.services.listing import Listing

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

#: Up to this many matches, a search's page is found by reading the matching tasks by id and
#: sorting them; more are cheaper to meet along the index of the order, up to
#: HASHED_SEARCH_MAX_MATCHES: a hash of that many ids stays small (about 1 MB).
FEW_SEARCH_MATCHES = 500
HASHED_SEARCH_MAX_MATCHES = 20_000
#: After every character a word can hold: `word >= prefix AND word < prefix + END` is the
#: range of words starting with `prefix` (byte order, "C" collation).
END = "\U0010ffff"


def search_words(text: str) -> list[str]:
    """The lower-cased words of `text`, in order."""
    return WORD.findall(text.lower())


def task_listing(owner_id: uuid.UUID, filters: Mapping[str, Any]) -> Listing:
    """The owner's tasks narrowed by the list filters, in the requested order, and the quickest
    way this module knows to count and page them."""
    postgres = db.engine.dialect.name == "postgresql"
    statement = select(Task).where(Task.user_id == owner_id)
    matches = _indexed_matches(owner_id, filters) if postgres else None
    conditions = _conditions(filters, search=matches is None)
    if matches is None:
        return Listing(apply_order(statement.where(*conditions), filters))
    # The matching ids as one array value, computed once: the planner neither guesses their
    # number from statistics nor joins them to the tasks (a join it may choose to feed from a
    # scan of the whole table).
    found = matches.ids.subquery()
    # (Cast: `= ANY (SELECT …)` would compare with each row of the subquery, not the array.)
    ids = cast(select(func.array_agg(found.c.task_id)).scalar_subquery(), ARRAY(Uuid))
    if conditions:
        # The other filters read the tasks anyway: those of the matching ids.
        return Listing(apply_order(statement.where(Task.id == any_(ids), *conditions), filters))
    total = int(execute_core(matches.count).scalar() or 0)
    if total > HASHED_SEARCH_MAX_MATCHES:
        # Many: the planner joins them to the owner's tasks (a hash join, within work_mem).
        statement = apply_order(statement.where(Task.id.in_(matches.ids)), filters)
        return Listing(statement, count=lambda: total, keys_first=True)
    if total <= FEW_SEARCH_MATCHES:
        # Few: read those tasks by id and sort them.
        statement = apply_order(statement.where(Task.id == any_(ids)), filters)
        return Listing(statement, count=lambda: total)
    # Walk the index of the order and keep the keys found in a hash of the ids. `IS TRUE` keeps
    # the subquery a filter, not a join whose result the planner would sort.
    matching = Task.id.in_(select(func.unnest(ids))).is_(true())
    statement = apply_order(statement.where(matching), filters)
    return Listing(statement, count=lambda: total, keys_first=True)


def apply_order(statement: Select[Any], filters: Mapping[str, Any]) -> Select[Any]:
    """Order by `sort_by`/`sort_order`, ties broken by id in the same direction, so that pages
    never repeat or skip a task; tasks without a due date come last in both directions."""
    column = SORT_COLUMNS[filters.get("sort_by") or "created_at"]
    descending = (filters.get("sort_order") or "desc") == "desc"
    first = column.desc() if descending else column.asc()
    if column is Task.due_date:
        first = first.nulls_last()
    return statement.order_by(first, Task.id.desc() if descending else Task.id.asc())


def _conditions(filters: Mapping[str, Any], *, search: bool) -> list[ColumnElement[bool]]:
    """The conditions of the filters present in `filters`; `q` and `tags` only with `search`."""
    conditions: list[ColumnElement[bool]] = []
    words = search_words(filters.get("q") or "")
    if search and words:
        conditions.append(_words_match(words))
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
    if search and filters.get("tags"):
        conditions.append(_has_tags([tag.lower() for tag in filters["tags"]]))
    if filters.get("due_date_from") is not None:
        conditions.append(Task.due_date >= filters["due_date_from"])
    if filters.get("due_date_to") is not None:
        conditions.append(Task.due_date <= filters["due_date_to"])
    return conditions


@dataclass(frozen=True)
class Matches:
    """The owner's tasks that a search's words and tags match, in the search tables."""

    #: The ids of the matching tasks (one may come more than once).
    ids: Select[Any]
    #: How many tasks match.
    count: Select[Any]


def _indexed_matches(owner_id: uuid.UUID, filters: Mapping[str, Any]) -> Matches | None:
    """The owner's tasks that match `q` and `tags`, from the search tables (PostgreSQL); None
    when neither filters."""
    # Stored words are cut to MAX_WORD_LENGTH: a longer query word matches by its start.
    prefixes = dict.fromkeys(
        word[:MAX_WORD_LENGTH] for word in search_words(filters.get("q") or "")
    )
    tags = dict.fromkeys(tag.lower() for tag in filters.get("tags") or ())
    sets = [
        select(task_words.c.task_id).where(
            task_words.c.user_id == owner_id,
            task_words.c.word >= prefix,
            task_words.c.word < prefix + END,
        )
        for prefix in prefixes
    ]
    sets += [
        select(task_tags.c.task_id).where(task_tags.c.user_id == owner_id, task_tags.c.tag == tag)
        for tag in tags
    ]
    if not sets:
        return None
    if len(sets) > 1:
        ids = select(intersect(*sets).subquery().c.task_id)  # distinct
        return Matches(ids, select(func.count()).select_from(ids.subquery()))
    # A task may hold several words that start with the same prefix (never the same tag twice).
    counted = func.count(distinct(task_words.c.task_id)) if prefixes else func.count()
    return Matches(sets[0], sets[0].with_only_columns(counted))


def _words_match(words: Sequence[str]) -> ColumnElement[bool]:
    text = func.taskapi_search_text(Task.title, Task.description)
    return and_(*(text.like(f"% {word}%") for word in words))


def _has_tags(tags: Sequence[str]) -> ColumnElement[bool]:
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


__all__ = [
    "apply_order",
    "register_sqlite_functions",
    "search_words",
    "task_listing",
]
