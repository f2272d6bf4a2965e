"""OWASP API9:2023 Improper Inventory Management: the OpenAPI document is the complete, exact
inventory of the API: every operation served is documented, and every documented one is served."""

from __future__ import annotations

from inventory import NOT_API_OPERATIONS, served_operations


def _documented(client) -> dict[str, set[str]]:
    spec = client.get("/openapi.json").get_json()
    return {
        path: {method.upper() for method in operations if method != "parameters"}
        for path, operations in spec["paths"].items()
    }


def test_api9_every_served_operation_is_documented_and_vice_versa(app, client):
    served = {
        path: methods
        for path, methods in served_operations(app).items()
        if path not in NOT_API_OPERATIONS
    }
    documented = _documented(client)
    assert set(served) - set(documented) == set(), "served but not documented"
    assert set(documented) - set(served) == set(), "documented but not served"
    for path, methods in served.items():
        assert methods == documented[path], path


def test_api9_exempt_routes_still_exist(app):
    """The exemptions name real routes, so none can hide a stale entry."""
    assert set(NOT_API_OPERATIONS) <= set(served_operations(app))


def test_api9_one_api_version_and_every_operation_described(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["info"]["version"]
    for path, operations in spec["paths"].items():
        assert path.startswith("/v1/") or path in ("/health", "/ready", "/metrics"), path
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), (method, path)
            assert "default" in operation["responses"], (method, path)
