"""API keys of service clients: creation (the key is shown once), listing, revocation, rotation,
and authentication of the `X-API-Key` header.

A key reads `tk_<8 characters>_<secret>`. The part before the second underscore is public and
unique: it finds the row. Only a SHA-256 hash of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from taskapi.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from taskapi.extensions import db
from taskapi.models import ApiKey
from taskapi.models.types import utcnow

log = logging.getLogger("taskapi.api_keys")

#: Every scope a key can hold.
SCOPES = ("tasks:read", "tasks:write", "history:read", "stats:read", "users:write")

KEY_PREFIX = "tk_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY_FORMAT = re.compile(r"^(tk_[a-z0-9]{8})_[A-Za-z0-9_-]{32,128}$")
MAX_NAME_LENGTH = 100

#: `last_used_at` is written at most once per key per this interval.
LAST_USED_RESOLUTION = timedelta(seconds=60)

#: WWW-Authenticate of a 401 caused by the X-API-Key header.
API_KEY_CHALLENGE = 'ApiKey realm="taskapi", header="X-API-Key"'


def hash_key(key: str) -> str:
    """SHA-256 of the key, hex.

    A fast hash is right here, unlike for passwords: the secret is 256 random bits, so there is
    no dictionary to try and brute force is out of reach whatever the hash speed, while a slow
    hash would cost every request that presents a key.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = KEY_PREFIX + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, de-duplicated in order; 422 for an unknown one or none at all."""
    result = list(dict.fromkeys(scope.strip() for scope in scopes if scope.strip()))
    unknown = [scope for scope in result if scope not in SCOPES]
    if unknown:
        raise ValidationFailed.field(
            "scopes", f"Unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}."
        )
    if not result:
        raise ValidationFailed.field("scopes", f"Give at least one of {', '.join(SCOPES)}.")
    return result


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValidationFailed.field("name", f"Must be 1-{MAX_NAME_LENGTH} printable characters.")
    return name


def _current(name: str, *, lock: bool = False) -> ApiKey:
    statement = select(ApiKey).where(ApiKey.name == name, ApiKey.replaced_by_id.is_(None))
    if lock:
        statement = statement.with_for_update()
    key = db.session.scalars(statement).first()
    if key is None:
        raise NotFound(f"No API key named {name!r}.")
    return key


def create_key(
    name: str, scopes: Iterable[str], expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the plain key (not stored: it cannot be shown again)."""
    name = _check_name(name)
    scope_list = check_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed.field("expires_at", "Must be in the future.")
    if db.session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Conflict(f"An API key named {name!r} already exists.")
    prefix, plain = _new_key()
    key = ApiKey(
        name=name, prefix=prefix, key_hash=hash_key(plain), scopes=scope_list, expires_at=expires_at
    )
    db.session.add(key)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"An API key named {name!r} already exists.") from None
    return key, plain


def list_keys() -> Sequence[ApiKey]:
    """Every key, current and replaced, by name then age."""
    return db.session.scalars(select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)).all()


def revoke_key(name: str) -> list[ApiKey]:
    """Revoke the key called `name` and the keys it replaced that still work: 401 at once."""
    _current(name)
    now = utcnow()
    keys = list(
        db.session.scalars(
            select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).with_for_update()
        )
    )
    for key in keys:
        key.revoked_at = now
    db.session.commit()
    return keys


def rotate_key(
    name: str, grace_seconds: int | None = None, expires_at: datetime | None = None
) -> tuple[ApiKey, ApiKey, str]:
    """Replace the key called `name` by a new one with the same scopes: returns the old key, the
    new one, and the new plain key (shown once).

    The old key keeps working for the grace period (APIKEY_ROTATION_GRACE_SECONDS by default),
    so clients can switch without downtime. The new key expires when the old one would have,
    unless `expires_at` is given.
    """
    if grace_seconds is None:
        grace_seconds = int(current_app.config["APIKEY_ROTATION_GRACE_SECONDS"])
    if grace_seconds < 0:
        raise ValidationFailed.field("grace", "Must be 0 or more seconds.")
    now = utcnow()
    old = _current(name, lock=True)
    if old.revoked_at is not None:
        db.session.rollback()
        raise Conflict(f"The API key {name!r} is revoked; create a new key instead.")
    new_expiry = expires_at if expires_at is not None else old.expires_at
    if new_expiry is not None and new_expiry <= now:
        db.session.rollback()
        raise ValidationFailed.field(
            "expires_at", "The new key would already be expired; give a later expiry."
        )
    prefix, plain = _new_key()
    new = ApiKey(
        id=uuid.uuid4(),
        name=old.name,
        prefix=prefix,
        key_hash=hash_key(plain),
        scopes=list(old.scopes),
        expires_at=new_expiry,
    )
    grace_end = now + timedelta(seconds=grace_seconds)
    old.expires_at = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
    old.replaced_by_id = new.id
    try:
        db.session.flush()  # frees the current name before the new key takes it
        db.session.add(new)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"The API key {name!r} was rotated concurrently; try again.") from None
    return old, new, plain


def _lookup(presented: str) -> ApiKey | None:
    """The key whose hash matches `presented`, whatever its state; None if there is none.

    Cached for the request: the rate limiter identifies the caller with it before the view
    authenticates.
    """
    cache: dict[str, ApiKey | None] | None = None
    if has_request_context():
        cache = g.setdefault("_api_key_lookups", {})
        if presented in cache:
            return cache[presented]
    key = None
    match = _KEY_FORMAT.match(presented)
    if match is not None:
        candidate = db.session.scalars(select(ApiKey).where(ApiKey.prefix == match[1])).first()
        if candidate is not None and hmac.compare_digest(candidate.key_hash, hash_key(presented)):
            key = candidate
    if cache is not None:
        cache[presented] = key
    return key


def identify(presented: str) -> ApiKey | None:
    """The key `presented` designates, valid or not (for rate limiting by key)."""
    return _lookup(presented)


def authenticate(presented: str) -> ApiKey:
    """The valid key `presented`; 401 when it is unknown, revoked or expired."""
    key = _lookup(presented)
    if key is None:
        raise Unauthorized("Invalid API key.", headers={"WWW-Authenticate": API_KEY_CHALLENGE})
    now = utcnow()
    if key.revoked_at is not None:
        raise Unauthorized(
            "The API key has been revoked.", headers={"WWW-Authenticate": API_KEY_CHALLENGE}
        )
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized(
            "The API key has expired.", headers={"WWW-Authenticate": API_KEY_CHALLENGE}
        )
    _touch(key, now)
    return key


def _touch(key: ApiKey, now: datetime) -> None:
    """Record the use, at most once per LAST_USED_RESOLUTION whatever the number of processes.

    The UPDATE is conditional (so concurrent requests write once) and runs in its own short
    transaction on its own connection: the request's transaction is not committed early, and a
    failure here never fails the request.
    """
    threshold = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at >= threshold:
        return
    statement = (
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < threshold),
        )
        .values(last_used_at=now)
    )
    try:
        with db.engine.begin() as connection:
            connection.execute(statement)
    except SQLAlchemyError:
        log.warning("could not record the use of API key %s", key.id, exc_info=True)
