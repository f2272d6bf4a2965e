"""What a service hands to a paginated route: the rows to page through, in order, and the
quicker ways to count and read them that the service knows of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


@dataclass(frozen=True)
class Listing:
    """A list to page through (see `taskapi.api.SelectPage`)."""

    statement: Select[Any]
    #: The number of rows of `statement`, when something quicker than counting them knows it.
    count: Callable[[], int] | None = None
    #: Read every page's keys first, then only the rows of those keys, and not only deep pages:
    #: for a statement whose filters an index of the order can check alone (an index-only scan
    #: then finds the page without visiting the rows it skips).
    keys_first: bool = False
