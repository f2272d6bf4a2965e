"""The tables, one module each."""

from taskapi.models.api_key import ApiKey
from taskapi.models.history import HistoryEntry
from taskapi.models.tag_count import TagCount
from taskapi.models.task import Task
from taskapi.models.token import RevokedToken
from taskapi.models.user import User

__all__ = ["ApiKey", "HistoryEntry", "RevokedToken", "TagCount", "Task", "User"]
