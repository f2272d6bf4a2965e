"""The request path's shortcuts keep the contract: reads without a transaction, pool pings only
after idleness, remembered token decoding that still honours expiry and revocation."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from conftest import PASSWORD, assert_problem, bearer, login, register
from flask import Flask, g

from taskapi.extensions import db


def _require_postgres(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("autocommit reads and pool pings concern PostgreSQL connections only")


def _user(app: Flask) -> dict[str, str]:
    client = app.test_client()
    register(client, "perf@example.com")
    return bearer(login(client, "perf@example.com")["access_token"])


def test_reads_run_in_autocommit_and_writes_in_one_transaction(app: Flask) -> None:
    _require_postgres(app)
    headers = _user(app)
    client = app.test_client()
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((statement.upper(), conn.connection.dbapi_connection.autocommit))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        task = client.post("/v1/tasks", json={"title": "write"}, headers=headers).get_json()
        writes, seen[:] = list(seen), []
        response = client.get(f"/v1/tasks/{task['id']}", headers=headers)
        assert response.status_code == 200
        reads, seen[:] = list(seen), []
        response = client.get("/v1/tasks", headers=headers)
        assert response.status_code == 200
        lists, seen[:] = list(seen), []
        # Connections keep the mode of their last use in the pool: a write after reads switches.
        response = client.patch(f"/v1/tasks/{task['id']}", json={"title": "2"}, headers=headers)
        assert response.status_code == 200
        writes_after_reads = list(seen)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    assert any("INSERT" in statement for statement, _ in writes)  # a plain or prepared INSERT
    assert writes
    assert not any(autocommit for _, autocommit in writes)
    assert reads
    assert all(autocommit for _, autocommit in reads)
    assert lists
    assert all(autocommit for _, autocommit in lists)
    assert engine.dialect.skip_autocommit_rollback  # a read's ROLLBACK would end nothing
    assert writes_after_reads
    assert not any(autocommit for _, autocommit in writes_after_reads)
    # Any other use of the engine is transactional too.
    with app.app_context(), db.engine.connect() as connection:
        assert connection.connection.dbapi_connection.autocommit is False


def _backend_pid(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return int(connection.scalar(sa.text("SELECT pg_backend_pid()")))


def _terminate(app: Flask, pid: int) -> None:
    with app.app_context():
        url = db.engine.url
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def _one_connection_app(make_app: Callable[..., Flask], idle_ping_seconds: int) -> Flask:
    """The app with a pool of one connection."""
    return make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_IDLE_PING_SECONDS=idle_ping_seconds)


def _kill_its_connection(served: Flask) -> None:
    """End the backend of the app's pooled connection, then let the connection count as idle."""
    _terminate(served, _backend_pid(served))
    time.sleep(1.2)


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    _require_postgres(app)
    headers = _user(app)
    served = _one_connection_app(make_app, idle_ping_seconds=1)
    client = served.test_client()
    assert client.get("/v1/tasks", headers=headers).status_code == 200
    _kill_its_connection(served)
    assert client.get("/v1/tasks", headers=headers).status_code == 200


def test_without_the_idle_ping_a_dead_connection_costs_one_503_then_the_pool_recovers(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    _require_postgres(app)
    headers = _user(app)
    served = _one_connection_app(make_app, idle_ping_seconds=0)
    client = served.test_client()
    assert client.get("/v1/tasks", headers=headers).status_code == 200
    _kill_its_connection(served)
    assert_problem(client.get("/v1/tasks", headers=headers), 503, "service_unavailable")
    assert client.get("/v1/tasks", headers=headers).status_code == 200


def test_a_remembered_token_still_expires(make_app: Callable[..., Flask]) -> None:
    served = make_app(JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=1))
    client = served.test_client()
    register(client, "short@example.com")
    headers = bearer(login(client, "short@example.com")["access_token"])
    assert client.get("/v1/tasks", headers=headers).status_code == 200
    time.sleep(2.1)
    body = assert_problem(client.get("/v1/tasks", headers=headers), 401, "unauthorized")
    assert "expired" in body["detail"]


def test_a_remembered_token_is_refused_once_revoked(app: Flask) -> None:
    client = app.test_client()
    headers = _user(app)
    assert client.get("/v1/tasks", headers=headers).status_code == 200
    assert client.get("/v1/tasks", headers=headers).status_code == 200
    assert client.post("/v1/auth/logout", headers=headers).status_code in (200, 204)
    body = assert_problem(client.get("/v1/tasks", headers=headers), 401, "unauthorized")
    assert "revoked" in body["detail"]


def test_the_hand_written_task_dump_matches_marshmallow(
    app: Flask, create_task: Callable[..., Any], auth_headers: dict[str, str]
) -> None:
    from taskapi.models import Task
    from taskapi.resources.tasks.schemas import CompletionSchema, TaskSchema

    create_task(title="plain")
    create_task(
        title="full",
        description="d",
        completed=True,
        priority="high",
        tags=["b", "a"],
        due_date="2030-01-02T03:04:05+02:00",
        reminder_at="2030-01-01T00:00:00Z",
        recurrence_rule="FREQ=DAILY",
    )
    schema = TaskSchema()
    with app.app_context():
        tasks = list(db.session.scalars(sa.select(Task).order_by(Task.title)))
        # A naive timestamp (as an unsaved object could hold) is taken as UTC by both.
        tasks.append(
            Task(title="naive", tags=[], created_at=tasks[0].created_at.replace(tzinfo=None))
        )
        for task in tasks:
            assert schema.dump(task) == ma.Schema.dump(schema, task)
            assert list(schema.dump(task)) == list(ma.Schema.dump(schema, task))
        assert TaskSchema(many=True).dump(tasks) == ma.Schema.dump(TaskSchema(many=True), tasks)
        assert TaskSchema(only=("id",)).dump(tasks[0]) == {"id": str(tasks[0].id)}
        completion = CompletionSchema().dump({"task": tasks[0], "next": None})
        assert completion == {"task": ma.Schema.dump(schema, tasks[0]), "next": None}

        # Lists read plain rows instead of objects: the same representation.
        from taskapi.services.tasks import task_rows

        rows = task_rows(sa.select(Task).order_by(Task.title))
        assert [type(row).__name__ for row in rows] == ["Row", "Row"]
        assert TaskSchema(many=True).dump(rows) == ma.Schema.dump(TaskSchema(many=True), tasks[:2])
        assert [schema.dump(row) for row in rows] == [schema.dump(task) for task in tasks[:2]]


@contextlib.contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _executed(statements: list[str]) -> list[str]:
    """The statements a request ran, less the preparation a connection does on first use."""
    return [statement for statement in statements if not statement.startswith("PREPARE ")]


def test_reading_a_task_is_one_statement_and_keeps_isolation_and_revocation(
    app: Flask,
    client: Any,
    make_user: Callable[..., dict[str, str]],
    create_task: Callable[..., Any],
    auth_headers: dict[str, str],
) -> None:
    task = create_task(title="mine")
    other = make_user("mallory@example.com")
    with recorded_statements(app) as statements:
        response = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
        assert response.status_code == 200
        assert response.get_json() == task
        assert len(_executed(statements)) == 1
        statements.clear()
        assert_problem(client.get(f"/v1/tasks/{task['id']}", headers=other), 404, "not_found")
        assert len(_executed(statements)) == 1
    assert client.post("/v1/auth/logout", headers=auth_headers).status_code in (200, 204)
    body = assert_problem(
        client.get(f"/v1/tasks/{task['id']}", headers=auth_headers), 401, "unauthorized"
    )
    assert "revoked" in body["detail"]


def test_a_task_read_with_the_token_check_is_the_task_read_on_its_own(
    client: Any, create_task: Callable[..., Any], auth_headers: dict[str, str]
) -> None:
    """GET /v1/tasks/<id> takes the task from the token check's statement; under the user
    prefix it is read on its own. Same body, same ETag, and that ETag is what writes expect."""
    task = create_task(
        title="full",
        description="d",
        priority="high",
        tags=["b", "a"],
        due_date="2030-01-02T03:04:05+02:00",
        reminder_at="2030-01-01T00:00:00Z",
        recurrence_rule="FREQ=DAILY",
    )
    me = client.get("/v1/auth/me", headers=auth_headers).get_json()["id"]
    preloaded = client.get(f"/v1/tasks/{task['id']}", headers=auth_headers)
    on_its_own = client.get(f"/v1/users/{me}/tasks/{task['id']}", headers=auth_headers)
    assert preloaded.status_code == on_its_own.status_code == 200
    assert preloaded.get_data() == on_its_own.get_data()
    assert preloaded.headers["ETag"] == on_its_own.headers["ETag"]
    not_modified = client.get(
        f"/v1/tasks/{task['id']}",
        headers={**auth_headers, "If-None-Match": preloaded.headers["ETag"]},
    )
    assert not_modified.status_code == 304
    changed = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "renamed"},
        headers={**auth_headers, "If-Match": preloaded.headers["ETag"]},
    )
    assert changed.status_code == 200
    stale = client.patch(
        f"/v1/tasks/{task['id']}",
        json={"title": "again"},
        headers={**auth_headers, "If-Match": preloaded.headers["ETag"]},
    )
    assert_problem(stale, 412, "precondition_failed")


def test_the_decoded_token_cache_stays_bounded(
    app: Flask, client: Any, make_user: Callable[..., dict[str, str]], monkeypatch: Any
) -> None:
    import taskapi.extensions as extensions

    monkeypatch.setattr(extensions, "DECODED_TOKEN_CACHE_SIZE", 2)
    app.extensions.pop("taskapi.decoded_tokens", None)
    for index in range(5):
        headers = make_user(f"bounded{index}@example.com")
        assert client.get("/v1/tasks", headers=headers).status_code == 200
        assert 1 <= len(app.extensions["taskapi.decoded_tokens"]) <= 2


@pytest.mark.parametrize("refresh", [False, True])
def test_the_token_check_answers_as_flask_jwt_extended_does(
    app: Flask, client: Any, make_user: Callable[..., dict[str, str]], refresh: bool
) -> None:
    """`_verify_token` stands in for `verify_jwt_in_request` on every request: for each kind of
    Authorization header both raise the same error with the same message, or accept the token
    with the same claims and header."""
    from flask_jwt_extended import get_jwt, get_jwt_header, verify_jwt_in_request

    from taskapi.auth import _verify_token

    headers = make_user("checked@example.com")
    access = headers["Authorization"].removeprefix("Bearer ")
    tokens = client.post(
        "/v1/auth/login", json={"email": "checked@example.com", "password": PASSWORD}
    ).get_json()
    refresh_token = tokens["refresh_token"]
    revoked = make_user("revoked@example.com")
    assert client.post("/v1/auth/logout", headers=revoked).status_code in (200, 204)
    cases = [
        None,
        "",
        ",",
        "Bearer",
        f"Bearer {access} extra",
        f"Basic abc, Bearer {access}",
        f"Bearer {access}, Bearer {access}",
        "Bearer not-a-token",
        f"Bearer {access[:-2]}xx",
        f"Bearer {access}",
        f"Bearer {refresh_token}",
        revoked["Authorization"],
    ]

    def outcome(check: Callable[[], Any], authorization: str | None) -> Any:
        sent = {} if authorization is None else {"Authorization": authorization}
        with app.test_request_context("/v1/tasks", headers=sent):
            try:
                check()
            except Exception as error:
                return type(error), str(error)
            finally:
                db.session.remove()
            return get_jwt(), get_jwt_header(), g._jwt_extended_jwt_user["loaded_user"]

    for authorization in cases:
        theirs = outcome(lambda: verify_jwt_in_request(refresh=refresh), authorization)
        ours = outcome(lambda: _verify_token(refresh), authorization)
        assert ours == theirs, authorization


def test_a_first_page_that_is_not_full_is_its_own_count(
    app: Flask, client: Any, create_task: Callable[..., Any], auth_headers: dict[str, str]
) -> None:
    for number in range(3):
        create_task(title=f"task {number}")
    pages = {}
    with recorded_statements(app) as statements:
        for size in (50, 3, 2):
            statements.clear()
            response = client.get(f"/v1/tasks?page_size={size}", headers=auth_headers)
            assert response.status_code == 200
            pages[size] = (
                len(response.get_json()),
                json.loads(response.headers["X-Pagination"])["total"],
                len(_executed(statements)),
            )
    # (items, total, statements): the token check and the page, plus a count when the first
    # page is full (more items may follow).
    assert pages == {50: (3, 3, 2), 3: (3, 3, 3), 2: (2, 3, 3)}


def _prepared_on_server(app: Flask) -> set[str]:
    """Names prepared on the backend of the app's only pooled connection."""
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT name FROM pg_prepared_statements"))
        return {name for (name,) in rows}


def test_the_token_check_is_prepared_once_per_connection_and_again_on_a_new_one(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    _require_postgres(app)
    headers = _user(app)
    served = _one_connection_app(make_app, idle_ping_seconds=1)
    client = served.test_client()
    with recorded_statements(served) as statements:
        assert client.get("/v1/tasks", headers=headers).status_code == 200
        first, statements[:] = list(statements), []
        assert client.get("/v1/tasks", headers=headers).status_code == 200
        second = list(statements)
    assert first[0].startswith("PREPARE taskapi_caller AS SELECT")
    assert first[1].startswith("EXECUTE taskapi_caller(")
    assert second[0].startswith("EXECUTE taskapi_caller(")
    assert not any(statement.startswith("PREPARE") for statement in second)
    assert "taskapi_caller" in _prepared_on_server(served)

    # A replaced connection has nothing prepared: the pool forgets what the old one had.
    _kill_its_connection(served)
    with recorded_statements(served) as statements:
        assert client.get("/v1/tasks", headers=headers).status_code == 200
    assert any(statement.startswith("PREPARE taskapi_caller") for statement in statements)


def test_prepared_statements_can_be_turned_off_and_answer_the_same(
    app: Flask, client: Any, make_app: Callable[..., Flask]
) -> None:
    _require_postgres(app)
    headers = _user(app)
    body = {"title": "same", "tags": ["a", "b"], "priority": "high", "due_date": "2030-01-02"}
    created = client.post("/v1/tasks", json=body, headers=headers)
    assert created.status_code == 201
    prepared = client.get(f"/v1/tasks/{created.get_json()['id']}", headers=headers)

    plain_app = make_app(DB_PREPARED_STATEMENTS=False)
    plain = plain_app.test_client()
    with recorded_statements(plain_app) as statements:
        response = plain.get(f"/v1/tasks/{created.get_json()['id']}", headers=headers)
        made = plain.post("/v1/tasks", json=body, headers=headers)
    assert made.status_code == 201
    assert response.status_code == 200
    assert response.get_json() == prepared.get_json() == created.get_json()
    assert response.headers["ETag"] == prepared.headers["ETag"]
    assert statements
    assert not any(statement.startswith(("PREPARE", "EXECUTE")) for statement in statements)
    entries = plain.get("/v1/history", headers=headers).get_json()
    assert [(entry["id"], entry["action"]) for entry in entries] == [(2, "created"), (1, "created")]


def test_a_prepared_statement_keeps_literals_defaults_and_result_types(app: Flask) -> None:
    _require_postgres(app)
    from taskapi.extensions import PreparedStatement

    statement = PreparedStatement(
        "test_literals",
        sa.select(
            sa.literal_column("'50%'").label("percent"),
            (sa.cast(sa.bindparam("number"), sa.Integer) + 1).label("next"),
            sa.func.coalesce(sa.cast(sa.bindparam("maybe"), sa.Integer), 7).label("default"),
            sa.cast(sa.bindparam("when", type_=sa.String), sa.DateTime(timezone=True)).label(
                "when"
            ),
        ),
    )
    with app.app_context(), db.engine.connect() as connection:
        for number in (1, 41):
            row = statement.execute(
                connection, {"number": number, "maybe": None, "when": "2030-01-02T03:04:05+00:00"}
            ).one()
            assert row.percent == "50%"
            assert row.next == number + 1
            assert row.default == 7
            assert row.when.isoformat() == "2030-01-02T03:04:05+00:00"
        names = connection.execute(sa.text("SELECT name FROM pg_prepared_statements")).scalars()
        assert "taskapi_test_literals" in set(names)


def test_a_prepared_statement_may_be_built_twice_but_a_name_holds_one_statement() -> None:
    from taskapi.extensions import PreparedStatement

    def build(value: int) -> PreparedStatement:
        return PreparedStatement("test_twice", sa.select(sa.literal_column(str(value))))

    first, again = build(1), build(1)  # as two threads filling one cache at once would
    assert first.name == again.name == "taskapi_test_twice"
    with pytest.raises(ValueError, match="another prepared statement"):
        build(2)
