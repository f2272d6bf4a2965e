"""The application object: no cookie sessions, and Flask's coroutine check answered from a
cache that gives Flask's own answers."""

from __future__ import annotations

from flask import session
from flask.sessions import NullSession


def test_requests_open_no_cookie_session(make_app):
    app = make_app()
    client = app.test_client()
    seen = []

    @app.get("/_session_probe")
    def probe():
        seen.append(session._get_current_object())
        return {}

    response = client.get("/_session_probe")
    assert response.status_code == 200
    assert isinstance(seen[0], NullSession)
    assert "Set-Cookie" not in response.headers


def converted(func):
    return ("converted", func)


def test_ensure_sync_matches_flask_for_sync_and_async_callables(app, monkeypatch):
    monkeypatch.setattr(app, "async_to_sync", converted)

    def sync_view():
        return "sync"

    async def async_view():
        return "async"

    class Callable:
        def __call__(self):
            return "object"

    obj = Callable()
    for _ in range(2):  # the first answer is computed, the second comes from the cache
        assert app.ensure_sync(sync_view) is sync_view
        assert app.ensure_sync(obj) is obj
        assert app.ensure_sync(async_view) == ("converted", async_view)


def test_ensure_sync_checks_each_closure_by_its_code(app, monkeypatch):
    monkeypatch.setattr(app, "async_to_sync", converted)

    def make(kind):
        if kind == "sync":

            def view():
                return kind

        else:

            async def view():  # type: ignore[misc]
                return kind

        return view

    first, second, coroutine = make("sync"), make("sync"), make("async")
    assert app.ensure_sync(first) is first
    assert app.ensure_sync(second) is second
    assert app.ensure_sync(coroutine) == ("converted", coroutine)
