"""Serving a test app over sockets: in a thread of this process, or as a `flask serve` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
import waitress
from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def threaded_server(app: Flask, **options: Any) -> Iterator[str]:
    """Serve `app` with waitress in a background thread; yields the base URL."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_help() -> str:
    """`flask serve --help`, to learn which options this build of the command has."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "serve", "--help"],
        env=server_env({}),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def server_env(settings: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "FLASK_APP": "taskapi",
            "TASKAPI_ENV": "testing",
            "JWT_SECRET_KEY": "test-secret-" + "x" * 40,
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "256",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


class ServerProcess:
    """`flask serve` in its own process group, so that a kill reaches every process it forked."""

    def __init__(self, database_url: str, args: list[str], **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = ["serve", "--port", str(self.port), *args]
        self.env = server_env({"DATABASE_URL": database_url, **settings})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", *self.args],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"flask serve exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("flask serve did not answer /health in time")

    def children(self) -> list[int]:
        """Ids of the processes the server forked (its workers, when it has any)."""
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid …"; comm may hold spaces, so split after the ")".
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, like a crash or an OOM kill."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
