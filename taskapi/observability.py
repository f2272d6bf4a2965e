"""Per-request plumbing: request ids, content-type checks, security headers, one log line and
the metrics of each request."""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import threading
import time
from typing import TextIO

from flask import Flask, Response, current_app, g, request
from pythonjsonlogger.json import JsonFormatter

from taskapi.errors import problem
from taskapi.metrics import init_metrics, observe

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

access_log = logging.getLogger("taskapi.access")


def configure_logging(app: Flask) -> None:
    """JSON lines in production, readable lines in development; idempotent per process."""
    root = logging.getLogger("taskapi")
    root.setLevel(app.config["LOG_LEVEL"].upper())
    if app.config["LOG_FORMAT"] == "json":
        formatter: logging.Formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler = BatchingStreamHandler(sys.stderr, app.config["LOG_FLUSH_INTERVAL_MS"] / 1000)
    handler._taskapi = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter)
    # waitress's own warnings and errors go out in the same format as the application's.
    for logger in (root, logging.getLogger("waitress")):
        for existing in list(logger.handlers):
            if getattr(existing, "_taskapi", False):
                logger.removeHandler(existing)
                existing.close()  # writes what it holds; its flushing thread ends
        logger.addHandler(handler)
        logger.propagate = False


class BatchingStreamHandler(logging.StreamHandler):
    """A stream handler that writes its lines in batches.

    Writing each line as it comes costs a system call per request, and every worker thread
    then waits on the stream in turn: under load that was the largest single cost of a request.
    Lines are kept in order and written together every `interval` seconds (by a thread of the
    process that logged them), when 64 KiB have gathered, on each record of WARNING or above
    (so an error, and everything before it, shows at once), and when logging shuts down (a
    worker's exit). A process killed outright loses at most `interval` seconds of its INFO
    lines. `interval` 0 writes every line at once.
    """

    MAX_PENDING_CHARS = 64 * 1024

    def __init__(self, stream: TextIO, interval: float) -> None:
        super().__init__(stream)
        self.interval = interval
        self._pending: list[str] = []
        self._pending_chars = 0
        self._flusher_pid = 0
        self._stopping = threading.Event()
        self.flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (logging.Handler.handle).
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if self._flusher_pid != os.getpid():
            # First line of this process (a forked worker starts here): the parent writes the
            # lines it had gathered itself.
            self._pending.clear()
            self._pending_chars = 0
            self._start_flusher()
        self._pending.append(line)
        self._pending_chars += len(line)
        if (
            self.interval <= 0
            or record.levelno >= logging.WARNING
            or self._pending_chars >= self.MAX_PENDING_CHARS
        ):
            self._write_pending()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()

    def close(self) -> None:
        self.flush()
        self._stopping.set()  # the flushing thread ends
        super().close()

    def _write_pending(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_chars = 0
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": "log write failed"}))

    def _start_flusher(self) -> None:
        self._flusher_pid = os.getpid()
        if self.interval > 0 and not self._stopping.is_set():
            self.flusher = threading.Thread(
                target=self._flush_periodically, name="log-flush", daemon=True
            )
            self.flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()


def _start_request() -> Response | None:
    g.request_started = time.perf_counter()
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = supplied if _VALID_REQUEST_ID.match(supplied) else secrets.token_hex(16)
    if (
        request.method in _BODY_METHODS
        and request.url_rule is not None
        and request.path.startswith("/v1/")
        and _has_body()
        and not request.is_json
    ):
        return problem(415, "Send the request body as JSON (Content-Type: application/json).")
    return None


def _has_body() -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"


def _finish_request(response: Response) -> Response:
    # The request and `g` are looked up once: each proxy access costs a context lookup, and
    # this runs on every response.
    req = request._get_current_object()  # type: ignore[attr-defined]
    ctx = g._get_current_object()
    request_id = ctx.get("request_id") or secrets.token_hex(16)
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id
    headers.setdefault("X-Content-Type-Options", "nosniff")
    path = req.path
    if path.startswith("/v1/"):
        # Task data is private: no shared cache may keep it.
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["TESTING_ENDPOINTS"]:
        headers["X-Worker"] = str(os.getpid())
    started = ctx.get("request_started")
    elapsed = time.perf_counter() - started if started else None
    duration_ms = round(elapsed * 1000, 2) if elapsed is not None else None
    status = response.status_code
    route = req.url_rule.rule if req.url_rule else None
    observe(req.method, route, status, elapsed)
    if not access_log.isEnabledFor(logging.INFO):
        return response
    principal = ctx.get("principal")
    actor_type = principal.actor_type if principal else None
    access_log.info(
        "%s %s %s %sms request_id=%s",
        req.method,
        path,
        status,
        duration_ms,
        request_id,
        extra={
            "method": req.method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
            "user_id": principal.actor_id if actor_type == "user" else None,
            "api_key_id": principal.actor_id if actor_type == "api_key" else None,
            "remote_addr": req.remote_addr,
        },
    )
    return response


def register_request_hooks(app: Flask) -> None:
    init_metrics(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
