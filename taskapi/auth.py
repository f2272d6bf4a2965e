"""Who is calling, and whose data they address.

`authenticated()` guards every protected view: it runs before argument parsing (so a missing
token answers 401 before a bad body answers 422), documents the security requirement and the
401/403/404 responses, and sets `g.principal` (the caller) and `g.owner` (the user whose data the
request addresses).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, g
from flask_jwt_extended import verify_jwt_in_request
from flask_smorest.utils import deepupdate
from sqlalchemy import exists, select

from taskapi.errors import Forbidden, problem
from taskapi.extensions import db, jwt
from taskapi.models import RevokedToken, User

F = TypeVar("F", bound=Callable[..., Any])

BEARER = "bearerAuth"
API_KEY = "apiKeyAuth"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    actor_type: str  # "user" or "api_key"
    actor_id: str
    user: User | None = None  # the logged-in user; None for a service key
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return bool(self.user is not None and self.user.is_admin)


def current_principal() -> Principal:
    return cast(Principal, g.principal)


def current_user() -> User:
    """The logged-in user (routes that only a user's own token may call)."""
    user = current_principal().user
    if user is None:
        raise Forbidden("This endpoint needs a user's token.")
    return user


def current_owner() -> User:
    """The user whose tasks, history and statistics this request reads or changes."""
    return cast(User, g.owner)


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def authenticated(scope: str | None = None, *, refresh: bool = False) -> Callable[[F], F]:
    """Require a valid access token (or, with `refresh=True`, a refresh token)."""

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh)
            user = cast(User, g.pop("_jwt_user"))
            g.principal = Principal(actor_type="user", actor_id=str(user.id), user=user)
            g.owner = user
            return func(*args, **kwargs)

        responses: dict[str, Any] = {"401": "UNAUTHORIZED"}
        if scope:
            responses["403"] = "FORBIDDEN"
        apidoc = deepcopy(getattr(func, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(
            apidoc.get("manual_doc", {}),
            {"security": [{BEARER: []}], "responses": responses},
        )
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def _unauthorized(detail: str) -> Any:
    return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def register_jwt_handlers(app: Flask) -> None:
    """Make flask-jwt-extended check revocation and user state, and answer in problem+json."""

    @jwt.token_in_blocklist_loader
    def token_is_revoked(jwt_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # One query answers both "is this token revoked?" and "is its user still active?".
        user_id = parse_uuid(payload.get("sub"))
        jti = payload.get("jti")
        if user_id is None or not isinstance(jti, str):
            return True
        revoked = exists().where(RevokedToken.jti == jti)
        row = db.session.execute(
            select(User, revoked.label("revoked")).where(User.id == user_id)
        ).first()
        if row is None or row.revoked or not row.User.is_active:
            return True
        g._jwt_user = row.User
        return False

    @jwt.user_lookup_loader
    def load_user(jwt_header: dict[str, Any], payload: dict[str, Any]) -> User | None:
        return cast(User | None, g.get("_jwt_user"))

    @jwt.unauthorized_loader
    def missing_token(reason: str) -> Any:
        return _unauthorized(
            "Missing or malformed Authorization header (expected: Bearer <token>)."
        )

    @jwt.invalid_token_loader
    def invalid_token(reason: str) -> Any:
        if "refresh" in reason.lower() or "access" in reason.lower():
            return _unauthorized("Wrong token type for this endpoint.")
        return _unauthorized("The token is invalid.")

    @jwt.expired_token_loader
    def expired_token(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Any:
        return _unauthorized("The token has expired.")

    @jwt.revoked_token_loader
    def revoked_token(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Any:
        return _unauthorized("The token has been revoked or its user is disabled.")

    @jwt.needs_fresh_token_loader
    def needs_fresh(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Any:
        return _unauthorized("A fresh token is required.")

    @jwt.token_verification_failed_loader
    def verification_failed(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Any:
        return _unauthorized("The token is invalid.")

    @jwt.user_lookup_error_loader
    def user_lookup_failed(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Any:
        return _unauthorized("The token's user does not exist.")
