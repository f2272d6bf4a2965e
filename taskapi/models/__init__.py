"""The tables, one module each."""

from sqlalchemy import MetaData

from taskapi.extensions import db
from taskapi.models import task_search
from taskapi.models.api_key import ApiKey
from taskapi.models.history import HistoryEntry
from taskapi.models.tag_count import TagCount
from taskapi.models.task import Task
from taskapi.models.token import RevokedToken
from taskapi.models.user import Account, User


def schema_metadata(dialect: str) -> list[MetaData]:
    """The tables the migrations create on `dialect`: the ORM's, and on PostgreSQL the search
    entries of tasks (`task_search`)."""
    return [db.metadata, task_search.metadata] if dialect == "postgresql" else [db.metadata]


__all__ = [
    "Account",
    "ApiKey",
    "HistoryEntry",
    "RevokedToken",
    "TagCount",
    "Task",
    "User",
    "schema_metadata",
]
