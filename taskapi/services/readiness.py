"""Readiness: is the database reachable, and is its schema at the latest migration?"""

from __future__ import annotations

from functools import lru_cache

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from taskapi.errors import ServiceUnavailable
from taskapi.extensions import db


@lru_cache(maxsize=4)
def migration_head(directory: str) -> str | None:
    return ScriptDirectory(directory).get_current_head()


def check() -> None:
    if current_app.extensions.get("taskapi.draining"):
        raise ServiceUnavailable("The server is shutting down.")
    try:
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError:
        db.session.rollback()
        raise ServiceUnavailable("The database is unreachable or not initialised.") from None
    finally:
        db.session.remove()
    head = migration_head(current_app.extensions["migrate"].directory)
    if current != head:
        raise ServiceUnavailable(
            "The database schema is not at the latest migration (run `flask db upgrade`)."
        )
