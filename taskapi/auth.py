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

from apispec import BasePlugin
from flask import Flask, current_app, g, has_request_context, request
from flask_jwt_extended import verify_jwt_in_request
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.internal_utils import verify_token_not_blocklisted, verify_token_type
from flask_jwt_extended.view_decorators import _decode_jwt_from_headers, _load_user
from flask_smorest.utils import deepupdate
from sqlalchemy import and_, bindparam, exists, select

from taskapi.errors import Forbidden, NotFound, Unauthorized, problem
from taskapi.extensions import PreparedStatement, db, jwt
from taskapi.models import Account, RevokedToken, Task, User
from taskapi.models.task import TASK_ROW_COLUMNS, TaskRow

F = TypeVar("F", bound=Callable[..., Any])

BEARER = "bearerAuth"
API_KEY = "apiKeyAuth"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    actor_type: str  # "user" or "api_key"
    actor_id: str
    user: Account | None = None  # the logged-in user; None for a service key
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return bool(self.user is not None and self.user.is_admin)


def current_principal() -> Principal:
    return cast(Principal, g.principal)


def current_user() -> User:
    """The logged-in user, loaded in full (routes that only a user's own token may call)."""
    account = current_principal().user
    if account is None:
        raise Forbidden("This endpoint needs a user's token.")
    user = db.session.get(User, account.id)
    if user is None:  # deleted since the token check
        raise Unauthorized("The token's user does not exist.")
    return user


def current_owner() -> Account:
    """The user whose tasks, history and statistics this request reads or changes."""
    return cast(Account, g.owner)


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


#: Request header that carries a service client's API key.
API_KEY_HEADER = "X-API-Key"

#: Scope value meaning: an API key needs no particular scope here, only the user prefix.
ANY_SCOPE = "*"

#: Path parameter of the user-addressed routes (`/v1/users/<user_id>/…`).
USER_ID = "user_id"
USER_PATH_PREFIX = "/v1/users/{user_id}/"


def authenticated(
    scope: str | None = None,
    *,
    refresh: bool = False,
    service: bool = False,
    with_task: str | None = None,
) -> Callable[[F], F]:
    """Authenticate the caller and decide whose data the request addresses.

    - A user's access token (or, with `refresh=True`, refresh token) has full access to its own
      data, without scopes; under `/v1/users/<user_id>/…` only to its own id (any other: 404),
      unless the user is an admin (any existing user).
    - An API key (`X-API-Key`) needs `scope` (`ANY_SCOPE`: none in particular) and acts for the
      user named by the `/v1/users/<user_id>/…` prefix: on a route without it a key is refused
      (403), as it is on routes with no `scope` (user tokens only).
    - `service=True`: the route acts on no user's data (provisioning): a key with `scope` may
      call it without a user prefix, and a user's token must be an admin's.

    The `user_id` path parameter is consumed here (the view never sees it); `g.owner` is the
    addressed user, `g.principal` the caller.

    `with_task` names the path parameter of a task id: for a user's token addressing its own
    data, the statement that checks the token also fetches that task (one round trip instead of
    two); `preloaded_task()` hands it to the service.
    """

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            addressed = kwargs.pop(USER_ID) if USER_ID in kwargs else None
            presented = request.headers.get(API_KEY_HEADER)
            if presented is not None and not refresh:
                g.principal, g.owner = _key_caller(presented, scope, addressed, service)
            else:
                if with_task is not None and addressed is None:
                    g._preload_task_id = parse_uuid(kwargs.get(with_task))
                g.principal, g.owner = _user_caller(addressed, refresh, service)
            return func(*args, **kwargs)

        responses: dict[str, Any] = {"401": "UNAUTHORIZED"}
        if scope or service:
            responses["403"] = "FORBIDDEN"
        extra: dict[str, Any] = {"security": [{BEARER: []}], "responses": responses}
        if scope:
            extra["x-api-key-scope"] = "any" if scope == ANY_SCOPE else scope
        if service:
            extra["security"] = [{BEARER: []}, {API_KEY: []}]
        apidoc = deepcopy(getattr(func, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(apidoc.get("manual_doc", {}), extra)
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def _key_caller(
    presented: str, required: str | None, addressed: str | None, service: bool
) -> tuple[Principal, Account | None]:
    from taskapi.services import api_keys

    key = api_keys.authenticate(presented)
    principal = Principal(actor_type="api_key", actor_id=str(key.id), scopes=frozenset(key.scopes))
    if required is None:
        raise Forbidden("This endpoint needs a user's token; API keys cannot call it.")
    if required != ANY_SCOPE and required not in principal.scopes:
        raise Forbidden(f"The API key lacks the scope {required!r}.")
    if addressed is None:
        if service:
            return principal, None
        raise Forbidden("An API key acts for a user: call this endpoint under /v1/users/{user_id}.")
    return principal, _addressed_user(addressed)


def _user_caller(
    addressed: str | None, refresh: bool, service: bool
) -> tuple[Principal, Account | None]:
    _verify_token(refresh)
    account = cast(Account, g.pop("_jwt_user"))
    principal = Principal(actor_type="user", actor_id=str(account.id), user=account)
    if service:
        if not account.is_admin:
            raise Forbidden("Only an administrator may do this.")
        return principal, None
    if addressed is None or parse_uuid(addressed) == account.id:
        return principal, account
    if not account.is_admin:
        raise NotFound("User not found.")
    return principal, _addressed_user(addressed)


def _verify_token(refresh: bool) -> None:
    """flask-jwt-extended's `verify_jwt_in_request`, for a token in the Authorization header
    (where this API reads tokens, unless JWT_TOKEN_LOCATION says otherwise): the same header
    parsing, decoding, type and revocation checks, errors and `get_jwt()`, with the token's
    header remembered along with its claims instead of decoded again on every request (PyJWT
    checks it character by character). No claims verification loader is registered, so none
    is called."""
    if tuple(jwt_config.token_location) != ("headers",):
        verify_jwt_in_request(refresh=refresh)
        return
    encoded_token, _ = _decode_jwt_from_headers()
    claims, header = jwt.decode_with_header(encoded_token)
    verify_token_type(claims, refresh)
    verify_token_not_blocklisted(header, claims)
    g._jwt_extended_jwt_user = _load_user(header, claims)
    g._jwt_extended_jwt_header = header
    g._jwt_extended_jwt = claims
    g._jwt_extended_jwt_location = "headers"


def _addressed_user(user_id: str) -> Account:
    key = parse_uuid(user_id)
    user = db.session.get(User, key) if key is not None else None
    if user is None:
        raise NotFound("User not found.")
    if not user.is_active:
        raise Forbidden("This user is disabled.")
    return Account(user.id, user.is_admin)


def keep_user_prefix(endpoint: str, values: dict[str, Any]) -> None:
    """`url_for` default: links built while serving `/v1/users/<user_id>/…` stay under it."""
    if USER_ID in values or not request or not request.view_args:
        return
    if USER_ID in request.view_args and current_app.url_map.is_endpoint_expecting(
        endpoint, USER_ID
    ):
        values[USER_ID] = request.view_args[USER_ID]


class UserRoutesPlugin(BasePlugin):
    """Documents the user-addressed family: API keys are accepted there (only there), and an
    unknown user is a 404."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        user_addressed = path is not None and (
            path.startswith(USER_PATH_PREFIX) or path == USER_PATH_PREFIX.rstrip("/")
        )
        if not user_addressed or not operations:
            return
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if operation.get("x-api-key-scope"):
                operation["security"] = [{BEARER: []}, {API_KEY: []}]
            responses = operation.setdefault("responses", {})
            if 404 not in responses and "404" not in responses:
                responses["404"] = "NOT_FOUND"


_USERS, _TASKS, _REVOKED = User.__table__, Task.__table__, RevokedToken.__table__

#: One query answers "is this token revoked?", "is its user still active?" and "are they an
#: admin?". Built once (constructing it and computing its cache key on each request costs more
#: than running it) and run on the session's connection without the ORM: loading a mapped
#: `User` cost more than the query itself, and the full user is needed only by the few routes
#: that show or change it (`current_user()`).
_CALLER_SELECT = select(
    _USERS.c.id.label("caller_id"),
    _USERS.c.is_active.label("caller_active"),
    _USERS.c.is_admin.label("caller_admin"),
    exists().where(_REVOKED.c.jti == bindparam("jti")).label("revoked"),
).where(_USERS.c.id == bindparam("user_id"))
_CALLER = PreparedStatement("caller", _CALLER_SELECT)

#: The same, also fetching the user's task `task_id` (its columns NULL when there is no such task
#: of theirs), task columns first.
_TASK_AND_CALLER = PreparedStatement(
    "task_and_caller",
    select(*TASK_ROW_COLUMNS, *_CALLER_SELECT.selected_columns)
    .select_from(_USERS)
    .outerjoin(_TASKS, and_(_TASKS.c.id == bindparam("task_id"), _TASKS.c.user_id == _USERS.c.id))
    .where(_USERS.c.id == bindparam("user_id")),
)
_TASK_FIELD_COUNT = len(TASK_ROW_COLUMNS)

#: `preloaded_task()` result meaning: nothing was fetched for this task, query it.
NOT_PRELOADED: Any = object()


def preloaded_task(owner: Account, task_id: uuid.UUID | str) -> TaskRow | None:
    """The owner's task `task_id` as fetched with the token check (`with_task`), None when it
    does not exist (or is not theirs), `NOT_PRELOADED` when it was not fetched."""
    entry = g.pop("_preloaded_task", None) if has_request_context() else None
    if entry is None or entry[0] != owner.id or entry[1] != parse_uuid(task_id):
        return cast(TaskRow | None, NOT_PRELOADED)
    return cast(TaskRow | None, entry[2])


def _unauthorized(detail: str) -> Any:
    return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def register_jwt_handlers(app: Flask) -> None:
    """Make flask-jwt-extended check revocation and user state, and answer in problem+json."""

    @jwt.token_in_blocklist_loader
    def token_is_revoked(jwt_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        user_id = parse_uuid(payload.get("sub"))
        jti = payload.get("jti")
        if user_id is None or not isinstance(jti, str):
            return True
        task_id = g.pop("_preload_task_id", None)
        connection = db.session.connection()
        if task_id is None:
            row = _CALLER.execute(connection, {"jti": jti, "user_id": user_id}).first()
        else:
            row = _TASK_AND_CALLER.execute(
                connection, {"jti": jti, "user_id": user_id, "task_id": task_id}
            ).first()
        if row is None or row.revoked or not row.caller_active:
            return True
        g._jwt_user = Account(row.caller_id, bool(row.caller_admin))
        if task_id is not None:
            task = TaskRow._make(row[:_TASK_FIELD_COUNT]) if row.id is not None else None
            g._preloaded_task = (user_id, task_id, task)
        return False

    @jwt.user_lookup_loader
    def load_user(jwt_header: dict[str, Any], payload: dict[str, Any]) -> Account | None:
        return cast(Account | None, g.get("_jwt_user"))

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
