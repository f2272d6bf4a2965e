"""Rate limits: per client address on login and registration (brute force), per API key, user or
else address on the rest of the API.

Windows are fixed, counted where RATELIMIT_STORAGE_URI says: `memory://` counts per process
(`ProcessCounters`), any other URI goes to the `limits` library's storage (`redis://…` shares the
counts between processes and hosts); limits are parsed by `limits` too. The Flask side is
one `before_request` hook: a request is charged against one budget (one increment per limit of
that budget, then the window end of the tightest), which costs a fraction of a general-purpose
extension's per-request route and decorator resolution.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import decode_token
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string

from taskapi.auth import API_KEY_HEADER
from taskapi.errors import problem

log = logging.getLogger(__name__)

#: Endpoints limited per client address with RATELIMIT_AUTH (one budget for both).
CREDENTIAL_ENDPOINTS = frozenset({"auth.Login", "auth.Register"})

EXTENSION_KEY = "taskapi.rate_limits"


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
    return f"addr:{request.remote_addr}"


class Counters(Protocol):
    """What the limits need of a storage: fixed-window counters."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...

    def get_expiry(self, key: str) -> float: ...


class ProcessCounters:
    """Fixed-window counters in this process's memory (`memory://`).

    The `limits` library's memory storage starts a timer thread every 10 ms under load to expire
    keys; here a window simply restarts when a request finds it over, and expired keys are
    swept at most once a minute.
    """

    SWEEP_INTERVAL = 60.0

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key: (count, window end)
        self._lock = threading.Lock()
        self._next_sweep = time.time() + self.SWEEP_INTERVAL

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + expiry
            count += amount
            self._windows[key] = (count, ends)
            if now >= self._next_sweep:
                self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
                self._next_sweep = now + self.SWEEP_INTERVAL
        return count

    def get_expiry(self, key: str) -> float:
        return self._windows.get(key, (0, time.time()))[1]


@dataclass(frozen=True)
class Budget:
    """One charge of a request against a limit: where the request stands in its window."""

    item: RateLimitItem
    remaining: int
    reset_at: float

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0


class RateLimits:
    """The app's limits, their storage, and the hooks that charge and answer requests."""

    def __init__(self, app: Flask) -> None:
        uri = app.config["RATELIMIT_STORAGE_URI"]
        options: dict[str, float | str | bool] = {"wrap_exceptions": True}
        if uri.startswith(("redis://", "rediss://")):
            # An unreachable or stalled Redis must cost a request a second at most.
            options.update(socket_connect_timeout=1, socket_timeout=1)
        self.storage: Counters
        if uri.startswith("memory://"):
            self.storage = ProcessCounters()
        else:
            self.storage = storage_from_string(uri, **options)  # type: ignore[assignment]
        self.prefix = app.config["RATELIMIT_KEY_PREFIX"]
        self.api = parse_many(app.config["RATELIMIT_DEFAULT"])
        self.credentials = parse_many(app.config["RATELIMIT_AUTH"])
        self.headers = app.config["RATELIMIT_HEADERS_ENABLED"]

    def budget_for_request(self) -> tuple[str, list[RateLimitItem], str] | None:
        """(scope, limits, caller) this request is charged to; None when it is not limited."""
        if request.method == "OPTIONS":
            return None
        if request.endpoint in CREDENTIAL_ENDPOINTS:
            return "credentials", self.credentials, f"addr:{request.remote_addr}"
        if not request.path.startswith("/v1/"):
            return None
        return "api", self.api, client_key()

    def charge(self) -> Budget | None:
        """Count this request; the tightest of its limits, or None (not limited, or storage
        unavailable: the request is served unlimited rather than refused)."""
        charged = self.budget_for_request()
        if charged is None:
            return None
        scope, items, caller = charged
        tightest: tuple[int, RateLimitItem, str] | None = None  # (remaining, limit, its key)
        try:
            for item in items:
                key = item.key_for(self.prefix, scope, caller)
                remaining = item.amount - self.storage.incr(key, item.get_expiry())
                if tightest is None or remaining < tightest[0]:
                    tightest = (remaining, item, key)
            if tightest is None:
                return None
            remaining, item, key = tightest
            return Budget(item, remaining, self.storage.get_expiry(key))
        except StorageError as error:
            log.warning("rate limit storage unavailable, request not limited: %s", error)
            return None


def _charge_request() -> Response | None:
    limits: RateLimits = current_app.extensions[EXTENSION_KEY]
    budget = limits.charge()
    if budget is None:
        return None
    g.rate_limit = budget
    if budget.exceeded:
        retry_after = max(1, math.ceil(budget.reset_at - time.time()))
        return problem(
            429,
            f"Too many requests (limit: {budget.item}); retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    return None


def _rate_limit_headers(response: Response) -> Response:
    budget: Budget | None = g.get("rate_limit")
    if budget is not None and current_app.extensions[EXTENSION_KEY].headers:
        response.headers["X-RateLimit-Limit"] = str(budget.item.amount)
        response.headers["X-RateLimit-Remaining"] = str(max(0, budget.remaining))
        response.headers["X-RateLimit-Reset"] = str(math.ceil(budget.reset_at))
    return response


def init_rate_limits(app: Flask) -> None:
    """Build this app's limits from RATELIMIT_* settings (RATELIMIT_ENABLED=false: none)."""
    if not app.config["RATELIMIT_ENABLED"]:
        return
    app.extensions[EXTENSION_KEY] = RateLimits(app)
    app.before_request(_charge_request)
    app.after_request(_rate_limit_headers)
