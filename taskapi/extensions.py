"""Flask extensions, created unbound; `create_app` initialises them."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import current_app, has_request_context, request
from flask_cors import CORS
from flask_jwt_extended import JWTManager as BaseJWTManager
from flask_jwt_extended.config import config as jwt_config
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from jwt import get_unverified_header
from sqlalchemy import Insert, MetaData, Select, bindparam, column, event, text
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.expression import Executable

from taskapi.api import Api
from taskapi.config import PREPARED_STATEMENTS_OPTION


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint (Alembic batch mode needs it)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


#: Methods that only read: their SQL runs without an explicit transaction (see `Session`).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


#: Execution option of the connections whose statements run in autocommit mode.
AUTOCOMMIT_OPTION = "taskapi_autocommit"


class Session(FlaskSession):
    """Reads of GET/HEAD requests on PostgreSQL run in autocommit mode.

    Under READ COMMITTED (PostgreSQL's default) every statement sees its own snapshot whether or
    not a transaction surrounds it, so a read-only request sees exactly what it would have seen
    inside BEGIN … ROLLBACK, minus those two round trips. No GET/HEAD handler writes; writes
    (and their row locks and history rows) stay in one transaction per request.

    psycopg2's `autocommit` flag is switched directly (`autocommit_reads`): SQLAlchemy's
    `isolation_level="AUTOCOMMIT"` would cost a `SET default_transaction_isolation` round trip
    each time the connection goes back to the pool.
    """

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        engine = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if (
            bind is None
            and isinstance(engine, Engine)
            and engine.dialect.name == "postgresql"
            and has_request_context()
            and request.method in READ_ONLY_METHODS
        ):
            return _autocommit(engine)
        return engine


def _autocommit(engine: Engine) -> Engine:
    """`engine` with AUTOCOMMIT_OPTION, sharing its pool (made once per engine)."""
    autocommit: Engine | None = engine.__dict__.get("_taskapi_autocommit")
    if autocommit is None:
        autocommit = engine.execution_options(**{AUTOCOMMIT_OPTION: True})
        engine.__dict__["_taskapi_autocommit"] = autocommit
    return autocommit


def execute_core(statement: Any, parameters: Any = None) -> Any:
    """Run `statement` (or a `PreparedStatement`) on the session's connection, below the ORM's
    execution layer: rows, not mapped objects, for a fraction of the ORM's per-statement cost.
    Pending ORM changes are flushed first, as the ORM's autoflush would before a query."""
    session = db.session
    if session.new or session.dirty or session.deleted:
        session.flush()
    if isinstance(statement, PreparedStatement):
        return statement.execute(session.connection(), parameters or {})
    return session.connection().execute(statement, parameters)


class PreparedStatement:
    """A fixed statement that PostgreSQL parses and plans once per connection.

    psycopg2 sends every statement as text, and PostgreSQL parses and plans it on each
    execution: for the token check that runs on every request, planning cost more of the
    database's time than running it. On PostgreSQL (unless DB_PREPARED_STATEMENTS is off) the
    statement is `PREPARE`d on a connection the first time that connection runs it, and then
    run by `EXECUTE` with the same parameters, types and result columns. Elsewhere it runs as is.
    PostgreSQL infers each parameter's type when it prepares the statement: from the column it is
    compared with or written to, or from a cast (an ambiguous one fails at once, on first use).

    The prepared names live as long as the database session. The pool's per-connection `info`
    records them, and SQLAlchemy empties it whenever it replaces a connection, so a new
    connection prepares again. A proxy that pools transactions (PgBouncer's transaction mode)
    would hand the session to other clients: there DB_PREPARED_STATEMENTS must be off.
    """

    #: Statement text by name: a connection knows each name once.
    _names: dict[str, str] = {}

    def __init__(
        self,
        name: str,
        statement: Select[*tuple[Any, ...]] | Insert,
        column_keys: tuple[str, ...] | None = None,
    ) -> None:
        self.name = f"taskapi_{name}"
        # The same statement may be built twice (by two threads filling a cache at once); two
        # different statements may not share a name.
        sql = str(statement)
        if PreparedStatement._names.setdefault(self.name, sql) != sql:
            raise ValueError(f"{self.name} is already the name of another prepared statement")
        self.statement = statement
        self.column_keys = column_keys  # an INSERT's columns, when its statement names none
        self._compiled: tuple[str, Executable] | None = None

    def execute(self, connection: Connection, parameters: dict[str, Any]) -> CursorResult[Any]:
        if connection.dialect.name != "postgresql" or not connection.get_execution_options().get(
            PREPARED_STATEMENTS_OPTION
        ):
            return connection.execute(self.statement, parameters)
        if self._compiled is None:
            self._compiled = self._compile(connection)
        prepare, execute = self._compiled
        prepared: set[str] = connection.info.setdefault("taskapi_prepared", set())
        if self.name not in prepared:
            connection.exec_driver_sql(prepare)
            prepared.add(self.name)
        return connection.execute(execute, parameters)

    def _compile(self, connection: Connection) -> tuple[str, Executable]:
        compiled = self.statement.compile(
            dialect=connection.dialect,
            column_keys=list(self.column_keys) if self.column_keys is not None else None,
        )
        order: list[str] = []

        def placeholder(match: re.Match[str]) -> str:
            if match.group(1) not in order:
                order.append(match.group(1))
            return f"${order.index(match.group(1)) + 1}"

        # The psycopg2 dialect writes pyformat: %(name)s for each parameter (a literal percent
        # sign stays %%, which psycopg2 unescapes when it sends the PREPARE).
        body = re.sub(r"%\((\w+)\)s", placeholder, compiled.string)
        binds = compiled.binds  # by the name written in the SQL
        execute = text(f"EXECUTE {self.name}({', '.join(f':{key}' for key in order)})")
        execute = execute.bindparams(
            *(bindparam(key, binds[key].effective_value, type_=binds[key].type) for key in order)
        )
        prepare = f"PREPARE {self.name} AS {body}"
        if isinstance(self.statement, Select):
            # By name and type only: the selected expressions' own parameters are not the
            # EXECUTE's.
            selected = self.statement.selected_columns
            return prepare, execute.columns(*(column(each.name, each.type) for each in selected))
        return prepare, execute


def transactional_from_here() -> None:
    """Run the rest of this request's statements in one transaction, even on a GET (for
    transaction-local settings such as `set_config(..., true)`); the pool rolls it back when
    the connection is returned, as after any read."""
    dbapi_connection = db.session.connection().connection.dbapi_connection
    if dbapi_connection is not None and getattr(dbapi_connection, "autocommit", False):
        dbapi_connection.autocommit = False


def autocommit_reads(engine: Engine) -> None:
    """Give each connection of `engine` the psycopg2 autocommit mode its execution options ask
    for (client-side only: no round trip) when it is taken from the pool.

    A connection keeps its mode in the pool, so consecutive reads (or writes) on it switch
    nothing: psycopg2 hands the interpreter lock to another thread on every switch. Every use
    of the engine goes through this check, so a connection never starts a write in autocommit.
    """

    @event.listens_for(engine, "engine_connect")
    def _set_mode(connection: Connection) -> None:
        wanted = bool(connection.get_execution_options().get(AUTOCOMMIT_OPTION))
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection is not None and dbapi_connection.autocommit != wanted:
            dbapi_connection.autocommit = wanted


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate(compare_type=True)
api = Api()
#: Decoded tokens each process remembers (per app); all are forgotten when it is full.
DECODED_TOKEN_CACHE_SIZE = 4096
_DECODED_TOKENS = "taskapi.decoded_tokens"


class JWTManager(BaseJWTManager):
    """Remembers the claims and header of tokens it has verified, so that a token is not parsed
    and its signature checked again on each of its requests (twice per request: the rate
    limiter keys on it too).

    Only the decoding is remembered: an entry is used only while the token is unexpired (the
    expiry is checked on each use), and revocation and the user's state are still checked
    against the database on every request.
    """

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: Any = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        if allow_expired or csrf_value is not None:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        return self.decode_with_header(encoded_token)[0]

    def decode_with_header(self, encoded_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A valid token's claims and header (copies); raises what decoding raises."""
        cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = current_app.extensions.setdefault(
            _DECODED_TOKENS, {}
        )
        entry = cache.get(encoded_token)
        if entry is not None:
            exp = entry[0].get("exp")
            if exp is None or exp > time.time() - jwt_config.leeway:
                return dict(entry[0]), dict(entry[1])
            cache.pop(encoded_token, None)
        claims = super()._decode_jwt_from_config(encoded_token, None, False)
        header = get_unverified_header(encoded_token)
        if len(cache) >= DECODED_TOKEN_CACHE_SIZE:
            cache.clear()  # atomic, unlike a partial eviction while other threads insert
        cache[encoded_token] = (dict(claims), dict(header))
        return claims, header


jwt = JWTManager()
cors = CORS()
