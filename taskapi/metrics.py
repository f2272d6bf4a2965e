"""Prometheus metrics: requests by route and status, latency, in-flight requests, DB pool use, and
waitress queue-depth warnings; aggregated across `flask serve` worker processes.

Under `flask serve` every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR and
`/metrics` (answered by any worker) reads them all. A single process keeps them in memory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from sqlalchemy import event

EXTENSION_KEY = "taskapi.metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Label for requests that matched no route (keeps raw paths out of the label set).
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: At most one "queue is deep" log line per process in this many seconds.
QUEUE_LOG_INTERVAL = 10.0

log = logging.getLogger("taskapi.server")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def enable_multiprocess(directory: str) -> None:
    """Make metrics created from now on in this process (and its forks) write to `directory`.

    prometheus_client chooses its value storage when it is imported, which happens before
    `flask serve` knows it will fork, so the choice is made again here.
    """
    os.environ[MULTIPROC_ENV] = directory
    values.ValueClass = values.get_value_class()


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters and histograms keep counting)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class Metrics:
    """The application's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "endpoint", "status")
        self.requests = Counter(
            "taskapi_http_requests",
            "HTTP requests answered, by method, route and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "taskapi_http_request_duration_seconds",
            "Time spent answering a request, by method, route and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "taskapi_http_requests_in_flight",
            "Requests being answered right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_checked_out = Gauge(
            "taskapi_db_pool_checked_out",
            "Database connections checked out of the pools right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.queue_warnings = Counter(
            "taskapi_server_queue_depth_warnings",
            "Times a request had to wait because every waitress thread of a worker was busy.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "taskapi_server_queue_depth",
            "Depth of a worker's waiting-request queue at its last warning.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )

    def render(self) -> Response:
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def current_metrics() -> Metrics:
    return current_app.extensions[EXTENSION_KEY]


def init_metrics(app: Flask) -> Metrics:
    """Create the app's metrics and hook them into requests and the database pool."""
    from taskapi.extensions import db

    metrics = Metrics()
    app.extensions[EXTENSION_KEY] = metrics

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "checkout")
    def _checkout(*_args: Any) -> None:
        metrics.db_checked_out.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_args: Any) -> None:
        metrics.db_checked_out.dec()

    @app.before_request
    def _enter() -> None:
        metrics.in_flight.inc()
        g.metrics_in_flight = True

    @app.teardown_request
    def _leave(_error: BaseException | None) -> None:
        if g.pop("metrics_in_flight", False):
            metrics.in_flight.dec()

    return metrics


def observe(method: str, route: str | None, status: int, duration_seconds: float | None) -> None:
    """Count a request (called once its response is ready); `route` None: no route matched."""
    metrics = current_app.extensions.get(EXTENSION_KEY)
    if metrics is None:
        return
    labels = (method, route or UNMATCHED, str(status))
    metrics.requests.labels(*labels).inc()
    if duration_seconds is not None:
        metrics.latency.labels(*labels).observe(duration_seconds)


class QueueDepthFilter(logging.Filter):
    """Turns waitress's per-request "Task queue depth is N" warnings into a metric and at most
    one log line per QUEUE_LOG_INTERVAL seconds.

    It filters the `waitress.queue` logger, and `flask serve` also hands it to waitress's task
    dispatcher in place of that logger (`warning()`): under load the warning comes with nearly
    every request, inside the dispatcher's lock, and no log record need be made for it.
    """

    def __init__(self, metrics: Metrics | None, interval: float = QUEUE_LOG_INTERVAL) -> None:
        super().__init__()
        self.metrics = metrics
        self.interval = interval
        self._lock = threading.Lock()
        self._suppressed = 0
        self._deepest = 0
        self._next_log = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        self.warning(record.msg, *args)
        return False

    def warning(self, _message: Any, *args: Any, **_kwargs: Any) -> None:
        """Count one warning (the dispatcher's call: "Task queue depth is %d", depth)."""
        depth = args[0] if args and isinstance(args[0], int) else 0
        if self.metrics is not None:
            self.metrics.queue_warnings.inc()
            self.metrics.queue_depth.set(depth)
        now = time.monotonic()
        with self._lock:
            self._suppressed += 1
            self._deepest = max(self._deepest, depth)
            if now < self._next_log:
                return
            count, deepest = self._suppressed, self._deepest
            self._suppressed, self._deepest, self._next_log = 0, 0, now + self.interval
        log.warning(
            "all worker threads busy: %d queued request(s), deepest queue %d, since last report",
            count,
            deepest,
            extra={"queue_warnings": count, "queue_depth": deepest},
        )


def install_queue_depth_hook(metrics: Metrics | None) -> QueueDepthFilter:
    """Route waitress's queue warnings of this process through a `QueueDepthFilter`, which is
    returned (for the dispatcher: see the class)."""
    queue_logger = logging.getLogger("waitress.queue")
    for existing in list(queue_logger.filters):
        if isinstance(existing, QueueDepthFilter):
            queue_logger.removeFilter(existing)
    queue_filter = QueueDepthFilter(metrics)
    queue_logger.addFilter(queue_filter)
    return queue_filter
