"""The routes an app serves, in OpenAPI path form, for the inventory and method checks."""

from __future__ import annotations

import re

from flask import Flask

#: Served but not API operations, so not in the OpenAPI document (each with its reason).
NOT_API_OPERATIONS = {
    "/openapi.json": "the OpenAPI document itself",
    "/docs": "Swagger UI, a page rendering the document",
    "/docs/assets/{filename}": "Swagger UI's JavaScript and CSS files",
    "/static/{filename}": "Flask's default static route (the app has no static folder: always 404)",
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def served_operations(app: Flask) -> dict[str, set[str]]:
    """{"/v1/tasks/{task_id}": {"GET", "PUT", …}} for every URL rule of the app."""
    operations: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        operations.setdefault(path, set()).update(set(rule.methods or ()) - IGNORED_METHODS)
    return operations
