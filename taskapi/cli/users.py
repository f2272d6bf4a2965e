"""`flask users …`: manage accounts (thin wrappers over the users service)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from taskapi.errors import ApiError
from taskapi.services import users as user_service

users_cli = AppGroup("users", help="Manage user accounts.")


def _fail(message: str) -> None:
    raise click.ClickException(message)


@users_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the user administrator rights.")
@click.option("--name", default=None, help="Display name.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (otherwise you are prompted for it).",
)
def create_user_command(email: str, admin: bool, name: str | None, password_stdin: bool) -> None:
    """Create a user with a password."""
    from marshmallow import ValidationError

    from taskapi.resources.auth.schemas import RegisterSchema

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = RegisterSchema().load({"email": email, "password": password, "name": name})
    except ValidationError as error:
        messages = "; ".join(
            f"{field}: {' '.join(map(str, msgs))}"
            for field, msgs in error.normalized_messages().items()
        )
        _fail(f"invalid input: {messages}")
        return
    try:
        user = user_service.create_user(
            data["email"], data["password"], data.get("name"), is_admin=admin
        )
    except ApiError as error:
        _fail(error.detail)
        return
    click.echo(f"created user {user.email} ({user.id}){' as admin' if admin else ''}", err=True)
    click.echo(str(user.id))


@users_cli.command("list")
def list_users_command() -> None:
    """List users (id, email, admin, active, created)."""
    for user in user_service.list_users():
        click.echo(
            f"{user.id}\t{user.email}\t{'admin' if user.is_admin else '-'}\t"
            f"{'active' if user.is_active else 'disabled'}\t{user.created_at.isoformat()}"
        )


@users_cli.command("disable")
@click.argument("email")
def disable_user_command(email: str) -> None:
    """Disable a user: login is refused and its tokens stop working at once."""
    try:
        user = user_service.disable_user(email)
    except ApiError as error:
        _fail(error.detail)
        return
    click.echo(f"disabled {user.email}", err=True)
