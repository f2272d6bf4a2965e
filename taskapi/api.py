"""flask-smorest adapted to the contract: problem+json errors, RFC 8288 `Link` pagination headers,
bounded pages over SQLAlchemy `select()`, and `If-Match` that is optional unless configured."""

from __future__ import annotations

import functools
import http
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import flask_smorest
import marshmallow as ma
from apispec import BasePlugin
from flask import current_app, g, request
from flask_smorest import Page
from flask_smorest.etag import IF_MATCH_HEADER, IF_NONE_MATCH_HEADER, _get_etag_ctx
from flask_smorest.exceptions import PreconditionFailed, PreconditionRequired
from flask_smorest.utils import prepare_response
from sqlalchemy import Select, func, inspect, select
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from taskapi.errors import PROBLEM_MIMETYPE, ValidationFailed, handle_http_exception
from taskapi.services.listing import Listing

F = TypeVar("F", bound=Callable[..., Any])

#: OFFSET beyond this answers an empty page instead of overflowing the database's integer.
MAX_OFFSET = 2**31 - 1
#: From this offset on a page reads its keys first (index only), then just those rows; shallower
#: pages take one round trip.
KEYS_FIRST_FROM_OFFSET = 1000
#: Query arguments that `Link` headers set for each page.
PAGE_ARGUMENTS = frozenset({"page", "page_size"})


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response carries them."""

    type = ma.fields.String(metadata={"example": "about:blank"})
    title = ma.fields.String(metadata={"example": "Unprocessable Entity"})
    status = ma.fields.Integer(metadata={"example": 422})
    code = ma.fields.String(
        metadata={
            "description": "Stable machine-readable error code",
            "example": "validation_error",
        }
    )
    detail = ma.fields.String(metadata={"example": "Request body is invalid."})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(),
        metadata={
            "description": "Field errors keyed by location (json, query, headers) then field"
        },
    )
    request_id = ma.fields.String(allow_none=True)


#: Where the user-addressed family of a `/v1/…` blueprint is served.
USER_URL_PREFIX = "/v1/users/<user_id>"
USER_ID_PARAMETER = {
    "in": "path",
    "name": "user_id",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": (
        "The user whose data is addressed: any user for a service key or an admin, only "
        "your own id otherwise (another id answers 404)"
    ),
}

#: Responses every API route may give besides its own: the request hooks answer 415 to a non-JSON
#: body on any POST/PUT/PATCH, body parsing answers 400 (not JSON) and 413 (over the limit), and
#: anything that touches the database answers 503 when it is unreachable.
_BODY_METHODS = ("post", "put", "patch")


class ContractResponsesPlugin(BasePlugin):
    """Document the error responses the request hooks and error handlers give on every route."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not path or not path.startswith("/v1/") or not operations:
            return
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            extra = [http.HTTPStatus.SERVICE_UNAVAILABLE]
            if method in _BODY_METHODS:
                extra.append(http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
                if "requestBody" in operation:
                    extra += [http.HTTPStatus.BAD_REQUEST, http.HTTPStatus(413)]
            for status in extra:
                responses.setdefault(str(int(status)), status.name)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema

    def register_user_blueprint(self, blp: flask_smorest.Blueprint) -> None:
        """Serve a `/v1/…` blueprint a second time, for one user, under `/v1/users/<user_id>/…`.

        Same views, same code; `authenticated()` consumes `user_id` and resolves the owner.
        """
        prefix = blp.url_prefix or ""
        if not prefix.startswith("/v1"):
            raise ValueError(f"blueprint {blp.name!r}: its url_prefix must start with /v1")
        self.register_blueprint(
            blp,
            url_prefix=USER_URL_PREFIX + prefix.removeprefix("/v1"),
            name=f"user_{blp.name}",
            parameters=[USER_ID_PARAMETER],
        )

    def _init_spec(self, *, extra_plugins: Any = None, **kwargs: Any) -> None:
        plugins = [*(extra_plugins or ()), ContractResponsesPlugin()]
        super()._init_spec(extra_plugins=plugins, **kwargs)

    def _register_responses(self) -> None:
        """Document every error response as application/problem+json."""
        import http

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _register_etag_headers(self) -> None:
        """Document If-Match as optional: it is required only when REQUIRE_IF_MATCH is set."""
        self.spec.components.parameter("IF_NONE_MATCH", "header", IF_NONE_MATCH_HEADER, lazy=True)
        if_match = {
            **IF_MATCH_HEADER,
            "required": False,
            "description": (
                "ETag of the version you read; a stale one answers 412. Required (428 without "
                "it) when the deployment sets REQUIRE_IF_MATCH=true."
            ),
        }
        self.spec.components.parameter("IF_MATCH", "header", if_match, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Any:
        return handle_http_exception(error)


class SelectPage(Page):
    """Pager over a SQLAlchemy `select()` or a `Listing`: LIMIT/OFFSET for the items (deep
    pages: keys first, then the rows of those keys) and COUNT (or the listing's count) for the
    total.

    The first page is read first: when it is not full it holds every item, and its length is
    the total (one statement instead of two, for the most common list). Any other page is
    counted first, so that nothing is read past the last item."""

    def __init__(self, collection: Select[Any] | Listing, page_params: Any) -> None:
        self.listing = collection if isinstance(collection, Listing) else Listing(collection)
        self.collection = self.listing.statement
        self.page_params = page_params  # `items` sets page_params.item_count

    @property
    def items(self) -> list[Any]:
        first, size = self.page_params.first_item, self.page_params.page_size
        if first == 0:
            rows = self._read(0)
            self.page_params.item_count = len(rows) if len(rows) < size else self.item_count
            return rows
        self.page_params.item_count = self.item_count
        if first > MAX_OFFSET or first >= self.page_params.item_count:
            return []
        return self._read(first)

    def _read(self, first: int) -> list[Any]:
        from taskapi.extensions import db

        page = self.collection.limit(self.page_params.page_size).offset(first)
        if first < KEYS_FIRST_FROM_OFFSET and not self.listing.keys_first:
            return self.load(page)
        return _load_page(db.session, page)

    def load(self, page: Select[Any]) -> list[Any]:
        """The items of a shallow `page` (one round trip)."""
        from taskapi.extensions import db

        return list(db.session.scalars(page))

    @property
    def item_count(self) -> int:
        from taskapi.extensions import execute_core

        if self.listing.count is not None:
            return self.listing.count()
        count = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return int(execute_core(count).scalar() or 0)


class ArgumentsParser(FlaskParser):
    """webargs' parser, except that JSON nested too deeply to decode is a 400, not a 500, and a
    schema given as a class is instantiated once, not on every request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                # A schema instance holds no per-load state; racing threads build equal ones.
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # webargs answers JSONDecodeError with its usual 400 "Invalid JSON body."
            raise json.JSONDecodeError("JSON nested too deeply", doc="<body>", pos=0) from None


class Blueprint(flask_smorest.Blueprint):
    """Blueprint with the contract's pagination headers and optional `If-Match`."""

    ARGUMENTS_PARSER = ArgumentsParser()
    PAGINATION_ARGUMENTS_PARSER = ArgumentsParser()

    # The contract's defaults: page_size 50 unless asked, at most 100 (flask-smorest's is 10).
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """As flask-smorest's; a required JSON body that is missing altogether is a 422."""
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json" or not kwargs.get("required", True):
            return decorator

        def body_required(func: Any) -> Any:
            parsing = decorator(func)

            @functools.wraps(parsing)
            def wrapper(*args: Any, **kw: Any) -> Any:
                if not request.content_length and "chunked" not in request.headers.get(
                    "Transfer-Encoding", ""
                ):
                    raise ValidationFailed(
                        "The request needs a JSON body.",
                        errors={"json": {"_schema": ["A JSON body is required."]}},
                    )
                return parsing(*args, **kw)

            return wrapper

        return body_required

    def _check_precondition(self) -> None:
        # If-Match is optional unless the deployment requires it (REQUIRE_IF_MATCH=true).
        if (
            current_app.config.get("REQUIRE_IF_MATCH")
            and not request.if_match
            and (request.method in self.METHODS_NEEDING_CHECK_ETAG or _is_conditional_command())
        ):
            raise PreconditionRequired

    def conditional_command(self, func: F) -> F:
        """Mark a POST command that changes one resource as honouring If-Match like PUT/PATCH/
        DELETE: 412 when stale, 428 without it under REQUIRE_IF_MATCH (POST that creates does
        not). The view must call `check_etag`; put this below `@blp.etag`."""
        func._conditional_command = True  # type: ignore[attr-defined]
        func = self.alt_response(412, response="PRECONDITION_FAILED")(func)
        func = self.alt_response(428, response="PRECONDITION_REQUIRED")(func)
        return cast(F, self.doc(parameters=["IF_MATCH"])(func))

    def _check_not_modified(self, etag: str) -> None:
        # The 304 handler needs the ETag to send it back (If-None-Match may be `*`).
        g.not_modified_etag = etag
        super()._check_not_modified(etag)

    def check_etag(self, etag_data: Any, etag_schema: Any = None) -> None:
        """Compare If-Match (when sent) with the ETag of `etag_data`; 412 when stale."""
        _get_etag_ctx()["etag_checked"] = True
        if not request.if_match:
            return
        if request.if_match.star_tag:
            return
        if etag_schema is not None:
            etag_data = flask_smorest.utils.resolve_schema_instance(etag_schema).dump(etag_data)
        if self._generate_etag(etag_data) not in request.if_match:
            raise PreconditionFailed

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
        """flask-smorest's metadata (its schema only copies these integers)."""
        metadata = {"total": item_count, "total_pages": 0}
        if item_count == 0:
            return metadata
        last_page = (item_count - 1) // page_size + 1
        metadata.update(total_pages=last_page, first_page=1, last_page=last_page)
        if page <= last_page:
            metadata["page"] = page
            if page > 1:
                metadata["previous_page"] = page - 1
            if page < last_page:
                metadata["next_page"] = page + 1
        return metadata

    def _set_pagination_metadata(
        self, page_params: Any, result: Any, headers: Any
    ) -> tuple[Any, Any]:
        metadata = self._make_pagination_metadata(
            page_params.page, page_params.page_size, page_params.item_count
        )
        if headers is None:
            headers = {}
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
        links = []
        query = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGE_ARGUMENTS]
        size = ("page_size", str(page_params.page_size))
        for rel, key in (
            ("first", "first_page"),
            ("last", "last_page"),
            ("prev", "previous_page"),
            ("next", "next_page"),
        ):
            if key in metadata:
                page_query = urlencode([*query, ("page", str(metadata[key])), size])
                links.append(f'<{request.base_url}?{page_query}>; rel="{rel}"')
        if links:
            headers["Link"] = ", ".join(links)
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        resp_doc.setdefault("headers", {}).update(
            {
                self.PAGINATION_HEADER_NAME: {
                    "description": "Pagination metadata, as a JSON object",
                    # A JSON value in a header: `content`, not `schema` (OpenAPI 3.0 §4.7.21).
                    "content": {"application/json": {"schema": PAGINATION_METADATA_SCHEMA}},
                },
                "Link": {
                    "description": 'RFC 8288 links with rel="first", "last", "prev", "next"',
                    "schema": {"type": "string"},
                },
            }
        )


def _is_conditional_command() -> bool:
    """Whether the view handling this request is marked by `Blueprint.conditional_command`."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = getattr(view_class, request.method.lower(), None) if view_class else view
    return bool(getattr(method, "_conditional_command", False))


PAGINATION_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    # An empty list has only the totals; a page past the end has no `page`.
    "required": ["total", "total_pages"],
    "properties": {
        name: {"type": "integer", "minimum": 0 if name.startswith("total") else 1}
        for name in (
            "total",
            "total_pages",
            "first_page",
            "last_page",
            "page",
            "previous_page",
            "next_page",
        )
    },
}


def _load_page(session: Any, page: Select[Any]) -> list[Any]:
    """The rows of `page`, keys first, then only the rows of those keys: the rows a deep page
    skips are then read from an index alone (index-only scan), never from the table."""
    descriptions = page.column_descriptions
    entity = descriptions[0]["entity"] if len(descriptions) == 1 else None
    mapper = inspect(entity, raiseerr=False) if entity is not None else None
    if mapper is None or len(mapper.primary_key) != 1:
        return list(session.scalars(page))
    key_column = mapper.primary_key[0]
    attribute = mapper.get_property_by_column(key_column).key
    keys = list(session.scalars(page.with_only_columns(key_column)))
    rows = session.scalars(select(mapper).where(key_column.in_(keys)))
    by_key = {getattr(row, attribute): row for row in rows}
    return [by_key[key] for key in keys if key in by_key]


__all__ = ["Api", "Blueprint", "PreconditionFailed", "ProblemSchema", "SelectPage"]
