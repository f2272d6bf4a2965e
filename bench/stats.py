"""Benchmark: statistics for a 50,000-task user and history for a 200,000-entry user.

Creates (or recreates) its own PostgreSQL database, migrates it, seeds it in bulk, then times
requests through the Flask test client and prints p50/p95/p99 per endpoint.

    .venv/bin/python bench/stats.py [--requests 200] [--keep] [--reuse]

--keep leaves the seeded database in place; --reuse measures a database kept earlier.

BENCH_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is where the database
`taskapi_bench_stats` is created.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskapi import create_app
from taskapi.config import normalize_database_url
from taskapi.extensions import db
from taskapi.models import HistoryEntry, Task, User

DATABASE = "taskapi_bench_stats"
TASKS = 50_000
HISTORY_ENTRIES = 200_000
PASSWORD = "benchmark password"
TAGS = [f"tag{number:02d}" for number in range(30)] + ["Work", "work", "Home", "Urgent"]
TARGETS_MS = {"stats": 100, "weekly": 100, "history": 30}


def create_database(admin_url: str) -> str:
    admin = sa.make_url(normalize_database_url(admin_url))
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    return admin.set(database=DATABASE).render_as_string(hide_password=False)


def drop_database(admin_url: str) -> None:
    engine = sa.create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    engine.dispose()


def login(client: Any, email: str) -> dict[str, str]:
    client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    response = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def seed_tasks(user_id: uuid.UUID, now: datetime, rng: random.Random) -> None:
    """TASKS tasks created over the last year, about 60 % completed."""
    rows = []
    for _ in range(TASKS):
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        completed = rng.random() < 0.6
        completed_at = None
        if completed:
            completed_at = min(now, created + timedelta(seconds=rng.randrange(14 * 86400)))
        due = None
        if rng.random() < 0.7:
            due = created + timedelta(seconds=rng.randrange(-5 * 86400, 30 * 86400))
        rows.append(
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "title": f"Task {rng.randrange(10**6)}",
                "completed": completed,
                "completed_at": completed_at,
                "priority": rng.choice(("low", "medium", "high")),
                "tags": rng.sample(TAGS, rng.randrange(0, 4)),
                "due_date": due,
                "created_at": created,
                "updated_at": completed_at or created,
            }
        )
    for start in range(0, len(rows), 5000):
        db.session.execute(sa.insert(Task), rows[start : start + 5000])
    db.session.commit()


def seed_history(user_id: uuid.UUID, now: datetime, rng: random.Random) -> None:
    """HISTORY_ENTRIES entries over the last year, in increasing time order."""
    task_ids = [uuid.uuid4() for _ in range(5000)]
    start_time = now - timedelta(days=365)
    spacing = timedelta(days=365) / HISTORY_ENTRIES
    actions = ("created", "updated", "updated", "completed", "reopened", "deleted")
    batch: list[dict[str, Any]] = []
    for number in range(HISTORY_ENTRIES):
        batch.append(
            {
                "user_id": user_id,
                "seq": number + 1,
                "task_id": rng.choice(task_ids),
                "action": rng.choice(actions),
                "changes": {"title": {"old": f"Old {number}", "new": f"New {number}"}},
                "actor_type": "user",
                "actor_id": str(user_id),
                "request_id": uuid.uuid4().hex,
                "created_at": start_time + spacing * number,
            }
        )
        if len(batch) == 10_000:
            db.session.execute(sa.insert(HistoryEntry), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(HistoryEntry), batch)
    db.session.commit()


def backend_cpu_seconds(pids: list[int]) -> float:
    """CPU time PostgreSQL backends have used (a local server, read from /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(
    app: Any, client: Any, url: str, headers: dict[str, str], requests: int
) -> tuple[list[float], float | None]:
    """Wall-clock milliseconds per request, and CPU milliseconds per request (app + database).

    On a shared machine the wall clock includes waiting for a core; the CPU time is what the
    request costs, which is what it would take on an idle machine.
    """
    for _ in range(5):  # warm-up: connection pool, plan caches
        client.get(url, headers=headers)
    with app.app_context():
        # Every backend of the benchmark database: the pool may hold several connections.
        pids = list(
            db.session.scalars(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        )
        db.session.remove()
    try:
        server_before: float | None = backend_cpu_seconds(pids)
    except OSError:  # the database runs elsewhere
        server_before = None
    client_before = time.process_time()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.get_data()!r}")
    cpu = None
    if server_before is not None:
        used = time.process_time() - client_before + backend_cpu_seconds(pids) - server_before
        cpu = used * 1000 / requests
    return timings, cpu


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept earlier")
    options = parser.parse_args()
    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

    if options.reuse:
        url = sa.make_url(normalize_database_url(admin_url)).set(database=DATABASE)
        url = url.render_as_string(hide_password=False)
    else:
        url = create_database(admin_url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "ENV": "testing",
            "LOG_LEVEL": "WARNING",
            "JWT_SECRET_KEY": "benchmark-secret-" + "x" * 40,
            "JWT_ACCESS_TOKEN_EXPIRES": timedelta(hours=1),
            "RATELIMIT_ENABLED": False,
        }
    )
    rng = random.Random(20261122)
    now = datetime.now(UTC)
    client = app.test_client()
    try:
        with app.app_context():
            upgrade()
            tasks_headers = login(client, "tasks@bench.example")
            history_headers = login(client, "history@bench.example")
            if not options.reuse:
                users = {user.email: user.id for user in db.session.scalars(sa.select(User))}
                started = time.perf_counter()
                seed_tasks(users["tasks@bench.example"], now, rng)
                seed_history(users["history@bench.example"], now, rng)
                print(
                    f"seeded {TASKS} tasks and {HISTORY_ENTRIES} entries in "
                    f"{time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
            db.session.remove()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
                middle = conn.execute(
                    sa.text("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM history")
                ).scalar_one()

        cases = [
            ("stats", "/v1/stats?tz=Europe/Paris", tasks_headers),
            ("weekly", "/v1/stats/weekly?weeks=52&tz=Europe/Paris", tasks_headers),
            ("history", "/v1/history", history_headers),
            ("history", f"/v1/history?after={middle}", history_headers),
        ]
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"{options.requests} requests each; load average before: {load}")
        print(
            f"{'endpoint':<48} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'CPU ms':>8} "
            f"{'target':>8}"
        )
        failed = False
        for kind, path, headers in cases:
            timings, cpu = measure(app, client, path, headers, options.requests)
            p50, p95, p99 = (percentile(timings, q) for q in (0.5, 0.95, 0.99))
            target = TARGETS_MS[kind]
            verdict = "ok" if p95 < target else "SLOW"
            failed |= p95 >= target
            cpu_text = "n/a" if cpu is None else f"{cpu:.1f}"
            print(
                f"{path:<48} {p50:8.1f} {p95:8.1f} {p99:8.1f} {cpu_text:>8} "
                f"{'<' + str(target):>6} {verdict}"
            )
        return 1 if failed else 0
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not (options.keep or options.reuse):
            drop_database(admin_url)


if __name__ == "__main__":
    raise SystemExit(main())
