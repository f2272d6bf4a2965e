"""Tokens: login, refresh with rotation, logout with immediate revocation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt
from sqlalchemy.exc import IntegrityError

from taskapi.errors import Unauthorized
from taskapi.extensions import db
from taskapi.models import RevokedToken, User
from taskapi.services.passwords import verify_password
from taskapi.services.users import find_by_email

INVALID_CREDENTIALS = "Invalid email or password."


def issue_tokens(user: User) -> dict[str, Any]:
    identity = str(user.id)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=identity),
        "refresh_token": create_refresh_token(identity=identity),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
    }


def login(email: str, password: str) -> dict[str, Any]:
    """Same answer for an unknown address, a wrong password and a disabled user."""
    user = find_by_email(email)
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        raise Unauthorized(INVALID_CREDENTIALS)
    return issue_tokens(user)


def revoke_current_token(user: User) -> None:
    """Revoke the token of this request; a token can be revoked once (a reuse race loses)."""
    claims = get_jwt()
    db.session.add(
        RevokedToken(
            jti=claims["jti"],
            token_type=claims.get("type", "access"),
            user_id=user.id,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Unauthorized("The token has been revoked.") from None


def refresh(user: User) -> dict[str, Any]:
    """Rotate: the presented refresh token is revoked and a new pair issued."""
    revoke_current_token(user)
    return issue_tokens(user)


def purge_expired_revocations() -> int:
    """Delete revocation rows of tokens that have expired anyway."""
    from sqlalchemy import delete

    result = db.session.execute(
        delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC))
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
