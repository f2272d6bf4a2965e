"""`flask serve` in a subprocess: workers share the socket, a dead worker is replaced, SIGTERM
drains (in-flight requests finish, /ready answers 503, exit 0), /metrics adds up every worker,
and production logs are JSON lines without secrets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade

from taskapi import create_app
from taskapi.extensions import db

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).with_name("flask"))
SECRET = "serve-test-secret-" + "s" * 40
PASSWORD = "a password nobody logs"
_PORT_LINE = re.compile(r"serving on http://[^:]+:(\d+)")


class Server:
    """A `flask serve` process on a free port, its stderr collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [FLASK, "serve", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for_log(_PORT_LINE).group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_log(self, pattern: re.Pattern[str], timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = pattern.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern.pattern!r}:\n" + self.output)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Any]:
        """Status, headers (case-insensitive) and body (decoded JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Connection", "close")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http only
                raw = response.read()
                status, response_headers = response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, response_headers = error.read(), error.code, error.headers
        text = raw.decode()
        is_json = (response_headers.get("Content-Type") or "").endswith("json")
        return status, response_headers, json.loads(text) if is_json and text else text

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server never became ready:\n" + self.output)

    def children(self) -> set[int]:
        return _children(self.process.pid)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


def _children(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def _wait_for(predicate: Any, timeout: float = 10, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'taskapi.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def _env(database: str, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SERVER_", "TASKAPI_", "PROMETHEUS_", "LOG_"))
    }
    env.update(
        FLASK_APP="taskapi",
        DATABASE_URL=database,
        JWT_SECRET_KEY=SECRET,
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="256",
        SERVER_THREADS="4",
        **settings,
    )
    return env


@pytest.fixture
def testing_server(database: str) -> Iterator[Server]:
    server = Server(
        _env(
            database,
            TASKAPI_ENV="testing",
            TASKAPI_TESTING_ENDPOINTS="true",
            SERVER_DRAIN_DELAY="2",
        ),
        "--workers",
        "2",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            try:
                server.stop(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def _workers_seen(server: Server, requests: int) -> list[str]:
    return [server.request("GET", "/health")[1]["X-Worker"] for _ in range(requests)]


def test_workers_share_the_socket_and_a_killed_worker_is_replaced(testing_server):
    server = testing_server
    workers = _wait_for(lambda: len(server.children()) == 2 and server.children())
    assert len(workers) == 2

    # The kernel hands each new connection to whichever worker accepts first: ask until both
    # have answered.
    answered: list[int] = []
    while set(answered) != workers and len(answered) < 400:
        answered.extend(int(pid) for pid in _workers_seen(server, 20))
    assert set(answered) == workers, answered
    served = len(answered)

    # /metrics, answered by one worker, counts the requests every worker served.
    status, _, text = server.request("GET", "/metrics")
    assert status == 200
    assert _metric(text, "taskapi_http_requests_total", endpoint="/health", status="200") == served
    count = _metric(text, "taskapi_http_request_duration_seconds_count", endpoint="/health")
    assert count == served

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = _wait_for(lambda: len(server.children() - {victim}) == 2 and server.children())
    assert victim not in replaced
    assert len(replaced) == 2
    server.wait_ready()
    assert {int(pid) for pid in _workers_seen(server, 40)} <= replaced
    # The dead worker's requests still count.
    text = server.request("GET", "/metrics")[2]
    total = _metric(text, "taskapi_http_requests_total", endpoint="/health", status="200")
    assert total >= served + 40
    assert "exited unexpectedly (killed by signal 9)" in server.output


def test_sigterm_drains_in_flight_requests_then_exits_zero(testing_server):
    server = testing_server
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        slow["result"] = server.request("GET", "/_testing/sleep?seconds=3")

    thread = threading.Thread(target=slow_request)
    thread.start()
    in_flight = _wait_for(
        lambda: (
            _metric(server.request("GET", "/metrics")[2], "taskapi_http_requests_in_flight") >= 2
        )  # the sleep and this /metrics request
    )
    assert in_flight
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)

    # Both workers report not-ready at once, while still answering other requests.
    def not_ready_everywhere() -> bool:
        answers = [server.request("GET", "/ready") for _ in range(6)]
        return all(status == 503 for status, _, _ in answers)

    assert _wait_for(not_ready_everywhere, timeout=1.5)
    status, _, body = server.request("GET", "/ready")
    assert status == 503
    assert body["code"] == "service_unavailable"
    assert server.request("GET", "/health")[0] == 200

    assert server.stop(timeout=30) == 0
    thread.join(timeout=10)
    assert slow["result"][0] == 200
    assert slow["result"][2] == {"slept": 3.0}
    assert time.monotonic() - sent >= 2  # it waited for the request instead of dropping it
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        server.request("GET", "/health")
    assert "stopped" in server.output


def test_production_logs_are_json_lines_without_secrets(database):
    env = _env(database, TASKAPI_ENV="production", TRUSTED_PROXY="127.0.0.1")
    server = Server(env, "--workers", "1")
    try:
        server.wait_ready()
        email = f"logs-{time.time_ns()}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        assert server.request("POST", "/v1/auth/register", credentials)[0] == 201
        status, _, tokens = server.request("POST", "/v1/auth/login", credentials)
        assert status == 200
        token, refresh = tokens["access_token"], tokens["refresh_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.7"}
        status, response_headers, me = server.request("GET", "/v1/auth/me", headers=headers)
        assert status == 200
        # An unknown API key is refused; neither it nor the token may reach the logs.
        bogus_key = {**headers, "X-API-Key": "tk_secretapikey0123456789"}
        assert server.request("GET", "/v1/auth/me", headers=bogus_key)[0] == 401
        request_id = response_headers["X-Request-ID"]
        bad_login = {"email": email, "password": PASSWORD + "-wrong"}
        assert server.request("POST", "/v1/auth/login", bad_login)[0] == 401
    finally:
        assert server.stop() == 0

    records = [json.loads(line) for line in server.lines if line.strip()]
    assert len(records) == len(server.lines)  # every line is a JSON object
    me_lines = [r for r in records if r.get("request_id") == request_id]
    assert len(me_lines) == 1
    assert me_lines[0]["method"] == "GET"
    assert me_lines[0]["route"] == "/v1/auth/me"
    assert me_lines[0]["status"] == 200
    assert me_lines[0]["duration_ms"] > 0
    assert me_lines[0]["user_id"] == me["id"]
    assert me_lines[0]["level"] == "INFO"
    # The balancer (a trusted proxy) forwarded the client's address: logs see the real one.
    assert me_lines[0]["remote_addr"] == "203.0.113.7"
    for secret in (PASSWORD, token, refresh, "tk_secretapikey", token.split(".")[2], SECRET):
        assert secret not in server.output


def test_closing_the_listener_serves_every_queued_connection_past_an_aborted_one():
    """The accept queue is emptied before the close, and a client that gave up while queued
    (ECONNABORTED) does not leave the connections behind it to be reset."""
    from taskapi.server import _close_listener

    class Listener:
        def __init__(self, outcomes: list[Any]) -> None:
            self.outcomes = outcomes
            self.closed = False

        def accept(self) -> Any:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        def close(self) -> None:
            self.closed = True

    served: list[Any] = []

    class Server:
        socket = Listener(
            [
                ("first", ("127.0.0.1", 1)),
                ConnectionAbortedError(),
                ("second", ("127.0.0.1", 2)),
                BlockingIOError(),
                ("never", ("127.0.0.1", 3)),
            ]
        )
        accepting = True
        adj = _map = None

        def set_socket_options(self, connection: Any) -> None:
            pass

        def fix_addr(self, address: Any) -> Any:
            return address

        def channel_class(self, _server: Any, connection: Any, *_args: Any) -> None:
            served.append(connection)

        def del_channel(self) -> None:
            pass

    server = Server()
    _close_listener(server)
    assert served == ["first", "second"]
    assert server.socket.closed
    assert not server.accepting


@pytest.fixture
def http_channel() -> Iterator[tuple[Any, Any, dict[int, Any]]]:
    """A waitress HTTP connection on one end of a socket pair (the other end is the client)."""
    import socket

    from waitress.adjustments import Adjustments
    from waitress.channel import HTTPChannel

    class Server:
        active_channels: dict[int, Any] = {}

        def pull_trigger(self) -> None:
            pass

    ours, client = socket.socketpair()
    sockets: dict[int, Any] = {}
    channel = HTTPChannel(Server(), ours, ("127.0.0.1", 1), Adjustments(), map=sockets)
    yield channel, client, sockets
    channel.close()
    client.close()


def test_a_connection_waits_for_what_waitress_asks_except_while_its_request_is_served(
    http_channel,
):
    """`channel_events` reads a connection's state as waitress's own readable() and writable()
    do, in every state, but does not wait to write while a request is being served below the
    high watermark (the serving thread sends its output itself)."""
    import itertools
    import select

    from taskapi.server import channel_events

    channel, _client, _sockets = http_channel
    watermark = channel.adj.outbuf_high_watermark
    differs = []
    for will_close, when_flushed, pending, requests in itertools.product(
        (False, True), (False, True), (0, 10, watermark, watermark + 1), (0, 1, 2)
    ):
        channel.will_close, channel.close_when_flushed = will_close, when_flushed
        channel.total_outbufs_len, channel.requests = pending, [object()] * requests
        waitress = (select.POLLIN | select.POLLPRI if channel.readable() else 0) | (
            select.POLLOUT if channel.writable() else 0
        )
        ours = channel_events(channel)
        served = requests and pending and not (will_close or when_flushed)
        if served and pending <= watermark:
            assert (waitress, ours) == (select.POLLOUT, 0)
            differs.append((pending, requests))
        else:
            assert ours == waitress, (will_close, when_flushed, pending, requests)
    assert sorted(differs) == [(10, 1), (10, 2), (watermark, 1), (watermark, 2)]


def test_the_loop_leaves_a_served_connection_alone_then_sends_what_it_left(http_channel):
    import select

    from waitress import wasyncore

    from taskapi.server import poll_once

    channel, client, sockets = http_channel
    called: list[int] = []

    def readwrite(obj: Any, flags: int) -> None:
        called.append(flags)
        wasyncore.readwrite(obj, flags)

    channel.requests = [object()]  # being served
    channel.outbufs[-1].append(b"HTTP/1.1 200 OK\r\n\r\n")
    channel.total_outbufs_len = 19
    started = time.monotonic()
    poll_once(0.2, sockets, type(channel), readwrite)
    # Not woken by the writable socket: the turn waited its whole timeout.
    assert time.monotonic() - started >= 0.15
    assert called == []
    assert select.select([client], [], [], 0)[0] == []  # nothing sent yet

    channel.requests = []  # served: the loop sends what is left
    poll_once(0.2, sockets, type(channel), readwrite)
    assert called
    assert channel.total_outbufs_len == 0
    assert client.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n"
