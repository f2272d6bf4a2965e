"""`flask apikeys …`: API keys of service clients (thin wrappers over the api_keys service).

`create` and `rotate` write only the new key to standard output, so `KEY=$(flask apikeys create
…)` works; everything else goes to standard error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click
from flask.cli import AppGroup

from taskapi.errors import ApiError
from taskapi.models import ApiKey
from taskapi.models.types import utcnow
from taskapi.services import api_keys

apikeys_cli = AppGroup("apikeys", help="Manage API keys of service clients.")

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str) -> datetime:
    """`30d`, `12h`, `90m`, `2w`, `3600s` from now, or an ISO 8601 date or time (UTC if naive)."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        return utcnow() + timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "expected a duration such as 30d, 12h, 90m, 2w, or an ISO 8601 date or time "
            "such as 2027-01-31 or 2027-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _expiry_option(_ctx: click.Context, _param: click.Parameter, value: str | None):
    return None if value is None else parse_expiry(value)


def _describe(key: ApiKey) -> str:
    expires = key.expires_at.isoformat() if key.expires_at else "never"
    return (
        f"{key.name} ({key.prefix}, id {key.id}; scopes {','.join(key.scopes)}; expires {expires})"
    )


@apikeys_cli.command("create")
@click.argument("name")
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated scopes, among: {', '.join(api_keys.SCOPES)}.",
)
@click.option(
    "--expires",
    callback=_expiry_option,
    help="Expiry: a duration from now (30d, 12h, 90m, 2w) or an ISO 8601 date or time "
    "(default: never).",
)
def create_key_command(name: str, scopes: str, expires: datetime | None) -> None:
    """Create an API key and print it (it is shown only this once)."""
    try:
        key, plain = api_keys.create_key(name, scopes.split(","), expires)
    except ApiError as error:
        raise click.ClickException(_message(error)) from None
    click.echo(f"created API key {_describe(key)}; store it now, it is not shown again", err=True)
    click.echo(plain)


@apikeys_cli.command("list")
def list_keys_command() -> None:
    """List keys: name, prefix, status, scopes, expiry, last use, creation (never the key)."""
    now = utcnow()
    for key in api_keys.list_keys():
        click.echo(
            "\t".join(
                [
                    key.name,
                    key.prefix,
                    key.status(now),
                    ",".join(key.scopes),
                    f"expires={key.expires_at.isoformat() if key.expires_at else 'never'}",
                    f"last_used={key.last_used_at.isoformat() if key.last_used_at else 'never'}",
                    f"created={key.created_at.isoformat()}",
                ]
            )
        )


@apikeys_cli.command("revoke")
@click.argument("name")
def revoke_key_command(name: str) -> None:
    """Revoke the key NAME (and the keys it replaced that are still in their grace period)."""
    try:
        revoked = api_keys.revoke_key(name)
    except ApiError as error:
        raise click.ClickException(_message(error)) from None
    prefixes = ", ".join(key.prefix for key in revoked) or "none left active"
    click.echo(f"revoked API key {name} ({prefixes})", err=True)


@apikeys_cli.command("rotate")
@click.argument("name")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds the old key keeps working (default APIKEY_ROTATION_GRACE_SECONDS).",
)
@click.option(
    "--expires",
    callback=_expiry_option,
    help="Expiry of the new key (default: the old key's).",
)
def rotate_key_command(name: str, grace: int | None, expires: datetime | None) -> None:
    """Replace the key NAME by a new one with the same scopes, and print the new key."""
    try:
        old, key, plain = api_keys.rotate_key(name, grace, expires)
    except ApiError as error:
        raise click.ClickException(_message(error)) from None
    until = old.expires_at.isoformat() if old.expires_at else "never"
    click.echo(
        f"rotated API key {_describe(key)}; the old key {old.prefix} works until {until}",
        err=True,
    )
    click.echo(plain)


def _message(error: ApiError) -> str:
    """The service's message, with field errors spelled out."""
    if not error.errors:
        return error.detail
    fields = error.errors.get("json", error.errors)
    return "; ".join(
        f"{field}: {' '.join(map(str, messages))}" for field, messages in fields.items()
    )
