"""Every error body: RFC 9457 problem details, and the typed errors services raise.

One function (`problem`) builds every error response; the handlers registered here turn typed
errors, werkzeug HTTP exceptions, database failures and unexpected exceptions into it.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from flask import Flask, Response, current_app, g, json
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"

#: The contract's stable `code` for each status.
CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

# Headers of a werkzeug exception the client needs (Allow on 405, Retry-After on 429/503).
_PASSED_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

log = logging.getLogger("taskapi.errors")


class ApiError(Exception):
    """Base of the typed errors services raise; each carries its HTTP status."""

    status = 500
    default_detail = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.default_detail)
        self.detail = detail or self.default_detail
        self.errors = errors
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400
    default_detail = "The request could not be understood."


class Unauthorized(ApiError):
    status = 401
    default_detail = "Authentication is required."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(ApiError):
    status = 403
    default_detail = "You are not allowed to do this."


class NotFound(ApiError):
    status = 404
    default_detail = "The resource was not found."


class Conflict(ApiError):
    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(ApiError):
    status = 412
    default_detail = "The resource has changed since you read it (If-Match does not match)."


class ValidationFailed(ApiError):
    """A business rule on the request body failed: 422 with `errors` keyed by location."""

    status = 422
    default_detail = "Request body is invalid."

    @classmethod
    def field(cls, field: str, message: str, location: str = "json") -> ValidationFailed:
        return cls(errors={location: {field: [message]}})


class ServiceUnavailable(ApiError):
    status = 503
    default_detail = "The service is temporarily unavailable; try again shortly."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", "5")


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> Response:
    """Build an application/problem+json response."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "code": code or CODES.get(status, "bad_request" if status < 500 else "internal_error"),
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    body["request_id"] = g.get("request_id") if g else None
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_exception_detail(error: HTTPException) -> tuple[str, dict[str, Any] | None]:
    """Detail and field errors of a werkzeug exception (webargs stores them in `data`)."""
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if error.code == 400 and errors and "json" in errors:
        # webargs reports an unparsable body as a 400 with {"json": ["Invalid JSON body."]}
        return "The request body is not valid JSON.", None
    if error.code == 422:
        return data.get("message") or "Request is invalid.", errors
    detail = data.get("message") or error.description or ""
    return detail, errors


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug/flask-smorest HTTP errors (routing, parsing, 405, 413 …) as problem+json."""
    status = error.code or 500
    if status == 304:  # flask-smorest's NotModified: no body, keep the validator
        response = current_app.response_class(status=304)
        etag = g.get("not_modified_etag")
        if etag:
            response.set_etag(etag)
        return response
    detail, errors = _http_exception_detail(error)
    headers = {}
    for name, value in error.get_headers():
        if name in _PASSED_HEADERS:
            headers[name] = value
    data = getattr(error, "data", None) or {}
    headers.update(data.get("headers") or {})
    if status == 404:
        detail = "The resource was not found."
    elif status == 412:
        detail = "The resource has changed since you read it (If-Match does not match its ETag)."
    elif status == 428:
        detail = "This request must be conditional: send If-Match with the ETag you read."
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"The request body exceeds the limit of {limit} bytes."
    if status >= 500:
        detail = "The server could not complete the request."
    return problem(status, detail, errors=errors, headers=headers)


def handle_api_error(error: ApiError) -> Response:
    return problem(error.status, error.detail, errors=error.errors, headers=error.headers)


def _is_unavailable(error: SQLAlchemyError) -> bool:
    """True when the database could not be reached or answered too slowly, not a bug of ours."""
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        orig = getattr(error, "orig", None)
        pgcode = getattr(orig, "pgcode", None)
        # 57014 statement_timeout, 57P01..03 shutdown or cannot connect, 08xxx connection errors
        if pgcode and (pgcode.startswith("08") or pgcode in {"57014", "57P01", "57P02", "57P03"}):
            return True
        name = type(orig).__name__ if orig is not None else ""
        if name == "OperationalError":
            text = str(orig).lower()
            return any(
                marker in text
                for marker in (
                    "could not connect",
                    "connection",
                    "timeout",
                    "database is locked",
                    "server closed",
                    "terminating",
                )
            )
    return False


def handle_database_error(error: SQLAlchemyError) -> Response:
    from taskapi.extensions import db

    db.session.rollback()
    if _is_unavailable(error):
        log.warning("database unavailable: %s", type(error).__name__)
        return problem(503, ServiceUnavailable.default_detail, headers={"Retry-After": "5"})
    log.exception("database error")
    return problem(500, "The server could not complete the request.")


def handle_unexpected_error(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled exception")
    return problem(500, "The server could not complete the request.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_error)
