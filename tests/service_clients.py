"""Helpers for tests of service clients: API keys, admins, users provisioned for a platform."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from conftest import PASSWORD, bearer, login
from flask import Flask
from flask.testing import FlaskClient

from taskapi.extensions import db
from taskapi.services import api_keys, users

ALL_SCOPES = tuple(api_keys.SCOPES)


def new_key(app: Flask, scopes: Iterable[str] = ALL_SCOPES, name: str | None = None, **kw: Any):
    """Create a key in the database; returns (ApiKey, X-API-Key header)."""
    with app.app_context():
        key, plain = api_keys.create_key(name or f"svc-{uuid.uuid4().hex[:8]}", scopes, **kw)
        db.session.refresh(key)
        db.session.expunge(key)
    return key, {"X-API-Key": plain}


def key_header(app: Flask, scopes: Iterable[str] = ALL_SCOPES) -> dict[str, str]:
    return new_key(app, scopes)[1]


def make_admin(app: Flask, client: FlaskClient, email: str = "root@example.com") -> dict[str, str]:
    """An administrator's Authorization header."""
    with app.app_context():
        users.create_user(email, PASSWORD, is_admin=True)
    return bearer(login(client, email)["access_token"])


def user_id(client: FlaskClient, headers: dict[str, str]) -> str:
    response = client.get("/v1/auth/me", headers=headers)
    assert response.status_code == 200
    return str(response.get_json()["id"])
