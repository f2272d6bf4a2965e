"""Configuration: environment parsing, DATABASE_URL forms, and production's refusal of weak secrets.

No database is needed: these build configs (and apps on a throwaway SQLite file) only.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from taskapi import create_app
from taskapi.config import DEV_SECRET, Config, ConfigError, normalize_database_url

STRONG_SECRET = "s" * 48


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """An environment with none of the app's variables set, and a throwaway SQLite file."""
    for name in (
        "TASKAPI_ENV",
        "JWT_SECRET_KEY",
        "DATABASE_URL",
        "REGISTRATION_ENABLED",
        "MAX_CONTENT_LENGTH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'config.db'}")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return monkeypatch


def test_defaults():
    config = Config.from_env({})
    assert config["ENV"] == "development"
    assert config["JWT_SECRET_KEY"] == DEV_SECRET
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=15)
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert config["REGISTRATION_ENABLED"] is True
    assert config["REQUIRE_IF_MATCH"] is False
    assert config["CORS_ORIGINS"] == []
    assert config["SQLALCHEMY_DATABASE_URI"] is None


def test_values_are_parsed_from_the_environment():
    config = Config.from_env(
        {
            "TASKAPI_ENV": "production",
            "JWT_ACCESS_TOKEN_EXPIRES": "900",
            "REGISTRATION_ENABLED": "false",
            "REQUIRE_IF_MATCH": "YES",
            "MAX_CONTENT_LENGTH": "2048",
            "CORS_ORIGINS": " https://a.example , https://b.example ,",
        }
    )
    assert config["ENV"] == "production"
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(seconds=900)
    assert config["REGISTRATION_ENABLED"] is False
    assert config["REQUIRE_IF_MATCH"] is True
    assert config["MAX_CONTENT_LENGTH"] == 2048
    assert config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/app", "postgresql+psycopg2://u:p@db.example:5432/app"),
        (
            "postgresql://u:p@db.example/app?sslmode=require",
            "postgresql+psycopg2://u:p@db.example/app?sslmode=require",
        ),
        ("postgresql+psycopg2://u@h/app", "postgresql+psycopg2://u@h/app"),
        ("  postgres://u@h/app\n", "postgresql+psycopg2://u@h/app"),
        ("sqlite:////var/lib/taskapi.db", "sqlite:////var/lib/taskapi.db"),
    ],
)
def test_database_url_forms(given, expected):
    assert normalize_database_url(given) == expected
    url = Config.from_env({"DATABASE_URL": given})["SQLALCHEMY_DATABASE_URI"]
    assert url == expected
    if expected.startswith("postgresql"):
        assert sa.make_url(url).get_driver_name() == "psycopg2"


def test_database_url_given_to_create_app_is_normalised_too(clean_env):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgres://u@127.0.0.1:1/x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://u@127.0.0.1:1/x"
    with app.app_context():
        from taskapi.extensions import db

        assert db.engine.dialect.driver == "psycopg2"
        db.engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REGISTRATION_ENABLED", "maybe"),
        ("REQUIRE_IF_MATCH", "2"),
        ("MAX_CONTENT_LENGTH", "1MB"),
        ("MAX_CONTENT_LENGTH", "-1"),
        ("DB_POOL_SIZE", "ten"),
        ("SERVER_PORT", "80.5"),
        ("JWT_ACCESS_TOKEN_EXPIRES", "0"),
        ("JWT_REFRESH_TOKEN_EXPIRES", "15m"),
    ],
)
def test_bad_values_raise_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_production_refuses_the_development_secret(clean_env):
    clean_env.setenv("TASKAPI_ENV", "production")
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app()
    clean_env.setenv("JWT_SECRET_KEY", DEV_SECRET)
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app()


def test_production_refuses_a_short_secret(clean_env):
    clean_env.setenv("TASKAPI_ENV", "production")
    clean_env.setenv("JWT_SECRET_KEY", "s" * 31)
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app()


def test_production_refusal_also_applies_to_overrides(clean_env):
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app({"ENV": "production", "JWT_SECRET_KEY": DEV_SECRET})
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app({"ENV": "production", "JWT_SECRET_KEY": ""})


def test_production_starts_with_a_strong_secret(clean_env):
    clean_env.setenv("TASKAPI_ENV", "production")
    clean_env.setenv("JWT_SECRET_KEY", STRONG_SECRET)
    app = create_app()
    assert app.config["ENV"] == "production"
    assert app.config["LOG_FORMAT"] == "json"
    assert app.config["JWT_SECRET_KEY"] == STRONG_SECRET
    assert app.test_client().get("/health").status_code == 200


def test_development_accepts_the_development_secret(clean_env):
    app = create_app()
    assert app.config["JWT_SECRET_KEY"] == DEV_SECRET
