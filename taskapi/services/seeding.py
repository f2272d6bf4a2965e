"""Demo and benchmark data: realistic users and tasks, inserted in bulk.

Rows go in without the ORM: PostgreSQL receives them with COPY, SQLite with one executemany per
batch. Seeded tasks get no history entries (they were not changed through the API).
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from taskapi.extensions import db
from taskapi.models import Task, User
from taskapi.models.types import PRIORITIES, utcnow

BATCH_SIZE = 10_000

VERBS = (
    "Write", "Review", "Update", "Prepare", "Call", "Email", "Plan", "Fix", "Book", "Buy",
    "Clean", "Finish", "Schedule", "Check", "Send", "Organize", "Draft", "Read", "Pay", "Renew",
)  # fmt: skip
#: Ordered by how often they occur (Zipf-like weights): "report" is common, the tail is rare.
NOUNS = (
    "report", "meeting", "invoice", "presentation", "groceries", "budget", "dentist", "proposal",
    "newsletter", "backup", "contract", "website", "garden", "car", "insurance", "taxes",
    "birthday", "flight", "hotel", "laundry", "kitchen", "slides", "roadmap", "interview",
    "documentation", "release", "migration", "dashboard", "feedback", "training", "workshop",
    "conference", "passport", "library", "bicycle", "vaccination", "plumber", "mortgage",
    "subscription", "warranty", "inventory", "certificate",
)  # fmt: skip
#: Words that appear in about one title in a thousand.
RARE_NOUNS = ("harpsichord", "zeppelin", "xylophone", "quokka")
RARE_RATE = 0.001
ADJECTIVES = (
    "quarterly", "weekly", "new", "final", "draft", "urgent", "annual", "monthly", "shared",
    "personal", "team", "client", "updated", "overdue", "short",
)  # fmt: skip
PEOPLE = ("Alice", "Bob", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Inès", "João")
SENTENCES = (
    "Ask {person} about the {noun} before Friday.",
    "Remember to attach the {adjective} {noun}.",
    "Follow up with {person} on the {noun} and the {noun2}.",
    "The {noun} needs a second look; see notes from last week.",
    "Budget for the {noun} is tight, keep it simple.",
    "Blocked until {person} sends the {noun2}.",
    "Check the {adjective} numbers twice.",
)
TAGS = (
    "work", "home", "urgent", "finance", "health", "errands", "family", "project-x", "reading",
    "travel", "admin", "music", "sport", "learning", "car", "garden", "ops", "client", "q4",
    "someday",
)  # fmt: skip
RULES = (
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=MO",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=MONTHLY;BYMONTHDAY=1",
    "FREQ=MONTHLY;INTERVAL=3",
    "FREQ=YEARLY",
    "FREQ=WEEKLY;INTERVAL=2;COUNT=10",
)
_NOUN_WEIGHTS = [1 / (rank + 1) ** 0.7 for rank in range(len(NOUNS))]
_TAG_WEIGHTS = [1 / (rank + 1) for rank in range(len(TAGS))]

TASK_COLUMNS = (
    "id", "user_id", "title", "description", "completed", "completed_at", "priority", "tags",
    "due_date", "reminder_at", "recurrence_rule", "recurrence_start", "created_at", "updated_at",
)  # fmt: skip


def new_random(seed: int | None = None) -> random.Random:
    """Random data for demos and benchmarks (not for secrets)."""
    return random.Random(seed)  # noqa: S311


def create_users(
    count: int, password_hash: str | None = None, *, rng: random.Random | None = None
) -> list[uuid.UUID]:
    """Insert `count` users (addresses unique per run) in one statement; returns their ids."""
    rng = rng or new_random()
    run = uuid.uuid4().hex[:8]
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "email": f"user{number}.{run}@seed.example.com",
            "name": f"{rng.choice(PEOPLE)} {number}",
            "password_hash": password_hash,
            "is_admin": False,
            "is_active": True,
            "created_at": now - timedelta(days=rng.uniform(365, 730)),
        }
        for number in range(1, count + 1)
    ]
    if rows:
        db.session.execute(insert(User.__table__), rows)
        db.session.commit()
    return [row["id"] for row in rows]


def seed_tasks(
    allotment: Sequence[tuple[uuid.UUID, int]],
    *,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert tasks for each (user id, count) of `allotment`, users interleaved as real traffic
    would store them. Calls `progress(n)` after each batch of n rows; returns the total."""
    rng = rng or new_random()
    owners = [index for index, (_user, count) in enumerate(allotment) for _ in range(count)]
    rng.shuffle(owners)
    user_ids = [user for user, _count in allotment]
    now = utcnow()
    postgres = db.engine.dialect.name == "postgresql"
    for start in range(0, len(owners), BATCH_SIZE):
        batch = [
            _task_row(user_ids[owner], rng, now) for owner in owners[start : start + BATCH_SIZE]
        ]
        if postgres:
            _copy_tasks(batch)
        else:
            db.session.execute(
                insert(Task.__table__), [dict(zip(TASK_COLUMNS, row, strict=True)) for row in batch]
            )
        db.session.commit()
        if progress is not None:
            progress(len(batch))
    return len(owners)


def spread(total: int, users: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, int]]:
    """`total` tasks shared as evenly as possible between `users`."""
    share, extra = divmod(total, len(users))
    return [(user, share + (1 if index < extra else 0)) for index, user in enumerate(users)]


def _copy_tasks(rows: list[tuple[Any, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    priority = TASK_COLUMNS.index("priority")
    for row in rows:
        values = [_csv_value(value) for value in row]
        values[priority] = PRIORITIES.index(row[priority]) + 1  # stored as 1/2/3
        writer.writerow(values)
    buffer.seek(0)
    cursor = db.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            f"COPY tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
        )
    finally:
        cursor.close()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""  # unquoted empty field: NULL
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "t" if value else "f"
    return value


def _task_row(user_id: uuid.UUID, rng: random.Random, now: datetime) -> tuple[Any, ...]:
    created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
    noun, noun2 = rng.choices(NOUNS, _NOUN_WEIGHTS, k=2)
    if rng.random() < RARE_RATE:
        noun = rng.choice(RARE_NOUNS)
    adjective = rng.choice(ADJECTIVES)
    title = f"{rng.choice(VERBS)} {adjective if rng.random() < 0.4 else 'the'} {noun}"
    if rng.random() < 0.3:
        title += f" with {rng.choice(PEOPLE)}"
    description = None
    if rng.random() < 0.6:
        description = " ".join(
            rng.choice(SENTENCES).format(
                person=rng.choice(PEOPLE), noun=noun, noun2=noun2, adjective=adjective
            )
            for _ in range(rng.randint(1, 3))
        )
    tags: list[str] = []
    for tag in rng.choices(TAGS, _TAG_WEIGHTS, k=rng.choice((0, 1, 1, 2, 2, 3))):
        if tag not in tags:
            tags.append(tag.capitalize() if rng.random() < 0.1 else tag)
    due = reminder = rule = None
    if rng.random() < 0.7:
        due = created + timedelta(days=rng.uniform(-1, 60))
        if rng.random() < 0.25:
            reminder = due - timedelta(hours=rng.choice((1, 24, 48)))
        if rng.random() < 0.06:
            rule = rng.choice(RULES)
    completed = (due is not None and due < now and rng.random() < 0.7) or rng.random() < 0.1
    completed_at = None
    if completed:
        completed_at = created + (now - created) * rng.random()
    updated = max(completed_at or created, created + (now - created) * rng.random() * 0.2)
    priority = rng.choices(PRIORITIES, (3, 5, 2))[0]
    return (
        uuid.uuid4(), user_id, title, description, completed, completed_at, priority, tags,
        due, reminder, rule, due if rule else None, created, updated,
    )  # fmt: skip
