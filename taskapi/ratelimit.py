"""Rate limits (Flask-Limiter): per client address on login and registration (brute force), per
API key, user or else address on the rest of the API.

Counts live in RATELIMIT_STORAGE_URI: `memory://` counts per process, `redis://…` shares them
between processes and hosts. A limiter is built per application (Flask-Limiter keeps its storage
and settings on the instance, so one shared instance would mix several apps' settings).
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, request
from flask_jwt_extended import decode_token
from flask_limiter import Limit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from taskapi.auth import API_KEY_HEADER
from taskapi.errors import problem

#: Endpoints limited per client address with RATELIMIT_AUTH (one budget for both).
CREDENTIAL_ENDPOINTS = frozenset({"auth.Login", "auth.Register"})


def client_key() -> str:
    """Who is calling, for the per-client budget: the API key, else the user of a validly signed
    token, else the client address.

    Only verified identities get their own budget: random keys or forged tokens would otherwise
    buy a fresh budget each.
    """
    presented = request.headers.get(API_KEY_HEADER)
    if presented:
        from taskapi.services import api_keys

        key = api_keys.identify(presented)
        if key is not None:
            return f"key:{key.id}"
    else:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            try:
                return f"user:{decode_token(token.strip())['sub']}"
            except Exception:  # noqa: S110 - any invalid token: counted by address
                pass
    return f"addr:{get_remote_address()}"


def _not_api_request() -> bool:
    return (
        not request.path.startswith("/v1/")
        or request.method == "OPTIONS"
        or request.endpoint in CREDENTIAL_ENDPOINTS
    )


def _not_credential_request() -> bool:
    return request.endpoint not in CREDENTIAL_ENDPOINTS or request.method == "OPTIONS"


def _rate_limited(error: RateLimitExceeded) -> Response:
    limiter = current_app.extensions["taskapi.limiter"]
    current = limiter.current_limit
    retry_after = max(1, int(current.reset_at - time.time())) if current is not None else 60
    return problem(
        429,
        f"Too many requests (limit: {error.description}); retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


def init_rate_limits(app: Flask) -> None:
    """Build this app's limiter from RATELIMIT_* settings (RATELIMIT_ENABLED=false: none)."""
    storage_options: dict[str, str | int] = {}
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # An unreachable or stalled Redis must cost a request a second at most.
        storage_options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter = Limiter(
        key_func=client_key,
        default_limits=[
            Limit(
                lambda: current_app.config["RATELIMIT_DEFAULT"],
                key_function=client_key,
                scope="api",
                shared=True,  # one budget across endpoints, not one per endpoint
                exempt_when=_not_api_request,
            ),
            Limit(
                lambda: current_app.config["RATELIMIT_AUTH"],
                key_function=get_remote_address,
                scope="credentials",
                shared=True,
                exempt_when=_not_credential_request,
            ),
        ],
        storage_options=storage_options,
        # The limiter's storage failing (Redis down) must not take the API down with it: the
        # request is served unlimited and the failure logged.
        swallow_errors=True,
    )
    limiter.init_app(app)
    app.extensions["taskapi.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _rate_limited)
