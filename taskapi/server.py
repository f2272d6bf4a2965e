"""Serving with waitress, scaled by processes.

The parent binds one listening socket and forks N workers; each worker builds its own app (and so
its own database pool) after the fork and runs waitress on the shared socket, where the kernel
spreads connections across them. The parent replaces a worker that dies. On SIGTERM or SIGINT
the parent tells every worker to drain: /ready answers 503 at once, the worker stops accepting
after SERVER_DRAIN_DELAY seconds, lets in-flight requests finish (at most SERVER_GRACE_SECONDS
after the signal) and exits; then the parent exits 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from taskapi import metrics

log = logging.getLogger("taskapi.server")

DRAINING_KEY = "taskapi.draining"
#: Extra bytes waitress accepts on top of MAX_CONTENT_LENGTH (multipart framing, JSON slack):
#: the app answers 413 itself, with a problem body, for anything between the two.
BODY_SLACK = 64 * 1024
#: A worker that dies sooner than this after its start is replaced only after a pause.
MIN_WORKER_LIFETIME = 2.0
#: While draining, a connection with no request is closed once it has been quiet this long.
IDLE_CLOSE_AFTER = 0.5
#: mallopt() parameter number of glibc's mmap threshold.
M_MMAP_THRESHOLD = -3
#: Seconds the parent waits beyond the grace period before it kills workers that still run.
KILL_MARGIN = 5.0


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    workers: int
    threads: int
    connection_limit: int
    channel_timeout: int
    backlog: int
    grace_seconds: int
    drain_delay: int
    max_request_body_size: int
    max_request_header_size: int
    trusted_proxy: str | None
    trusted_proxy_count: int
    trusted_proxy_headers: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> ServerOptions:
        """Options from the app's settings; `overrides` that are None are ignored."""
        options: dict[str, Any] = {
            "host": config["SERVER_HOST"],
            "port": config["SERVER_PORT"],
            "workers": config["SERVER_WORKERS"] or os.cpu_count() or 1,
            "threads": config["SERVER_THREADS"],
            "connection_limit": config["SERVER_CONNECTION_LIMIT"],
            "channel_timeout": config["SERVER_CHANNEL_TIMEOUT"],
            "backlog": config["SERVER_BACKLOG"],
            "grace_seconds": config["SERVER_GRACE_SECONDS"],
            "drain_delay": config["SERVER_DRAIN_DELAY"],
            "max_request_body_size": config["MAX_CONTENT_LENGTH"] + BODY_SLACK,
            "max_request_header_size": config["MAX_REQUEST_HEADER_SIZE"],
            "trusted_proxy": config["TRUSTED_PROXY"] or None,
            "trusted_proxy_count": config["TRUSTED_PROXY_COUNT"],
            "trusted_proxy_headers": config["TRUSTED_PROXY_HEADERS"],
        }
        options.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**options)

    def waitress_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "threads": self.threads,
            "connection_limit": self.connection_limit,
            "channel_timeout": self.channel_timeout,
            "backlog": self.backlog,
            "max_request_body_size": self.max_request_body_size,
            "max_request_header_size": self.max_request_header_size,
            "ident": "taskapi",
            # The shared socket wakes every worker; the losers of each accept() race are normal.
            "log_socket_errors": False,
        }
        if self.trusted_proxy:
            settings.update(
                trusted_proxy=self.trusted_proxy,
                trusted_proxy_count=self.trusted_proxy_count,
                trusted_proxy_headers=self.trusted_proxy_headers,
                clear_untrusted_proxy_headers=True,
            )
        return settings


def bind_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def serve(app_factory: Callable[[], Flask], options: ServerOptions) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status (0 after a clean drain)."""
    sock = bind_socket(options.host, options.port, options.backlog)
    own_metrics_dir = None
    if metrics.multiprocess_dir() is None:
        own_metrics_dir = tempfile.mkdtemp(prefix="taskapi-metrics-")
        metrics.enable_multiprocess(own_metrics_dir)
    else:
        directory = Path(str(metrics.multiprocess_dir()))
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        metrics.enable_multiprocess(str(directory))
    host, port = sock.getsockname()[:2]
    log.info(
        "serving on http://%s:%s (workers=%s, threads=%s, connection_limit=%s)",
        host,
        port,
        options.workers,
        options.threads,
        options.connection_limit,
        extra={"host": host, "port": port, "workers": options.workers},
    )
    try:
        return Arbiter(app_factory, options, sock).run()
    finally:
        sock.close()
        if own_metrics_dir:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)


class Arbiter:
    """The parent process: keeps `options.workers` workers alive until told to stop."""

    def __init__(
        self, app_factory: Callable[[], Flask], options: ServerOptions, sock: socket.socket
    ) -> None:
        self.app_factory = app_factory
        self.options = options
        self.sock = sock
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (slot, started)
        self.stop_signal: int | None = None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        for slot in range(self.options.workers):
            self._spawn(slot)
        while self.stop_signal is None:
            self._reap(restart=True)
            time.sleep(0.1)
        return self._stop()

    def _request_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signum

    def _spawn(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the serving tests
            status = 1
            try:
                status = Worker(self.app_factory, self.options, self.sock, slot).run()
            except BaseException:
                log.exception("worker %s crashed", slot)
            finally:
                logging.shutdown()
                os._exit(status)
        self.workers[pid] = (slot, time.monotonic())
        log.info("worker %s started (pid %s)", slot, pid, extra={"worker": slot, "pid": pid})

    def _reap(self, *, restart: bool) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.workers.clear()
                return
            if pid == 0:
                return
            if pid not in self.workers:
                continue
            slot, started = self.workers.pop(pid)
            metrics.mark_process_dead(pid)
            if not restart:
                continue
            log.warning(
                "worker %s (pid %s) exited unexpectedly (%s); starting a new one",
                slot,
                pid,
                _describe(status),
                extra={"worker": slot, "pid": pid},
            )
            if time.monotonic() - started < MIN_WORKER_LIFETIME:
                time.sleep(1.0)  # a worker that cannot start must not turn into a fork loop
            self._spawn(slot)

    def _stop(self) -> int:
        log.info(
            "signal %s: draining %s worker(s) (grace %ss)",
            self.stop_signal,
            len(self.workers),
            self.options.grace_seconds,
        )
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.sock.close()
        for pid in self.workers:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.options.grace_seconds + KILL_MARGIN
        while self.workers and time.monotonic() < deadline:
            self._reap(restart=False)
            time.sleep(0.05)
        if self.workers:
            log.error("killing %s worker(s) that did not stop in time", len(self.workers))
            for pid in list(self.workers):
                _signal(pid, signal.SIGKILL)
            while self.workers:
                self._reap(restart=False)
                time.sleep(0.05)
            return 1
        log.info("stopped")
        return 0


def _close_listener(server: Any) -> None:
    """Stop accepting without dropping connections that already wait in the accept queue.

    Closing a listening socket resets the connections queued on it, and a balancer has
    usually written a request into them already (it cannot resend a POST). So the queue is
    emptied into ordinary connections, which are served, right before the close. The socket is
    asked directly: waitress's `accept()` answers None both for an empty queue and for a
    connection its client aborted, and stopping at the latter would reset the rest.
    """
    while True:
        try:
            connection, address = server.socket.accept()
        except ConnectionAbortedError:
            continue  # that client gave up while queued; the ones behind it still wait
        except OSError:  # BlockingIOError: the queue is empty
            break
        server.set_socket_options(connection)
        server.channel_class(server, connection, server.fix_addr(address), server.adj, server._map)
    server.accepting = False
    server.del_channel()
    server.socket.close()


def _return_large_allocations_to_the_system() -> None:
    """Serve allocations of 1 MiB and more (Argon2's 19 MiB blocks) straight from mmap.

    glibc raises its mmap threshold after such blocks are freed and then keeps them in
    per-thread heaps: a worker that hashed passwords on 8 threads kept ~200 MB resident for
    good. A fixed threshold keeps it under 80 MB. No-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1024 * 1024)
    except (OSError, AttributeError):
        pass


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


class Worker:
    """One worker process: its own app and pool, waitress on the shared socket, drain on signal."""

    def __init__(
        self,
        app_factory: Callable[[], Flask],
        options: ServerOptions,
        sock: socket.socket,
        slot: int,
    ) -> None:
        self.app_factory = app_factory
        self.options = options
        self.sock = sock
        self.slot = slot
        self.parent = os.getppid()
        self.stop_requested_at: float | None = None

    def run(self) -> int:
        import waitress
        from waitress.channel import HTTPChannel

        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        _return_large_allocations_to_the_system()
        app = self.app_factory()
        self.app = app
        if self.stop_requested_at is not None:
            app.extensions[DRAINING_KEY] = True
        queue_depth = metrics.install_queue_depth_hook(app.extensions.get(metrics.EXTENSION_KEY))
        server: Any = waitress.create_server(
            app, sockets=[self.sock], **self.options.waitress_settings()
        )
        server.task_dispatcher.queue_logger = queue_depth
        loop_map = server._map

        def loop(timeout: float) -> None:
            poll_once(timeout, loop_map, HTTPChannel, server.asyncore.readwrite)

        while self.stop_requested_at is None and os.getppid() == self.parent:
            loop(0.5)
        if self.stop_requested_at is None:  # the parent died: nobody will replace us or wait
            self._request_stop(0, None)
        started = self.stop_requested_at or time.monotonic()
        while time.monotonic() < started + self.options.drain_delay:
            loop(0.1)

        _close_listener(server)
        deadline = started + self.options.grace_seconds
        while time.monotonic() < deadline:
            channels = [c for c in list(loop_map.values()) if isinstance(c, HTTPChannel)]
            busy = False
            now = time.time()  # waitress stamps channel activity with time.time()
            for channel in channels:
                if channel.requests or channel.total_outbufs_len or channel.request is not None:
                    busy = True
                elif now - channel.last_activity < IDLE_CLOSE_AFTER:
                    busy = True  # just accepted: its request may be on the wire
                else:
                    channel.handle_close()
            if not busy:
                break
            loop(0.05)
        else:
            log.warning("grace period over: dropping requests still running")
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        server.close()
        self._dispose_pools()
        return 0

    def _request_stop(self, _signum: int, _frame: Any) -> None:
        if self.stop_requested_at is not None:
            return
        self.stop_requested_at = time.monotonic()
        app = getattr(self, "app", None)
        if app is not None:
            app.extensions[DRAINING_KEY] = True

    def _dispose_pools(self) -> None:
        from taskapi.extensions import db

        if "sqlalchemy" not in self.app.extensions:
            return
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose()


_READ = select.POLLIN | select.POLLPRI


def channel_events(channel: Any) -> int:
    """The poll events a waitress HTTP connection waits for: its `readable()` and `writable()`,
    with one difference.

    While a request of the connection is being served and its output is below the high
    watermark, the connection does not wait to write: the serving thread sends its output
    itself as it writes it, and wakes the loop when it is done. waitress would wait to write,
    and then only try to take the output lock, which the serving thread holds while it sends.
    The socket being writable, poll returns at once, over and over, and the loop holds the
    interpreter lock that the serving thread needs to finish: under load a worker spent most
    of its time in this loop (one worker answered /health 190 times a second instead of
    1,300; two, 3,300 instead of 5,600).
    """
    if channel.will_close or channel.close_when_flushed:
        return select.POLLOUT
    if channel.total_outbufs_len:  # output to send; no new request is read until it is sent
        if channel.requests and channel.total_outbufs_len <= channel.adj.outbuf_high_watermark:
            return 0
        return select.POLLOUT
    if len(channel.requests) > channel.adj.channel_request_lookahead:
        return 0
    return _READ


def poll_once(
    timeout: float,
    sockets: dict[int, Any],
    http_channel: type[Any],
    readwrite: Callable[[Any, int], None],
) -> None:
    """One turn of waitress's poll loop (`wasyncore.poll2`), with `channel_events` for its
    HTTP connections. The listener (which also runs waitress's idle-connection maintenance in
    `readable()`), the trigger and any other object are asked as waitress asks them. poll(),
    not select(): select() cannot watch descriptors above 1024, and a worker may hold 1,000
    connections."""
    if not sockets:
        return
    pollster = select.poll()
    for fd, obj in list(sockets.items()):
        if type(obj) is http_channel:
            flags = channel_events(obj)
        else:
            flags = _READ if obj.readable() else 0
            if obj.writable() and not obj.accepting:
                flags |= select.POLLOUT
        if flags:
            pollster.register(fd, flags)
    try:
        ready = pollster.poll(int(timeout * 1000))
    except InterruptedError:
        ready = []
    for fd, flags in ready:
        obj = sockets.get(fd)
        if obj is not None:
            readwrite(obj, flags)
