"""`flask seed`: realistic demo or benchmark data, inserted in bulk."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

from taskapi.services import seeding
from taskapi.services import users as user_service
from taskapi.services.passwords import hash_password


@click.command("seed")
@with_appcontext
@click.option(
    "--users",
    "user_count",
    type=click.IntRange(min=1),
    default=None,
    help="Users to create (default 10); the tasks are shared between them.",
)
@click.option(
    "--tasks",
    "task_count",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Tasks to create in all.",
)
@click.option(
    "--user-email",
    default=None,
    help="Put all the tasks on this user instead (created without a password if new).",
)
@click.option(
    "--password",
    default=None,
    help="Password of the created users (default: none, they cannot log in).",
)
@click.option(
    "--seed", "random_seed", type=int, default=None, help="Random seed, for repeatable data."
)
def seed_command(
    user_count: int | None,
    task_count: int,
    user_email: str | None,
    password: str | None,
    random_seed: int | None,
) -> None:
    """Create users and tasks with realistic content: titles and descriptions from real words,
    tags, priorities, due dates past and future, some recurring, some completed, created over
    the past year.

    Rows are inserted in bulk (COPY on PostgreSQL). Seeded tasks have no history entries.
    """
    if user_email is not None and user_count is not None:
        raise click.UsageError("--users and --user-email cannot be combined.")
    started = time.monotonic()
    rng = seeding.new_random(random_seed)
    password_hash = hash_password(password) if password is not None else None
    if user_email is not None:
        owner = user_service.find_by_email(user_email)
        if owner is None:
            owner = user_service.create_user(user_email, password)
        user_ids = [owner.id]
    else:
        user_ids = seeding.create_users(user_count or 10, password_hash, rng=rng)
    with click.progressbar(length=task_count, label="Seeding tasks", file=sys.stderr) as bar:
        total = seeding.seed_tasks(
            seeding.spread(task_count, user_ids),
            rng=rng,
            progress=bar.update,
        )
    click.echo(
        f"created {total} tasks for {len(user_ids)} user(s) in {time.monotonic() - started:.1f} s",
        err=True,
    )
