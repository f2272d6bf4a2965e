"""What GET a task costs with nothing but the essentials, served by `flask serve` like the API.

Serves the taskapi app, except `GET /v1/tasks/<id>`, which is answered by the least a GET can
do here: the bearer token decoded by PyJWT (once per token, as the API does), one SELECT on a raw
psycopg2 connection in autocommit mode (the task, the revocation check and the user's state
together), and the task as JSON. No ETag, rate limit, access log, metrics, isolation checks or
error handling: a ceiling for the real route, not a replacement.

    bench/load/ceiling.py --port 8001 [--raw]      then: bench/load/run.py --url ... --ops get

`--raw` answers that route below Flask, as a bare WSGI callable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jwt
import psycopg2
from flask import Flask, Response, request

from taskapi import create_app
from taskapi.config import normalize_database_url

QUERY = """
SELECT t.id, t.title, t.description, t.priority, t.tags, t.due_date, t.completed,
       t.created_at, t.updated_at,
       EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = %s) AS revoked, u.is_active
FROM users u LEFT JOIN tasks t ON t.id = %s AND t.user_id = u.id
WHERE u.id = %s
"""
PREFIX = "/v1/tasks/"


def create_ceiling_app(raw: bool) -> Flask:
    app = create_app()
    secret = app.config["JWT_SECRET_KEY"]
    dsn = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"]).replace(
        "postgresql+psycopg2://", "postgresql://"
    )
    local = threading.local()
    claims_by_token: dict[str, dict[str, Any]] = {}

    def answer(authorization: str, task_id: str) -> Response:
        token = authorization.removeprefix("Bearer ")
        claims = claims_by_token.get(token)
        if claims is None:
            claims = claims_by_token[token] = jwt.decode(token, secret, algorithms=["HS256"])
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = psycopg2.connect(dsn)
            connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(QUERY, (claims["jti"], task_id, claims["sub"]))
            row = cursor.fetchone()
        if row is None or row[0] is None or row[9] or not row[10]:
            return Response(status=404)
        task = {
            "id": str(row[0]),
            "title": row[1],
            "description": row[2],
            "priority": row[3],
            "tags": row[4],
            "due_date": row[5].isoformat() if row[5] else None,
            "completed": row[6],
            "created_at": row[7].isoformat(),
            "updated_at": row[8].isoformat(),
        }
        return Response(json.dumps(task), content_type="application/json")

    minimal = Flask("ceiling")

    @minimal.get(PREFIX + "<task_id>")
    def get_task(task_id: str) -> Response:
        return answer(request.headers.get("Authorization", ""), task_id)

    api = app.wsgi_app

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] != "GET" or not path.startswith(PREFIX):
            return api(environ, start_response)
        if raw:
            response = answer(environ.get("HTTP_AUTHORIZATION", ""), path[len(PREFIX) :])
            return response(environ, start_response)
        return minimal.wsgi_app(environ, start_response)

    app.wsgi_app = dispatch  # type: ignore[method-assign]
    return app


def main() -> int:
    from hello import serve_from_arguments  # beside this script

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", action="store_true", help="answer below Flask (bare WSGI)")
    return serve_from_arguments(parser, lambda args: create_ceiling_app(args.raw))


if __name__ == "__main__":
    os.environ.setdefault("FLASK_APP", "taskapi")
    sys.exit(main())
