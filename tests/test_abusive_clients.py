"""Slow and abusive clients against `flask serve`: normal requests keep being served, and requests
too large to accept are refused from their headers, before any body is read."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from conftest import PASSWORD
from flask import Flask
from live import ServerProcess

pytestmark = pytest.mark.slow

#: Past 1,024 open descriptors in the server on purpose: select() fails there (FD_SETSIZE).
IDLE_CONNECTIONS = 1200
#: A normal request while the abusers are connected; generous for a shared 2-core CI machine.
NORMAL_REQUEST_BOUND_S = 2.0


@pytest.fixture(scope="module")
def served(_migrated_app: Flask, database_url: str) -> Iterator[ServerProcess]:
    """One server for the module (each test still empties the tables through `app`)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("connection handling is the server's, the same on either database: run once")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * IDLE_CONNECTIONS + 512  # our ends and the server's (it inherits the limit)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"the file-descriptor hard limit ({hard}) is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    with ServerProcess(database_url, ["--threads", "4", "--connection-limit", "2000"]) as server:
        yield server
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _user_headers(base_url: str) -> dict[str, str]:
    body = {"email": f"abused-{uuid.uuid4().hex}@example.com", "password": PASSWORD}
    assert requests.post(f"{base_url}/v1/auth/register", json=body, timeout=10).status_code == 201
    token = requests.post(f"{base_url}/v1/auth/login", json=body, timeout=10).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _timed_normal_requests(base_url: str, headers: dict[str, str]) -> float:
    slowest = 0.0
    for _ in range(3):
        started = time.monotonic()
        health = requests.get(f"{base_url}/health", timeout=10)
        created = requests.post(
            f"{base_url}/v1/tasks", json={"title": "served"}, headers=headers, timeout=10
        )
        listed = requests.get(f"{base_url}/v1/tasks", headers=headers, timeout=10)
        slowest = max(slowest, time.monotonic() - started)
        assert health.status_code == 200
        assert created.status_code == 201
        assert listed.status_code == 200
    return slowest / 3  # per request


def _slowloris(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Send a request's headers one byte at a time, never finishing them."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in b"GET /v1/tasks HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000:
            if stop.is_set():
                return
            sock.send(bytes([byte]))
            sent[0] += 1
            time.sleep(0.01)


def test_idle_connections_and_slowloris_do_not_stop_normal_requests(
    served: ServerProcess, app: Flask
) -> None:
    headers = _user_headers(served.base_url)
    baseline = _timed_normal_requests(served.base_url, headers)

    stop = threading.Event()
    sent = [0]
    with contextlib.ExitStack() as stack:
        idle = [
            stack.enter_context(socket.create_connection(("127.0.0.1", served.port), timeout=10))
            for _ in range(IDLE_CONNECTIONS)
        ]
        slowloris = [
            threading.Thread(target=_slowloris, args=(served.port, stop, sent), daemon=True)
            for _ in range(5)
        ]
        for thread in slowloris:
            thread.start()
        time.sleep(1)  # let the server register them all
        try:
            under_abuse = _timed_normal_requests(served.base_url, headers)
        finally:
            stop.set()
            for thread in slowloris:
                thread.join(timeout=5)
        # The idle connections were all accepted and are still open (the server did not fall over).
        assert len(idle) == IDLE_CONNECTIONS
        assert sent[0] > 50
    print(
        f"\nabuse: a normal request took {baseline * 1000:.0f} ms alone, "
        f"{under_abuse * 1000:.0f} ms with {IDLE_CONNECTIONS} idle connections and 5 slowloris"
    )
    assert under_abuse < NORMAL_REQUEST_BOUND_S


def _raw_exchange(port: int, head: bytes, timeout: float = 5) -> tuple[bytes, float]:
    """Send only `head` (never a body) and read what the server answers before closing."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(head)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer, time.monotonic() - started


def _status(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer; None when the server just closed the connection."""
    if not answer:
        return None
    return int(answer.split(b"\r\n", 1)[0].split()[1])


def test_oversized_headers_are_refused(served: ServerProcess, app: Flask) -> None:
    limit = app.config["MAX_REQUEST_HEADER_SIZE"]
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (limit + 1024) + b"\r\n\r\n"
    answer, elapsed = _raw_exchange(served.port, head)
    assert _status(answer) in (431, None), answer[:200]
    assert elapsed < 5


def test_oversized_bodies_are_refused_from_content_length_alone(
    served: ServerProcess, app: Flask
) -> None:
    """Content-Length over the limit: refused at once, although no byte of the body was sent."""
    too_big = app.config["MAX_CONTENT_LENGTH"] * 4
    head = (
        b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(too_big).encode() + b"\r\n\r\n"
    )
    answer, elapsed = _raw_exchange(served.port, head)
    assert _status(answer) in (413, None), answer[:200]
    assert elapsed < 5  # it did not wait for the body


def test_body_just_over_the_limit_is_a_413_problem(served: ServerProcess, app: Flask) -> None:
    """Between the limit and waitress's margin above it, the app answers 413 problem+json."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"title": "' + b"a" * limit + b'"}'
    headers = {**_user_headers(served.base_url), "Content-Type": "application/json"}
    response = requests.post(f"{served.base_url}/v1/tasks", data=body, headers=headers, timeout=10)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
