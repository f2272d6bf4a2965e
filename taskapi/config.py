"""Configuration: defaults plus explicit parsing of environment variables.

Every setting is listed here and in `.env.example`. Nothing reads the environment at import time:
`Config.from_env()` is called by `create_app`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Engine execution option: run `PreparedStatement`s as server-side prepared statements.
PREPARED_STATEMENTS_OPTION = "taskapi_prepared"

DEV_SECRET = "dev-secret-change-me-dev-secret-change-me"  # noqa: S105 - refused in production
DEFAULT_SQLITE_PATH = Path("instance") / "taskapi.db"


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used (the app refuses to start)."""


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {value!r}")


def _int(value: str, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {number}")
    return number


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def normalize_database_url(url: str) -> str:
    """Map the URL forms hosting providers hand out onto the psycopg2 driver.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed.
    """
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def default_database_url(instance_path: str | os.PathLike[str] | None = None) -> str:
    path = Path(instance_path) / "taskapi.db" if instance_path else DEFAULT_SQLITE_PATH
    return f"sqlite:///{Path(path).resolve()}"


# (environment variable, config key, parser, default). The parser receives the raw string.
_SETTINGS: list[tuple[str, str, Any, Any]] = [
    ("TASKAPI_ENV", "ENV", str, "development"),
    ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", normalize_database_url, None),
    ("JWT_SECRET_KEY", "JWT_SECRET_KEY", str, DEV_SECRET),
    ("JWT_ACCESS_TOKEN_EXPIRES", "JWT_ACCESS_TOKEN_EXPIRES", "seconds", timedelta(minutes=15)),
    ("JWT_REFRESH_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES", "seconds", timedelta(days=30)),
    ("CORS_ORIGINS", "CORS_ORIGINS", _list, []),
    ("MAX_CONTENT_LENGTH", "MAX_CONTENT_LENGTH", "int", 1024 * 1024),
    ("REGISTRATION_ENABLED", "REGISTRATION_ENABLED", "bool", True),
    ("REQUIRE_IF_MATCH", "REQUIRE_IF_MATCH", "bool", False),
    ("DB_POOL_SIZE", "DB_POOL_SIZE", "int", 10),
    ("DB_MAX_OVERFLOW", "DB_MAX_OVERFLOW", "int", 10),
    ("DB_POOL_TIMEOUT", "DB_POOL_TIMEOUT", "int", 5),
    ("DB_STATEMENT_TIMEOUT_MS", "DB_STATEMENT_TIMEOUT_MS", "int", 5000),
    ("DB_CONNECT_TIMEOUT", "DB_CONNECT_TIMEOUT", "int", 3),
    ("DB_POOL_PRE_PING", "DB_POOL_PRE_PING", "bool", False),
    ("DB_POOL_IDLE_PING_SECONDS", "DB_POOL_IDLE_PING_SECONDS", "int", 1),
    ("DB_PREPARED_STATEMENTS", "DB_PREPARED_STATEMENTS", "bool", True),
    ("PASSWORD_HASH_TIME_COST", "PASSWORD_HASH_TIME_COST", "int", 2),
    ("PASSWORD_HASH_MEMORY_KIB", "PASSWORD_HASH_MEMORY_KIB", "int", 19456),
    ("LOG_LEVEL", "LOG_LEVEL", str, "INFO"),
    ("LOG_FORMAT", "LOG_FORMAT", str, None),
    ("LOG_FLUSH_INTERVAL_MS", "LOG_FLUSH_INTERVAL_MS", "int", 200),
    ("SERVER_HOST", "SERVER_HOST", str, "127.0.0.1"),
    ("SERVER_PORT", "SERVER_PORT", "int", 8000),
    ("SERVER_THREADS", "SERVER_THREADS", "int", 8),
    ("SERVER_CONNECTION_LIMIT", "SERVER_CONNECTION_LIMIT", "int", 2000),
    ("SERVER_CHANNEL_TIMEOUT", "SERVER_CHANNEL_TIMEOUT", "int", 60),
    ("APIKEY_ROTATION_GRACE_SECONDS", "APIKEY_ROTATION_GRACE_SECONDS", "int", 86400),
    ("RATELIMIT_ENABLED", "RATELIMIT_ENABLED", "bool", True),
    ("RATELIMIT_STORAGE_URI", "RATELIMIT_STORAGE_URI", str, "memory://"),
    ("RATELIMIT_KEY_PREFIX", "RATELIMIT_KEY_PREFIX", str, "taskapi"),
    ("RATELIMIT_DEFAULT", "RATELIMIT_DEFAULT", str, "600/minute"),
    ("RATELIMIT_AUTH", "RATELIMIT_AUTH", str, "10/minute"),
    ("SERVER_WORKERS", "SERVER_WORKERS", "int", 0),
    ("SERVER_BACKLOG", "SERVER_BACKLOG", "int", 2048),
    ("SERVER_GRACE_SECONDS", "SERVER_GRACE_SECONDS", "int", 30),
    ("SERVER_DRAIN_DELAY", "SERVER_DRAIN_DELAY", "int", 0),
    ("TRUSTED_PROXY", "TRUSTED_PROXY", str, None),
    ("TRUSTED_PROXY_COUNT", "TRUSTED_PROXY_COUNT", "int", 1),
    (
        "TRUSTED_PROXY_HEADERS",
        "TRUSTED_PROXY_HEADERS",
        str,
        "x-forwarded-for x-forwarded-proto x-forwarded-host",
    ),
    ("TASKAPI_TESTING_ENDPOINTS", "TESTING_ENDPOINTS", "bool", False),
]


class Config:
    """Defaults; `from_env` overlays the environment on them."""

    ENV = "development"
    API_TITLE = "taskapi"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served by the app from the swagger-ui-bundle package: no CDN, works offline.
    OPENAPI_SWAGGER_UI_URL = "/docs/assets/"
    JSON_SORT_KEYS = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    JWT_TOKEN_LOCATION = ["headers"]
    JWT_ERROR_MESSAGE_KEY = "detail"
    PROPAGATE_EXCEPTIONS = False
    # Headers larger than this are refused by waitress before the app sees them.
    MAX_REQUEST_HEADER_SIZE = 64 * 1024
    # X-RateLimit-Limit/-Remaining/-Reset on every limited response (Retry-After on a 429 always).
    RATELIMIT_HEADERS_ENABLED = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Return the configuration mapping built from defaults and `environ`."""
        environ = os.environ if environ is None else environ
        config: dict[str, Any] = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
        for env_name, key, parser, default in _SETTINGS:
            raw = environ.get(env_name)
            if raw is None or raw == "":
                config[key] = default
                continue
            if parser == "int":
                config[key] = _int(raw, env_name)
            elif parser == "bool":
                config[key] = _bool(raw, env_name)
            elif parser == "seconds":
                config[key] = timedelta(seconds=_int(raw, env_name, minimum=1))
            else:
                config[key] = parser(raw)
        return config


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived settings and refuse unusable ones (called once the overrides are merged)."""
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        config["SQLALCHEMY_DATABASE_URI"] = default_database_url(instance_path)
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config.setdefault("LOG_FORMAT", None)
    if not config["LOG_FORMAT"]:
        config["LOG_FORMAT"] = "json" if config["ENV"] == "production" else "text"
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config)

    if config["ENV"] == "production":
        secret = config.get("JWT_SECRET_KEY") or ""
        if secret == DEV_SECRET or len(secret) < 32:
            raise ConfigError(
                "JWT_SECRET_KEY must be set to a random value of at least 32 characters in "
                "production (TASKAPI_ENV=production); generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        if config.get("TESTING_ENDPOINTS"):
            raise ConfigError("TASKAPI_TESTING_ENDPOINTS must not be enabled in production.")
    config["SECRET_KEY"] = config["JWT_SECRET_KEY"]
    _check_rate_limits(config)


def _check_rate_limits(config: Mapping[str, Any]) -> None:
    """Refuse to start with a rate limit that would only fail on the first request."""
    from limits import parse_many

    for key in ("RATELIMIT_DEFAULT", "RATELIMIT_AUTH"):
        try:
            parse_many(config[key])
        except ValueError:
            raise ConfigError(
                f"{key} must be a rate limit such as '600/minute' or '10 per second', "
                f"got {config[key]!r}"
            ) from None


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database."""
    url = config["SQLALCHEMY_DATABASE_URI"]
    scheme = urlsplit(url).scheme
    if scheme.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    return {
        "pool_pre_ping": config["DB_POOL_PRE_PING"],
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "pool_recycle": 1800,
        "execution_options": {PREPARED_STATEMENTS_OPTION: config["DB_PREPARED_STATEMENTS"]},
        # A read's connection is in autocommit mode: its ROLLBACK has nothing to end, and
        # psycopg2 would still hand the interpreter lock to another thread to make the call.
        "skip_autocommit_rollback": scheme.startswith("postgresql"),
        "connect_args": {
            "connect_timeout": config["DB_CONNECT_TIMEOUT"],
            "options": f"-c statement_timeout={config['DB_STATEMENT_TIMEOUT_MS']}",
            "application_name": "taskapi",
        },
    }
