"""flask-smorest adapted to the contract: problem+json errors, RFC 8288 `Link` pagination headers,
bounded pages over SQLAlchemy `select()`, and `If-Match` that is optional unless configured."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import flask_smorest
import marshmallow as ma
from flask import current_app, request
from flask_smorest import Page
from flask_smorest.etag import IF_MATCH_HEADER, IF_NONE_MATCH_HEADER, _get_etag_ctx
from flask_smorest.exceptions import PreconditionFailed, PreconditionRequired
from flask_smorest.utils import prepare_response
from sqlalchemy import Select, func, inspect, select
from werkzeug.exceptions import HTTPException

from taskapi.errors import PROBLEM_MIMETYPE, handle_http_exception

#: OFFSET beyond this answers an empty page instead of overflowing the database's integer.
MAX_OFFSET = 2**31 - 1


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


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema

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
    """Pager over a SQLAlchemy `select()`: COUNT for the total, LIMIT/OFFSET for the items (keys
    first, then the rows of those keys)."""

    def __init__(self, collection: Select[Any], page_params: Any) -> None:
        super().__init__(collection, page_params)

    @property
    def items(self) -> list[Any]:
        from taskapi.extensions import db

        first = self.page_params.first_item
        if first > MAX_OFFSET:
            return []
        page = self.collection.limit(self.page_params.page_size).offset(first)
        return _load_page(db.session, page)

    @property
    def item_count(self) -> int:
        from taskapi.extensions import db

        count = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return int(db.session.scalar(count) or 0)


class Blueprint(flask_smorest.Blueprint):
    """Blueprint with the contract's pagination headers and optional `If-Match`."""

    # The contract's page size: 50 by default, 1-100 (flask-smorest's default is 10).
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    def _check_precondition(self) -> None:
        # If-Match is optional unless the deployment requires it (REQUIRE_IF_MATCH=true).
        if (
            request.method in ("PUT", "PATCH", "DELETE")
            and current_app.config.get("REQUIRE_IF_MATCH")
            and not request.if_match
        ):
            raise PreconditionRequired

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

    def _set_pagination_metadata(
        self, page_params: Any, result: Any, headers: Any
    ) -> tuple[Any, Any]:
        result, headers = super()._set_pagination_metadata(page_params, result, headers)
        metadata = json.loads(headers[self.PAGINATION_HEADER_NAME])
        links = []
        for rel, key in (
            ("first", "first_page"),
            ("last", "last_page"),
            ("prev", "previous_page"),
            ("next", "next_page"),
        ):
            if key in metadata:
                links.append(f'<{_page_url(metadata[key], page_params.page_size)}>; rel="{rel}"')
        if links:
            headers["Link"] = ", ".join(links)
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        resp_doc.setdefault("headers", {}).update(
            {
                self.PAGINATION_HEADER_NAME: {
                    "description": (
                        "JSON object: total, total_pages, first_page, last_page, page, "
                        "previous_page, next_page"
                    ),
                    "schema": {"type": "string"},
                },
                "Link": {
                    "description": 'RFC 8288 links with rel="first", "last", "prev", "next"',
                    "schema": {"type": "string"},
                },
            }
        )


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


def _page_url(page: int, page_size: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "page_size")]
    args += [("page", str(page)), ("page_size", str(page_size))]
    return f"{request.base_url}?{urlencode(args)}"


__all__ = ["Api", "Blueprint", "PreconditionFailed", "ProblemSchema", "SelectPage"]
