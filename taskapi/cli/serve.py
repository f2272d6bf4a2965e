"""`flask serve`: serve the API with waitress, one worker process per CPU by default."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def _worker_app() -> Flask:
    # Each worker builds its app after the fork from the same environment the parent read.
    from taskapi import create_app

    return create_app()


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default SERVER_HOST).")
@click.option("--port", type=int, default=None, help="Port (default SERVER_PORT; 0 picks one).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default SERVER_WORKERS, or one per CPU).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per worker (default SERVER_THREADS).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(1, 100000),
    default=None,
    help="Simultaneous connections per worker (default SERVER_CONNECTION_LIMIT).",
)
@click.option(
    "--grace",
    "grace_seconds",
    type=click.IntRange(0, 3600),
    default=None,
    help="Seconds in-flight requests get to finish on SIGTERM (default SERVER_GRACE_SECONDS).",
)
@with_appcontext
def serve_command(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    connection_limit: int | None,
    grace_seconds: int | None,
) -> None:
    """Serve the API with waitress: N worker processes on one socket, graceful drain."""
    from taskapi.extensions import db
    from taskapi.server import ServerOptions, serve

    options = ServerOptions.from_config(
        current_app.config,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        connection_limit=connection_limit,
        grace_seconds=grace_seconds,
    )
    # No connection may cross the fork: the parent keeps none open.
    for engine in db.engines.values():
        engine.dispose()
    sys.exit(serve(_worker_app, options))
