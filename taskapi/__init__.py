"""taskapi: a self-hosted task-management REST API."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.sessions import SessionInterface
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from taskapi.config import Config, finalize

PACKAGE_ROOT = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_ROOT.parent / "migrations"


class NoSessions(SessionInterface):
    """The API keeps no cookie sessions: credentials travel in headers. Flask's default opens a
    signed-cookie session on every request, which costs a serializer per request."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None  # Flask falls back to a null session

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


class TaskAPI(Flask):
    """Flask, with `ensure_sync` answered from a cache.

    Flask asks whether each hook and view is a coroutine function on every call (eleven times
    per request here); the answer is fixed by the function's code, so it is remembered per code
    object. Callables without code of their own (partials, objects) are checked each time.
    """

    session_interface = NoSessions()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_coroutine_code: dict[Any, bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        code = getattr(getattr(func, "__func__", func), "__code__", None)
        if code is None:
            return super().ensure_sync(func)
        is_coroutine = self._is_coroutine_code.get(code)
        if is_coroutine is None:
            is_coroutine = self._is_coroutine_code[code] = inspect.iscoroutinefunction(func)
        return self.async_to_sync(func) if is_coroutine else func


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: config, extensions, errors, request hooks, rate limits,
    blueprints, CLI."""
    app = TaskAPI(__name__, instance_path=str(PACKAGE_ROOT.parent / "instance"))
    settings = Config.from_env()
    settings.update(config or {})
    finalize(settings, app.instance_path)
    app.config.update(settings)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from taskapi.observability import configure_logging, register_request_hooks

    configure_logging(app)
    register_extensions(app)
    register_error_handlers(app)
    register_request_hooks(app)
    register_rate_limits(app)
    register_blueprints(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from taskapi.auth import API_KEY, BEARER, UserRoutesPlugin, register_jwt_handlers
    from taskapi.extensions import api, db, jwt, migrate

    db.init_app(app)
    with app.app_context():
        _configure_engine(db.engine, app.config["DB_POOL_IDLE_PING_SECONDS"])
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    jwt.init_app(app)
    register_jwt_handlers(app)
    if app.config["CORS_ORIGINS"]:
        _init_cors(app)
    api.init_app(app, spec_kwargs={"extra_plugins": [UserRoutesPlugin()]})
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        API_KEY, {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )


def _init_cors(app: Flask) -> None:
    """CORS for the configured origins only: with none (the default) no cross-origin access is
    granted, and no response pays for the extension's checks."""
    from taskapi.extensions import cors

    cors.init_app(
        app,
        resources={r"/v1/*": {"origins": app.config["CORS_ORIGINS"]}},
        expose_headers=[
            "ETag",
            "Location",
            "X-Pagination",
            "Link",
            "X-Request-ID",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "X-API-Key",
            "X-Request-ID",
        ],
        # Credentials travel in headers, never cookies: no credentialed CORS (and so never a
        # wildcard origin with credentials).
        supports_credentials=False,
    )


def _configure_engine(engine: Engine, idle_ping_seconds: int) -> None:
    if engine.dialect.name != "sqlite":
        if engine.dialect.name == "postgresql":
            from taskapi.extensions import autocommit_reads

            autocommit_reads(engine)
        if idle_ping_seconds > 0 and not engine.pool._pre_ping:
            _ping_idle_connections(engine, idle_ping_seconds)
        return
    from taskapi.services.task_filters import register_sqlite_functions

    @event.listens_for(engine, "connect")
    def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        register_sqlite_functions(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()
        # SQLite's lower() folds ASCII only; PostgreSQL's folds all of Unicode. Match it.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only when it has been idle for `idle_seconds`.

    `pool_pre_ping` pays a round trip on every checkout; under load connections come back to
    work within milliseconds and the test is pure cost. A connection left idle long enough for
    the database to have restarted is tested, and replaced if dead, so a request after a quiet
    period never fails on it. Any other broken connection fails its statement, the request
    answers 503 and SQLAlchemy invalidates the whole pool, which reconnects on next use.
    """

    @event.listens_for(engine, "checkin")
    def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["taskapi_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("taskapi_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("the pooled connection did not answer")


def register_error_handlers(app: Flask) -> None:
    from taskapi.errors import register_error_handlers as register

    register(app)


def register_rate_limits(app: Flask) -> None:
    # After the request hooks: a 429 carries the request id like any other response.
    from taskapi.ratelimit import init_rate_limits

    init_rate_limits(app)


def register_blueprints(app: Flask) -> None:
    from taskapi.auth import keep_user_prefix
    from taskapi.extensions import api
    from taskapi.resources import auth, commands, history, ops, stats, tasks, users

    #: Resources served for the caller under /v1/… and, for service keys and admins, for any
    #: user under /v1/users/<user_id>/… (same views). A `/v1` blueprint joins both by being here.
    user_addressed = (tasks, history, stats, commands)

    app.register_blueprint(ops.assets_blp)
    if app.config["TESTING_ENDPOINTS"]:
        app.register_blueprint(ops.testing_blp)
    for module in (ops, auth, users, *user_addressed):
        api.register_blueprint(module.blp)
    for module in user_addressed:
        api.register_user_blueprint(module.blp)
    app.url_defaults(keep_user_prefix)


def register_commands(app: Flask) -> None:
    from taskapi.cli import register

    register(app)
