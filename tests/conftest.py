"""Fixtures: every database test runs on embedded SQLite and on a throwaway PostgreSQL database.

The schema comes from the migrations (so they are tested too). Each test starts from empty
tables. With TASKAPI_REQUIRE_POSTGRES=1 an unreachable PostgreSQL fails the run instead of
skipping its half.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from taskapi import create_app
from taskapi.config import normalize_database_url
from taskapi.extensions import db

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery"

#: Settings every test app shares: cheap password hashing, no files, quiet logs.
BASE_TEST_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "ENV": "testing",
    "PASSWORD_HASH_TIME_COST": 1,
    "PASSWORD_HASH_MEMORY_KIB": 256,
    "LOG_LEVEL": "WARNING",
    "JWT_SECRET_KEY": "test-secret-" + "x" * 40,
    # Off except in the tests that check them (they build an app with make_app).
    "RATELIMIT_ENABLED": False,
}


def _postgres_admin_url() -> str:
    return normalize_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))


@contextlib.contextmanager
def throwaway_postgres_database(prefix: str) -> Iterator[str]:
    """Create a new PostgreSQL database, yield its URL, and drop it afterwards.

    With TASKAPI_REQUIRE_POSTGRES=1 an unreachable server fails the test instead of skipping it.
    """
    admin_url = sa.make_url(_postgres_admin_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        engine.dispose()
        message = f"PostgreSQL is unreachable at {admin_url.render_as_string()}: {error.orig}"
        if os.environ.get("TASKAPI_REQUIRE_POSTGRES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, created for this run and dropped after it."""
    with throwaway_postgres_database("taskapi_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A brand-new, empty database of each kind (for tests that migrate it themselves)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with throwaway_postgres_database("taskapi_empty") as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'taskapi.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def _migrated_app(database_url: str) -> Iterator[Flask]:
    app = create_app({**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def truncate_all(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = [table.name for table in reversed(db.metadata.sorted_tables)]
        # DELETE, not TRUNCATE: on tables this small it is several times faster on PostgreSQL
        # (TRUNCATE swaps the table files on every call).
        with db.engine.begin() as connection:
            for table in tables:
                connection.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - our table names
            if connection.dialect.name == "postgresql":
                # Integer ids start again at 1, as they do on SQLite after the DELETE.
                connection.execute(
                    sa.text(
                        "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                    )
                )


@pytest.fixture
def app(_migrated_app: Flask) -> Iterator[Flask]:
    """The app on a migrated database whose tables are emptied after each test."""
    yield _migrated_app
    truncate_all(_migrated_app)


@pytest.fixture
def make_app(app: Flask, database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build another app on the same database with some settings changed."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        new_app = create_app(
            {**BASE_TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        )
        built.append(new_app)
        return new_app

    yield factory
    for new_app in built:
        with new_app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def _push_request_context() -> None:
    """Disable pytest-flask's autouse request context: each request gets its own."""


def register(client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    response = client.post(
        "/v1/auth/register", json={"email": email, "password": password, **extra}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_user(client: FlaskClient) -> Callable[..., dict[str, str]]:
    """Register and log in a user; returns its Authorization header."""
    counter = iter(range(1_000_000))

    def factory(email: str | None = None) -> dict[str, str]:
        address = email or f"user{next(counter)}@example.com"
        register(client, address)
        return bearer(login(client, address)["access_token"])

    return factory


@pytest.fixture
def auth_headers(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("alice@example.com")


@pytest.fixture
def create_task(client: FlaskClient, auth_headers: dict[str, str]) -> Callable[..., Any]:
    """Create a task as alice (or as `headers`) and return the response JSON."""

    def factory(headers: dict[str, str] | None = None, **fields: Any) -> Any:
        body = {"title": "A task", **fields}
        response = client.post("/v1/tasks", json=body, headers=headers or auth_headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return factory


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is a problem+json error with the contract's code."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["type"] == "about:blank"
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def assert_unauthorized(response: Any) -> dict[str, Any]:
    """A 401 problem with the `WWW-Authenticate: Bearer` challenge."""
    body = assert_problem(response, 401, "unauthorized")
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    return body


# Simultaneous writers: PostgreSQL only (SQLite serialises whole-database writes by itself).


@pytest.fixture
def postgres_only(app: Any) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks and concurrent transactions are exercised on PostgreSQL only")


def run_together(app: Any, requests: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each request in its own thread with its own test client, all released at once."""
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)
    errors: list[BaseException] = []

    def worker(index: int, request: Callable[[Any], Any]) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            results[index] = request(client)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(result is not None for result in results)
    return results
