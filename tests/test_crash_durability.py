"""Crash durability: SIGKILL `flask serve` under load, restart it: no acknowledged write lost.

Concurrent clients create and complete tasks. Mid-load one worker is killed (when this build of
`flask serve` has `--workers`), then the whole server. After a restart, every task whose create got
a 201 exists with its `created` history entry, every acknowledged completion is stored with its
`completed` entry, and no task exists without its `created` entry (a change and its history row
commit together or not at all).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
import sqlalchemy as sa
from conftest import PASSWORD
from flask import Flask
from live import ServerProcess, serve_help

pytestmark = pytest.mark.slow

CLIENTS = 6


@dataclass
class Acknowledged:
    created: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client_loop(base_url: str, headers: dict[str, str], stop: threading.Event, acks: Acknowledged):
    session = requests.Session()
    number = 0
    while not stop.is_set():
        number += 1
        try:
            created = session.post(
                f"{base_url}/v1/tasks", json={"title": f"load {number}"}, headers=headers, timeout=5
            )
            if created.status_code != 201:
                continue
            task_id = created.json()["id"]
            with acks.lock:
                acks.created.add(task_id)
            if number % 2:
                done = session.post(
                    f"{base_url}/v1/tasks/{task_id}/complete", headers=headers, timeout=5
                )
                if done.status_code == 200:
                    with acks.lock:
                        acks.completed.add(task_id)
        except requests.RequestException:
            with acks.lock:
                acks.errors += 1
            time.sleep(0.02)  # the server is down: don't spin


def _load(server: ServerProcess, headers: dict[str, str], acks: Acknowledged):
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client_loop, args=(server.base_url, headers, stop, acks))
        for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    return stop, threads


def _wait_for(acks: Acknowledged, more_than: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(acks.created) <= more_than:
        assert time.monotonic() < deadline, "the load made no progress"
        time.sleep(0.05)


def test_acknowledged_writes_survive_sigkill_of_worker_and_server(
    app: Flask, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("crash durability is a PostgreSQL guarantee (the production database)")
    workers = ["--workers", "2"] if "--workers" in serve_help() else []
    args = [*workers, "--threads", "4"]
    acks = Acknowledged()

    server = ServerProcess(database_url, args).start()
    try:
        base = server.base_url
        registered = requests.post(
            f"{base}/v1/auth/register",
            json={"email": "crash@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert registered.status_code == 201
        tokens = requests.post(
            f"{base}/v1/auth/login",
            json={"email": "crash@example.com", "password": PASSWORD},
            timeout=10,
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}

        stop, threads = _load(server, headers, acks)
        _wait_for(acks, 20)
        if workers:
            children = server.children()
            assert children, "--workers 2 but no worker process found"
            os.kill(children[0], signal.SIGKILL)
            before = len(acks.created)
            _wait_for(acks, before + 15)  # the surviving worker keeps serving
        _wait_for(acks, len(acks.created) + 10)
        server.kill()  # the whole server, mid-load
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        server.kill()

    # Restarted, it serves again, and the data is whole.
    with ServerProcess(database_url, args) as restarted:
        listed = requests.get(
            f"{restarted.base_url}/v1/tasks?page_size=1", headers=headers, timeout=10
        )
        assert listed.status_code == 200
        total = json.loads(listed.headers["X-Pagination"])["total"]

    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            tasks = dict(connection.execute(sa.text("SELECT id::text, completed FROM tasks")).all())
            history = set(
                connection.execute(sa.text("SELECT task_id::text, action FROM history")).all()
            )
    finally:
        engine.dispose()

    lost = acks.created - set(tasks)
    assert not lost, f"{len(lost)} acknowledged creates lost"
    assert all((task_id, "created") in history for task_id in acks.created)
    assert all(tasks[task_id] for task_id in acks.completed), "acknowledged completion lost"
    assert all((task_id, "completed") in history for task_id in acks.completed)
    orphans = [task_id for task_id in tasks if (task_id, "created") not in history]
    assert not orphans, f"tasks without their created entry: {orphans}"
    assert total == len(tasks)
    print(
        f"\ncrash: {len(acks.created)} creates and {len(acks.completed)} completions "
        f"acknowledged, {len(tasks)} tasks stored, 0 lost, {acks.errors} failed requests "
        f"during the kills (workers: {bool(workers)})"
    )
