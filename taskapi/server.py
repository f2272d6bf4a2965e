"""Serving with waitress."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger("taskapi.server")


def serve(app: Flask, *, host: str, port: int, threads: int, connection_limit: int) -> None:
    """Serve `app` until interrupted."""
    import waitress

    config = app.config
    log.info(
        "serving on http://%s:%s (threads=%s, connection_limit=%s)",
        host,
        port,
        threads,
        connection_limit,
    )
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        channel_timeout=config["SERVER_CHANNEL_TIMEOUT"],
        max_request_body_size=config["MAX_CONTENT_LENGTH"] + 64 * 1024,
        max_request_header_size=config["MAX_REQUEST_HEADER_SIZE"],
        ident="taskapi",
        # poll(), not select(): select() cannot watch file descriptors above 1023, and the
        # server dies once that many connections are open.
        asyncore_use_poll=True,
    )
