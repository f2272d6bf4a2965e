"""How many of each user's open and completed tasks carry each tag: the statistics' top tags.

Written only by triggers on `tasks` (migration 0006), in the transaction of the change, so the
counts follow every write: the API's, bulk seeding, a user's deletion, a hand-written UPDATE.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from taskapi.extensions import db


class TagCount(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tag_counts"

    # No foreign key: deleting a user deletes its tasks, whose triggers bring every count to
    # zero, and a row is deleted when both of its counts are zero.
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    #: The tag lower-cased: spellings that differ only in case are one tag.
    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    #: Occurrences of the tag on the user's open and completed tasks.
    open: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<TagCount {self.tag!r} {self.open}/{self.completed}>"
