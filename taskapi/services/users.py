"""Accounts: registration, provisioning, listing and disabling."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from taskapi.errors import Conflict, Forbidden, NotFound
from taskapi.extensions import db
from taskapi.models import User
from taskapi.services.passwords import hash_password


def create_user(
    email: str,
    password: str | None = None,
    name: str | None = None,
    *,
    is_admin: bool = False,
) -> User:
    """Create a user; 409 when the (lower-cased) address is taken, even by a concurrent request."""
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("A user with this email already exists.")
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A user with this email already exists.") from None
    return user


def register(email: str, password: str, name: str | None = None) -> User:
    if not current_app.config["REGISTRATION_ENABLED"]:
        raise Forbidden("Registration is disabled on this server.")
    return create_user(email, password, name)


def get_user(user_id: uuid.UUID | None) -> User:
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound("User not found.")
    return user


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def list_users() -> Sequence[User]:
    return db.session.scalars(select(User).order_by(User.created_at, User.id)).all()


def disable_user(email: str) -> User:
    """Disable a user: login refused, and the tokens it holds stop working at once."""
    user = find_by_email(email)
    if user is None:
        raise NotFound(f"No user with email {email!r}.")
    user.is_active = False
    db.session.commit()
    return user
