"""`flask serve`: serve the API with waitress."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default SERVER_HOST).")
@click.option("--port", type=int, default=None, help="Port (default SERVER_PORT).")
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker threads (default SERVER_THREADS).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(1, 100000),
    default=None,
    help="Maximum simultaneous connections (default SERVER_CONNECTION_LIMIT).",
)
@with_appcontext
def serve_command(
    host: str | None, port: int | None, threads: int | None, connection_limit: int | None
) -> None:
    """Serve the API with waitress."""
    from taskapi.server import serve

    config = current_app.config
    serve(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        host=host or config["SERVER_HOST"],
        port=port if port is not None else config["SERVER_PORT"],
        threads=threads or config["SERVER_THREADS"],
        connection_limit=connection_limit or config["SERVER_CONNECTION_LIMIT"],
    )
