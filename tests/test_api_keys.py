"""API keys: the CLI, hashing at rest, expiry, revocation, rotation grace, last use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import assert_problem
from service_clients import new_key, user_id
from sqlalchemy import update

from taskapi.extensions import db
from taskapi.models import ApiKey
from taskapi.models.types import utcnow


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def owner(client, make_user):
    """A user a key can act for: (user id, tasks URL under the user prefix)."""
    headers = make_user()
    uid = user_id(client, headers)
    return uid, f"/v1/users/{uid}/tasks"


def run_ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def set_key(app, key_id, **values):
    with app.app_context():
        db.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))
        db.session.commit()


def get_key(app, **where):
    with app.app_context():
        key = db.session.scalars(sa.select(ApiKey).filter_by(**where)).one()
        db.session.expunge(key)
        return key


def test_create_prints_only_the_key_and_it_works(app, client, runner, owner):
    result = run_ok(runner, "apikeys", "create", "platform", "--scopes", "tasks:read,tasks:write")
    plain = result.stdout.strip()
    assert result.stdout == plain + "\n"
    assert plain.startswith("tk_")
    assert len(plain) > 40
    assert "platform" in result.stderr
    assert plain not in result.stderr
    key = get_key(app, name="platform")
    assert plain.startswith(key.prefix + "_")
    assert key.scopes == ["tasks:read", "tasks:write"]
    assert key.expires_at is None

    response = client.post(owner[1], json={"title": "by key"}, headers={"X-API-Key": plain})
    assert response.status_code == 201


def test_the_plain_key_is_nowhere_in_the_database(app, client, runner, owner):
    plain = run_ok(runner, "apikeys", "create", "hashed", "--scopes", "tasks:write").stdout.strip()
    rotated = run_ok(runner, "apikeys", "rotate", "hashed").stdout.strip()
    for presented in (plain, rotated):
        headers = {"X-API-Key": presented}
        assert client.post(owner[1], json={"title": "x"}, headers=headers).status_code == 201

    secrets = {presented.split("_", 2)[2] for presented in (plain, rotated)}
    with app.app_context(), db.engine.connect() as connection:
        dump = []
        stored = sa.MetaData()  # every table and column as the database has them
        stored.reflect(connection)
        for table in stored.sorted_tables:
            for row in connection.execute(sa.select(table)):
                dump.extend(str(value) for value in row)
        hashes = set(connection.execute(sa.select(ApiKey.key_hash)).scalars())
    text = "\n".join(dump)
    assert "hashed" in text  # the dump does contain the keys' rows
    for secret in secrets:
        assert secret not in text
    assert hashes == {hashlib.sha256(value.encode()).hexdigest() for value in (plain, rotated)}


def test_expiry_option(app, runner):
    run_ok(runner, "apikeys", "create", "short", "--scopes", "tasks:read", "--expires", "2h")
    # An ISO date without offset is UTC midnight.
    run_ok(
        runner, "apikeys", "create", "dated", "--scopes", "tasks:read", "--expires", "2099-01-31"
    )
    short = get_key(app, name="short")
    assert timedelta(minutes=119) < short.expires_at - utcnow() <= timedelta(hours=2)
    assert get_key(app, name="dated").expires_at.isoformat() == "2099-01-31T00:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "k", "--scopes", "tasks:read,nope"], "Unknown scope 'nope'"),
        (["create", "k", "--scopes", ","], "at least one"),
        (["create", "k", "--scopes", "tasks:read", "--expires", "soon"], "duration"),
        (["create", "k", "--scopes", "tasks:read", "--expires", "2001-01-01"], "future"),
        (["create", "k"], "Missing option '--scopes'"),
        (["create", "taken", "--scopes", "tasks:read"], "already exists"),
        (["revoke", "missing"], "No API key named 'missing'"),
        (["rotate", "missing"], "No API key named 'missing'"),
        (["rotate", "taken", "--grace", "-1"], "--grace"),
    ],
)
def test_cli_refuses_bad_input(app, runner, args, message):
    run_ok(runner, "apikeys", "create", "taken", "--scopes", "tasks:read")
    result = runner.invoke(args=["apikeys", *args])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert message in result.stderr
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1


def test_cli_help(runner):
    for command in ("create", "list", "revoke", "rotate"):
        result = runner.invoke(args=["apikeys", command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output


def test_list_shows_state_but_never_the_key(app, runner):
    plain = run_ok(runner, "apikeys", "create", "one", "--scopes", "stats:read").stdout.strip()
    run_ok(runner, "apikeys", "create", "two", "--scopes", "tasks:read")
    run_ok(runner, "apikeys", "revoke", "two")
    listing = run_ok(runner, "apikeys", "list").stdout
    lines = listing.strip().splitlines()
    assert [line.split("\t")[:4] for line in lines] == [
        ["one", plain[:11], "active", "stats:read"],
        ["two", get_key(app, name="two").prefix, "revoked", "tasks:read"],
    ]
    assert plain.split("_", 2)[2] not in listing


def test_unknown_malformed_revoked_and_expired_keys_are_401(app, client, owner):
    key, headers = new_key(app, ["tasks:read"])
    assert client.get(owner[1], headers=headers).status_code == 200

    plain = headers["X-API-Key"]
    for presented in (
        plain[:-1] + ("A" if plain[-1] != "A" else "B"),  # right prefix, wrong secret
        "tk_00000000_" + "a" * 43,
        "not a key",
        "",
    ):
        response = client.get(owner[1], headers={"X-API-Key": presented})
        body = assert_problem(response, 401, "unauthorized")
        assert "X-API-Key" in response.headers["WWW-Authenticate"]
        assert body["detail"] == "Invalid API key."

    set_key(app, key.id, expires_at=utcnow() - timedelta(seconds=1))
    body = assert_problem(client.get(owner[1], headers=headers), 401, "unauthorized")
    assert body["detail"] == "The API key has expired."

    set_key(app, key.id, expires_at=None, revoked_at=utcnow())
    body = assert_problem(client.get(owner[1], headers=headers), 401, "unauthorized")
    assert body["detail"] == "The API key has been revoked."


def test_revoke_through_the_cli_takes_effect_at_once(app, client, runner, owner):
    plain = run_ok(runner, "apikeys", "create", "gone", "--scopes", "tasks:read").stdout.strip()
    headers = {"X-API-Key": plain}
    assert client.get(owner[1], headers=headers).status_code == 200
    result = run_ok(runner, "apikeys", "revoke", "gone")
    assert result.stdout == ""
    assert "revoked" in result.stderr
    assert_problem(client.get(owner[1], headers=headers), 401, "unauthorized")


def test_rotation_keeps_the_old_key_for_the_grace_period(app, client, runner, owner):
    old = run_ok(runner, "apikeys", "create", "rot", "--scopes", "tasks:write").stdout.strip()
    result = run_ok(runner, "apikeys", "rotate", "rot", "--grace", "3600")
    new = result.stdout.strip()
    assert result.stdout == new + "\n"
    assert new != old
    assert new.startswith("tk_")

    old_key, new_key_row = get_key(app, prefix=old[:11]), get_key(app, prefix=new[:11])
    assert old_key.replaced_by_id == new_key_row.id
    assert new_key_row.scopes == ["tasks:write"]
    assert new_key_row.name == "rot"
    assert timedelta(minutes=59) < old_key.expires_at - utcnow() <= timedelta(hours=1)

    # Within the grace period both work, each acting as itself.
    for presented in (old, new):
        response = client.post(owner[1], json={"title": "x"}, headers={"X-API-Key": presented})
        assert response.status_code == 201

    # After it, the old key is refused and the new one still works.
    set_key(app, old_key.id, expires_at=utcnow() - timedelta(seconds=1))
    assert_problem(
        client.post(owner[1], json={"title": "x"}, headers={"X-API-Key": old}), 401, "unauthorized"
    )
    response = client.post(owner[1], json={"title": "x"}, headers={"X-API-Key": new})
    assert response.status_code == 201

    # The name follows the new key: rotating again replaces it; revoking kills every key.
    newest = run_ok(runner, "apikeys", "rotate", "rot", "--grace", "0").stdout.strip()
    assert_problem(client.get(owner[1], headers={"X-API-Key": new}), 401, "unauthorized")
    assert client.get(owner[1], headers={"X-API-Key": newest}).status_code == 403  # no read scope
    run_ok(runner, "apikeys", "revoke", "rot")
    assert_problem(client.get(owner[1], headers={"X-API-Key": newest}), 401, "unauthorized")
    assert runner.invoke(args=["apikeys", "rotate", "rot"]).exit_code != 0


def test_rotation_grace_defaults_to_the_setting(make_app, owner):
    other = make_app(APIKEY_ROTATION_GRACE_SECONDS=120)
    runner = other.test_cli_runner()
    # The client fixture leaves the first app's context pushed: the CLI would run in it.
    with other.app_context():
        run_ok(runner, "apikeys", "create", "cfg", "--scopes", "tasks:read")
        run_ok(runner, "apikeys", "rotate", "cfg")
        old = db.session.scalars(sa.select(ApiKey).where(ApiKey.replaced_by_id.is_not(None))).one()
    assert timedelta(seconds=110) < old.expires_at - utcnow() <= timedelta(seconds=120)


def test_last_used_is_written_at_most_once_a_minute(app, client, owner):
    key, headers = new_key(app, ["tasks:read"])
    assert get_key(app, id=key.id).last_used_at is None

    assert client.get(owner[1], headers=headers).status_code == 200
    first = get_key(app, id=key.id).last_used_at
    assert first is not None
    assert utcnow() - first < timedelta(seconds=5)

    assert client.get(owner[1], headers=headers).status_code == 200
    assert get_key(app, id=key.id).last_used_at == first  # within the minute: no write

    a_while_ago = utcnow() - timedelta(seconds=61)
    set_key(app, key.id, last_used_at=a_while_ago)
    assert client.get(owner[1], headers=headers).status_code == 200
    assert get_key(app, id=key.id).last_used_at > a_while_ago + timedelta(seconds=60)
