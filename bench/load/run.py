"""Load test: drive taskapi (and a hello-world ceiling) with wrk and print a table per operation.

    bench/load/run.py                       spawn `flask serve` (2 workers) + hello on PostgreSQL
    bench/load/run.py --workers 1,2         the same for each worker count, one table each
    bench/load/run.py --ceilings            also GET through ceiling.py (minimal Flask, bare WSGI)
    bench/load/run.py --url http://h:p      an already running server (no hello ceiling)
    bench/load/run.py rolling-restart       against deploy/local-stack.sh: the mix through nginx
                                            while api1 then api2 are drained and restarted

Needs wrk (Debian package `wrk`). Every virtual user registers and logs in once; its token and
tasks are handed to wrk's Lua script (mix.lua). An operation whose route answers 404 in this
build (for instance /v1/stats before it exists) is reported as skipped. Each row also gives the
CPU time the server's processes and the local PostgreSQL spent per request (from /proc), which
moves less than req/s when other work shares the machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
FLASK = str(Path(PYTHON).with_name("flask"))
OPERATIONS = ("get", "list", "create", "patch", "complete", "stats", "mix")
SECRET = "bench-secret-" + "b" * 40
PASSWORD = "bench password 1234"


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} never answered 200")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(base: str, users: int, tasks_per_user: int) -> list[dict[str, Any]]:
    """Register and log in each virtual user once; give each some tasks to read and change."""
    run = uuid.uuid4().hex[:8]

    def make_user(index: int) -> dict[str, Any]:
        email = f"bench-{run}-{index}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        status, _ = call(base, "POST", "/v1/auth/register", credentials)
        assert status == 201, f"register answered {status}"
        status, tokens = call(base, "POST", "/v1/auth/login", credentials)
        assert status == 200, f"login answered {status}"
        token = tokens["access_token"]
        ids = []
        for number in range(tasks_per_user):
            task = {
                "title": f"Task {number} of user {index}",
                "priority": ("low", "medium", "high")[number % 3],
                "tags": ["bench", f"group{number % 5}"],
                "due_date": f"2030-{1 + number % 12:02d}-15T09:00:00Z",
            }
            status, created = call(base, "POST", "/v1/tasks", task, token)
            assert status == 201, f"create answered {status}"
            ids.append(created["id"])
        return {"token": token, "tasks": ids}

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(make_user, range(users)))


def write_lua_data(users: list[dict[str, Any]], path: Path) -> None:
    rows = []
    for user in users:
        tasks = ",".join(f'"{task}"' for task in user["tasks"])
        rows.append(f'{{token="{user["token"]}",tasks={{{tasks}}}}}')
    path.write_text("return {users={" + ",\n".join(rows) + "}}\n")


def route_exists(base: str, op: str, user: dict[str, Any]) -> bool:
    if op != "stats":
        return True
    status, _ = call(base, "GET", "/v1/stats", token=user["token"])
    return status != 404


def wrk_command(url: str, op: str, args: argparse.Namespace) -> list[str]:
    """wrk driving `op` (an operation, or `mix`) of mix.lua against `url`."""
    return [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        f"--timeout={args.timeout}s",
        "-s",
        str(HERE / "mix.lua"),
        url,
        "--",
        op,
    ]


def wrk_result(output: str) -> dict[str, Any]:
    """The JSON summary mix.lua prints last, with req/s and the error total added."""
    result = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = result["errors_status"] + result["errors_socket"]
    return result


def wrk(
    url: str,
    op: str,
    args: argparse.Namespace,
    env: dict[str, str],
    server: int | None = None,
) -> dict[str, Any]:
    """Run wrk; with the server's pid, also the CPU time its processes and the local
    PostgreSQL spent per request during the run."""
    command = wrk_command(url, op, args)
    before = cpu_seconds(server)
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    after = cpu_seconds(server)
    result = wrk_result(output)
    if result["requests"]:
        for group, seconds in after.items():
            spent = seconds - before.get(group, 0.0)
            result[f"cpu_{group}_us"] = spent / result["requests"] * 1e6
    return result


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server: int | None) -> dict[str, float]:
    """CPU time (user + system) so far of the server's processes (`server` and its children)
    and of the local PostgreSQL's. Processes that end between two readings are not counted:
    pooled connections and workers live through a run."""
    totals = {"server": 0.0, "pg": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        pid, parent = int(stat.parent.name), int(fields[1])
        if server is not None and server in (pid, parent):
            totals["server"] += seconds
        elif name == "postgres":
            totals["pg"] += seconds
    if server is None:
        del totals["server"]
    return totals


def worker_rss_mb(parent: int) -> list[float]:
    sizes = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            status = (stat.parent / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FLASK_APP="taskapi",
        PYTHONPATH=str(ROOT),
        TASKAPI_ENV="production",
        JWT_SECRET_KEY=SECRET,
        JWT_ACCESS_TOKEN_EXPIRES="7200",
        DATABASE_URL=args.database_url,
        LOG_LEVEL=args.log_level,
        SERVER_THREADS=str(args.threads),
        SERVER_CONNECTION_LIMIT="4000",
        # The limiter stays on (its cost is part of every request) with budgets no run reaches:
        # each virtual user sends thousands of requests a second, and all of them register and
        # log in from one address.
        RATELIMIT_DEFAULT="100000000/minute",
        RATELIMIT_AUTH="100000/minute",
    )
    return env


def ensure_database(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from taskapi.config import normalize_database_url

    parsed = sa.make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        query = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
        if not connection.scalar(query, {"name": parsed.database}):
            connection.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def print_table(title: str, rows: list[tuple[str, dict[str, Any] | None]], ceiling: float) -> None:
    print(f"\n{title}")
    header = f"{'operation':<10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    print(header + f"{'errors':>8}{'of hello':>10}{'server µs':>11}{'pg µs':>8}")
    for name, result in rows:
        if result is None:
            print(f"{name:<10}{'skipped: the route answers 404 in this build':>54}")
            continue
        share = f"{100 * result['rps'] / ceiling:.0f} %" if ceiling else "-"
        cpu = "".join(
            f"{result[key]:>{width}.0f}" if key in result else f"{'-':>{width}}"
            for key, width in (("cpu_server_us", 11), ("cpu_pg_us", 8))
        )
        print(
            f"{name:<10}{result['rps']:>9.0f}{result['p50_us'] / 1000:>9.1f}"
            f"{result['p95_us'] / 1000:>9.1f}{result['p99_us'] / 1000:>9.1f}"
            f"{result['errors']:>8}{share:>10}{cpu}"
        )
    print(
        "server µs, pg µs: CPU time of the server's processes and of the local PostgreSQL per"
        " request (wrk, on the same machine, is not counted)"
    )
    for name, result in rows:
        if result is not None and result["errors"]:
            kinds = ("status", "connect", "read", "write", "timeout")
            counts = ", ".join(f"{kind} {result.get('errors_' + kind, 0)}" for kind in kinds)
            print(f"  {name} errors: {counts} (status: answered outside 2xx/3xx)")
    sys.stdout.flush()


def run_operations(
    base: str,
    args: argparse.Namespace,
    data_file: Path,
    users: list[dict[str, Any]],
    server: int | None = None,
) -> list[tuple[str, dict[str, Any] | None]]:
    env = dict(os.environ, BENCH_DATA=str(data_file), BENCH_LIST_QUERY=args.list_query)
    skipped = {op for op in OPERATIONS if not route_exists(base, op, users[0])}
    mix = ",".join(part for part in args.mix.split(",") if part.split(":")[0] not in skipped)
    env["BENCH_MIX"] = mix
    rows: list[tuple[str, dict[str, Any] | None]] = []
    for op in args.ops.split(","):
        rows.append((op, None if op in skipped else wrk(base, op, args, env, server)))
    return rows


def minimal_get_rows(
    flags: list[str],
    env: dict[str, str],
    env_wrk: dict[str, str],
    args: argparse.Namespace,
    workdir: Path,
) -> list[tuple[str, dict[str, Any] | None]]:
    """GET a task as answered by ceiling.py (a minimal Flask route, then bare WSGI) on the same
    data: what the route would cost with nothing but a token decode and one raw SELECT."""
    rows: list[tuple[str, dict[str, Any] | None]] = []
    for name, extra in (("get:flask", []), ("get:wsgi", ["--raw"])):
        port = free_port()
        command = [PYTHON, str(HERE / "ceiling.py"), "--port", str(port), *flags, *extra]
        server = spawn(command, env, workdir / "ceiling.log")
        try:
            wait_ready(f"http://127.0.0.1:{port}/ready")
            url = f"http://127.0.0.1:{port}"
            rows.append((name, wrk(url, "get", args, env_wrk, server.pid)))
        finally:
            stop(server)
    return rows


def bench(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="taskapi-bench-"))
    try:
        if args.url:
            users = prepare(args.url, args.users, args.tasks_per_user)
            write_lua_data(users, workdir / "data.lua")
            rows = run_operations(args.url, args, workdir / "data.lua", users)
            print_table(f"{args.url} ({args.connections} connections)", rows, 0)
            return
        ensure_database(args.database_url)
        env = server_env(args)
        subprocess.run([FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        for workers in [int(count) for count in args.workers.split(",")]:
            api_port, hello_port = free_port(), free_port()
            flags = ["--workers", str(workers), "--threads", str(args.threads)]
            api = spawn([FLASK, "serve", "--port", str(api_port), *flags], env, workdir / "api.log")
            hello = spawn(
                [PYTHON, str(HERE / "hello.py"), "--port", str(hello_port), *flags],
                env,
                workdir / "hello.log",
            )
            try:
                base = f"http://127.0.0.1:{api_port}"
                wait_ready(base + "/ready")
                wait_ready(f"http://127.0.0.1:{hello_port}/hello")
                users = prepare(base, args.users, args.tasks_per_user)
                write_lua_data(users, workdir / "data.lua")
                env_wrk = dict(os.environ, BENCH_DATA=str(workdir / "data.lua"))
                ceiling = wrk(f"http://127.0.0.1:{hello_port}", "hello", args, env_wrk, hello.pid)
                rows = run_operations(base, args, workdir / "data.lua", users, api.pid)
                rss = worker_rss_mb(api.pid)
                if args.ceilings:
                    rows += minimal_get_rows(flags, env, env_wrk, args, workdir)
                title = (
                    f"{workers} worker(s) x {args.threads} threads, {args.connections} "
                    f"connections, {args.duration}s per operation"
                )
                print_table(title, [("hello", ceiling), *rows], ceiling["rps"])
                print(
                    "resident memory per API worker after the run: "
                    + ", ".join(f"{size:.0f} MB" for size in rss)
                )
            finally:
                stop(api)
                stop(hello)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rolling_restart(args: argparse.Namespace) -> None:
    """The mix through nginx while each replica in turn is drained and restarted."""
    base = args.url or "http://127.0.0.1:8080"
    wait_ready(base + "/ready")
    workdir = Path(tempfile.mkdtemp(prefix="taskapi-rolling-"))
    try:
        users = prepare(base, args.users, args.tasks_per_user)
        write_lua_data(users, workdir / "data.lua")
        skipped = {op for op in OPERATIONS if not route_exists(base, op, users[0])}
        mix = ",".join(part for part in args.mix.split(",") if part.split(":")[0] not in skipped)
        env = dict(
            os.environ,
            BENCH_DATA=str(workdir / "data.lua"),
            BENCH_LIST_QUERY=args.list_query,
            BENCH_MIX=mix,
        )
        load = subprocess.Popen(
            wrk_command(base, "mix", args), env=env, stdout=subprocess.PIPE, text=True
        )
        stack = str(ROOT / "deploy" / "local-stack.sh")
        time.sleep(args.duration / 6)
        restarts = []
        for replica in ("api1", "api2"):
            started = time.monotonic()
            subprocess.run([stack, "restart", replica], check=True)
            restarts.append(f"{replica} {time.monotonic() - started:.1f}s")
            time.sleep(args.duration / 6)
        output, _ = load.communicate()
        result = wrk_result(output)
        print(
            f"\nrolling restart through {base} ({args.connections} connections, "
            f"{args.duration}s, mix {mix}); restarts: {', '.join(restarts)}"
        )
        print(
            f"requests {result['requests']}, {result['rps']:.0f} req/s, "
            f"p99 {result['p99_us'] / 1000:.1f} ms, failed: {result['errors_status']} non-2xx/3xx"
            f" + {result['errors_socket']} socket errors"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", choices=("bench", "rolling-restart"), default="bench")
    parser.add_argument("--url", help="an already running server (or the stack's balancer)")
    parser.add_argument("--workers", default="2", help="worker counts to spawn, e.g. 1,2")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1/taskapi_load")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=5, help="wrk request timeout (s)")
    parser.add_argument("--users", type=int, default=16, help="virtual users (one login each)")
    parser.add_argument("--tasks-per-user", type=int, default=60)
    parser.add_argument(
        "--ops",
        default=",".join(OPERATIONS),
        help="operations to run; `health` (GET /health) measures the fixed cost of a request",
    )
    parser.add_argument(
        "--ceilings",
        action="store_true",
        help="also run GET against ceiling.py: a minimal Flask route, then bare WSGI",
    )
    parser.add_argument("--mix", default="get:35,list:20,create:15,patch:15,complete:10,stats:5")
    parser.add_argument(
        "--list-query",
        default="status=open&priority=high,medium&sort_by=due_date&sort_order=asc&page_size=50",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="server LOG_LEVEL (INFO logs each request)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed. On Debian/Ubuntu: apt-get install -y wrk")
    if args.mode == "rolling-restart":
        rolling_restart(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
