"""A hello-world Flask app served by taskapi's `flask serve` machinery with the same settings:
the ceiling the API's figures are compared with in bench/load/run.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from flask import Flask

from taskapi.config import Config
from taskapi.server import ServerOptions, serve


def create_hello_app() -> Flask:
    app = Flask("hello")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def serve_from_arguments(
    parser: argparse.ArgumentParser, app_factory: Callable[[argparse.Namespace], Flask]
) -> int:
    """Parse `--port`, `--workers` and `--threads` (with `parser`'s own options), then serve
    `app_factory(arguments)` as `flask serve` would with those settings."""
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    options = ServerOptions.from_config(
        Config.from_env(), port=args.port, workers=args.workers, threads=args.threads
    )
    return serve(lambda: app_factory(args), options)


def main() -> int:
    return serve_from_arguments(
        argparse.ArgumentParser(description=__doc__), lambda _args: create_hello_app()
    )


if __name__ == "__main__":
    sys.exit(main())
