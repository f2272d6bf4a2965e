"""Admin CLI: `flask users …`, `flask openapi write`, and `--help` of every command."""

import json

import click
import pytest
import sqlalchemy as sa
from conftest import PASSWORD, assert_unauthorized, bearer, login, register
from openapi_spec_validator import validate

from taskapi.extensions import db
from taskapi.models import User


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def stored_user(app, email):
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def test_users_create_reads_the_password_from_stdin(app, client, runner):
    result = runner.invoke(
        args=["users", "create", "Root@Example.com", "--password-stdin", "--name", "Root"],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    user = stored_user(app, "root@example.com")
    assert user is not None
    assert result.stdout.strip() == str(user.id)
    assert PASSWORD not in result.output
    assert user.name == "Root"
    assert user.is_admin is False
    assert user.password_hash.startswith("$argon2id$")
    assert login(client, "root@example.com")["access_token"]


def test_users_create_admin(app, client, runner):
    result = runner.invoke(
        args=["users", "create", "boss@example.com", "--admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert stored_user(app, "boss@example.com").is_admin is True
    me = client.get(
        "/v1/auth/me", headers=bearer(login(client, "boss@example.com")["access_token"])
    )
    assert me.get_json()["is_admin"] is True


def test_users_create_prompts_for_the_password(app, runner):
    result = runner.invoke(
        args=["users", "create", "prompted@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert stored_user(app, "prompted@example.com") is not None


def test_users_create_duplicate_fails(app, client, runner):
    register(client, "taken@example.com")
    result = runner.invoke(
        args=["users", "create", "TAKEN@example.com", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert result.exit_code != 0
    assert "already exists" in result.output


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("short@example.com", "short", "password"),
        ("long@example.com", "p" * 129, "password"),
        ("empty@example.com", "", "password"),
    ],
)
def test_users_create_bad_input_fails(app, runner, email, password, message):
    result = runner.invoke(
        args=["users", "create", email, "--password-stdin"], input=f"{password}\n"
    )
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_users_list(client, runner):
    register(client, "one@example.com")
    register(client, "two@example.com")
    runner.invoke(args=["users", "disable", "two@example.com"])
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    rows = {line.split("\t")[1]: line.split("\t") for line in lines}
    assert rows["one@example.com"][3] == "active"
    assert rows["two@example.com"][3] == "disabled"


def test_users_list_when_empty(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_users_disable(app, client, runner):
    register(client, "mallory@example.com")
    tokens = login(client, "mallory@example.com")
    result = runner.invoke(args=["users", "disable", "MALLORY@example.com"])
    assert result.exit_code == 0, result.output
    assert stored_user(app, "mallory@example.com").is_active is False
    assert_unauthorized(
        client.post("/v1/auth/login", json={"email": "mallory@example.com", "password": PASSWORD})
    )
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(tokens["access_token"])))


def test_users_disable_unknown_fails(runner):
    result = runner.invoke(args=["users", "disable", "unknown@x"])
    assert result.exit_code != 0
    assert "unknown@x" in result.output


def test_openapi_write(runner, tmp_path):
    target = tmp_path / "openapi.json"
    result = runner.invoke(args=["openapi", "write", "--format=json", str(target)])
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    validate(document)
    assert "/v1/tasks/{task_id}" in document["paths"]
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}


def all_commands(group, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))


def test_every_command_has_help(app, runner):
    commands = list(all_commands(app.cli))
    assert ("users", "create") in commands
    assert ("openapi", "write") in commands
    assert ("db", "upgrade") in commands
    for command in commands:
        result = runner.invoke(args=[*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_users_create_works_when_registration_is_disabled(make_app):
    app = make_app(REGISTRATION_ENABLED=False)
    result = app.test_cli_runner().invoke(
        args=["users", "create", "invited@example.com", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert login(app.test_client(), "invited@example.com")["token_type"] == "Bearer"
