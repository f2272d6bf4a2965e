"""Benchmark of GET /v1/tasks (search, filters, sorting, deep pages) on PostgreSQL.

Creates its own database, migrates it, seeds N tasks over 1,000 users plus one heavy user with
50,000 tasks (the same bulk path as `flask seed`), runs VACUUM ANALYZE, then times each query
in-process through the Flask test client (server-side latency: routing, auth, SQL, JSON) for the
heavy user and a typical one. Prints one table and the EXPLAIN (ANALYZE, BUFFERS) plan of each
query's SQL.

    .venv/bin/python bench/search.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/search.py --scale 100000 --json /tmp/100k.json
    .venv/bin/python bench/search.py --reuse --baseline /tmp/100k.json   # p95 ratio column
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from flask_jwt_extended import create_access_token
from flask_migrate import upgrade

from taskapi import create_app
from taskapi.config import normalize_database_url
from taskapi.extensions import db
from taskapi.services import seeding

QUERIES = {
    "list page 1": "",
    "q common word": "q=report",
    "q rare word": "q=zeppelin",
    "q two prefixes": "q=rep+quart",
    "tag filter": "tags=urgent",
    "status=overdue": "status=overdue",
    "sort_by=due_date": "sort_by=due_date",
    "sort_by=due_date asc": "sort_by=due_date&sort_order=asc",
    "page 100": "page=100",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (any database on it); the benchmark creates its own",
    )
    parser.add_argument("--name", help="database to create (default taskapi_bench[_SCALE])")
    parser.add_argument("--scale", type=int, default=1_000_000, help="tasks of the 1,000 users")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--heavy", type=int, default=50_000, help="tasks of the heavy user")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--baseline", type=Path, help="figures of another run, for p95 ratios")
    parser.add_argument("--no-plans", action="store_true", help="skip the EXPLAIN output")
    args = parser.parse_args()

    name = args.name or (
        "taskapi_bench" if args.scale == 1_000_000 else f"taskapi_bench_{args.scale}"
    )
    url = prepare_database(normalize_database_url(args.database_url), name, args.reuse)
    # No statement timeout: seeding, VACUUM and EXPLAIN ANALYZE run on the same engine.
    # The per-user rate limit (600/minute) would stop the timed requests.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "LOG_LEVEL": "WARNING",
            "DB_STATEMENT_TIMEOUT_MS": 0,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        heavy, typical = seed(args) if not args.reuse or not _has_tasks() else _existing_users()
        results = measure(app, {"heavy": heavy, "typical": typical}, args.requests)
        baseline = json.loads(args.baseline.read_text()) if args.baseline else None
        print_table(results, baseline, args)
        if not args.no_plans:
            print_plans(app, heavy, typical)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def prepare_database(admin_url: str, name: str, reuse: bool) -> str:
    url = sa.make_url(admin_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if exists and not reuse:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or not reuse:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _has_tasks() -> bool:
    return bool(db.session.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM tasks)")))


def _existing_users() -> tuple[uuid.UUID, uuid.UUID]:
    rows = db.session.execute(
        sa.text("SELECT user_id, count(*) FROM tasks GROUP BY user_id ORDER BY count(*) DESC")
    ).all()
    return rows[0][0], rows[len(rows) // 2][0]


def seed(args: argparse.Namespace) -> tuple[uuid.UUID, uuid.UUID]:
    rng = seeding.new_random(42)
    users = seeding.create_users(args.users + 1, rng=rng)
    heavy, others = users[0], users[1:]
    allotment = [(heavy, args.heavy), *seeding.spread(args.scale, others)]
    total = args.heavy + args.scale
    started = time.monotonic()
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done += count
        rate = done / (time.monotonic() - started)
        print(f"\rseeded {done:,}/{total:,} tasks ({rate:,.0f}/s)", end="", file=sys.stderr)

    with indexes_built_after():
        seeding.seed_tasks(allotment, rng=rng, progress=progress)
        print(f"\nseeded in {time.monotonic() - started:.0f} s; indexing…", file=sys.stderr)
    print(f"indexed after {time.monotonic() - started:.0f} s; VACUUM ANALYZE…", file=sys.stderr)
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Every table: the search tables too (their index-only scans need the visibility map).
        connection.execute(sa.text("VACUUM (ANALYZE)"))
    print(f"ready after {time.monotonic() - started:.0f} s", file=sys.stderr)
    return heavy, others[len(others) // 2]


@contextmanager
def indexes_built_after() -> Iterator[None]:
    """Drop the tasks table's secondary indexes for the bulk load and rebuild them after it:
    building an index once is much faster than maintaining it row by row."""
    definitions = db.session.execute(
        sa.text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks' "
            "AND indexname <> 'pk_tasks'"
        )
    ).all()
    for name, _definition in definitions:
        db.session.execute(sa.text(f'DROP INDEX "{name}"'))
    db.session.commit()
    yield
    db.session.execute(sa.text("SET maintenance_work_mem = '256MB'"))
    for _name, definition in definitions:
        db.session.execute(sa.text(definition))
    db.session.commit()


def measure(app: Flask, users: dict[str, uuid.UUID], requests: int) -> dict[str, Any]:
    """Time every (user, query) `requests` times, interleaved: on a shared machine each one then
    sees the same background load."""
    client = app.test_client()
    cases = []
    for who, user_id in users.items():
        headers = {"Authorization": f"Bearer {create_access_token(identity=str(user_id))}"}
        for label, query in QUERIES.items():
            cases.append((f"{who}|{label}", f"/v1/tasks?{query}", headers))
    timings: dict[str, list[float]] = {key: [] for key, _path, _headers in cases}
    totals: dict[str, int] = {}
    for round_number in range(requests + 10):  # the first 10 rounds warm up
        for key, path, headers in cases:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.get_data(as_text=True)
            if round_number >= 10:
                timings[key].append(elapsed)
            totals[key] = json.loads(response.headers["X-Pagination"])["total"]
    return {
        key: {
            "p50": _percentile(values, 50),
            "p95": _percentile(values, 95),
            "p99": _percentile(values, 99),
            "total": totals[key],
        }
        for key, values in timings.items()
    }


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def print_table(
    results: dict[str, Any], baseline: dict[str, Any] | None, args: argparse.Namespace
) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\nGET /v1/tasks, {args.scale + args.heavy:,} tasks, {args.requests} requests each, "
        f"ms (load average {load}, {os.cpu_count()} CPUs)"
    )
    header = f"{'user':8} {'query':22} {'matches':>8} {'p50':>7} {'p95':>7} {'p99':>7}"
    print(header + ("  p95/baseline" if baseline else ""))
    for key, figures in results.items():
        who, label = key.split("|")
        line = (
            f"{who:8} {label:22} {figures['total']:>8} {figures['p50']:7.1f} "
            f"{figures['p95']:7.1f} {figures['p99']:7.1f}"
        )
        if baseline and key in baseline:
            line += f"  {figures['p95'] / baseline[key]['p95']:.2f}x"
        print(line)


@contextmanager
def captured_sql(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if "FROM task" in statement:  # tasks and their search tables
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)


def print_plans(app: Flask, heavy: uuid.UUID, typical: uuid.UUID) -> None:
    client = app.test_client()
    seq_scans = []
    for who, user_id in (("heavy", heavy), ("typical", typical)):
        headers = {"Authorization": f"Bearer {create_access_token(identity=str(user_id))}"}
        for label, query in QUERIES.items():
            with captured_sql(app) as statements:
                client.get(f"/v1/tasks?{query}", headers=headers)
            for statement, parameters in statements:
                with db.engine.connect() as connection:
                    plan = connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    ).scalars()
                    text = "\n".join(plan)
                kind = "count" if "count(" in statement.lower() else "page"
                print(f"\n--- {who} | {label} | {kind}\n{text}")
                if "Seq Scan on tasks" in text:
                    seq_scans.append(f"{who} | {label} | {kind}")
    print("\nSequential scans of tasks: " + (", ".join(seq_scans) if seq_scans else "none"))


if __name__ == "__main__":
    main()
