"""The search entries of tasks, on PostgreSQL only: one row per word and one per tag of each task.

Triggers on `tasks` write them (migration 0005), in the transaction of each change, whoever
writes: the API, bulk seeding, a user's deletion, SQL by hand. A B-tree on (owner, word or tag,
task) makes a search a range of the owner's entries, counted and matched from the index alone
(an index-only scan): its cost follows the owner's matches, not the table's size, and it never
visits the tasks.

They are not part of the ORM's schema (`db.metadata`): SQLite has no such tables, its filters
read the tasks themselves (see `taskapi.services.task_filters`).
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, Text, Uuid

#: Words longer than this are stored cut to it: a B-tree entry must fit in a third of a page
#: (4 bytes a character at most), and no searched word is longer (`q` has 500 characters).
MAX_WORD_LENGTH = 500

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})

#: The distinct words of each task's title and description (see `task_filters.search_words`),
#: lower-cased. Byte order ("C"), so that the words starting with a prefix are one range.
task_words = Table(
    "task_words",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("word", Text(collation="C"), primary_key=True),
    Column("task_id", Uuid, primary_key=True),
)

#: The distinct tags of each task, lower-cased.
task_tags = Table(
    "task_tags",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("tag", Text(collation="C"), primary_key=True),
    Column("task_id", Uuid, primary_key=True),
)

__all__ = ["MAX_WORD_LENGTH", "metadata", "task_tags", "task_words"]
