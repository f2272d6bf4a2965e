"""/metrics in one process, the queue-depth warning filter, and the server's settings."""

from __future__ import annotations

import logging

import pytest

from taskapi.config import Config, ConfigError, finalize
from taskapi.metrics import Metrics, QueueDepthFilter
from taskapi.server import ServerOptions


def _sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


def test_metrics_count_requests_by_route_not_raw_path(client, auth_headers, create_task):
    task = create_task()
    for _ in range(3):
        assert client.get(f"/v1/tasks/{task['id']}", headers=auth_headers).status_code == 200
    assert client.get("/v1/tasks/not-a-task", headers=auth_headers).status_code == 404
    assert client.get("/no/such/path").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    route = "/v1/tasks/<task_id>"
    assert _sample(text, "taskapi_http_requests_total", endpoint=route, status="200") >= 3
    assert _sample(text, "taskapi_http_requests_total", endpoint=route, status="404") >= 1
    assert _sample(text, "taskapi_http_requests_total", endpoint="unmatched", status="404") >= 1
    assert task["id"] not in text
    assert _sample(text, "taskapi_http_request_duration_seconds_count", endpoint=route) >= 4
    # Only the /metrics request itself is in flight, and it holds no database connection.
    assert "taskapi_http_requests_in_flight 1.0" in text
    assert "taskapi_db_pool_checked_out 0.0" in text


def test_metrics_are_documented_at_the_root(client):
    spec = client.get("/openapi.json").get_json()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_queue_depth_warnings_become_a_metric_and_a_rate_limited_line(caplog):
    metrics = Metrics()
    queue_logger = logging.getLogger("test.waitress.queue")
    queue_filter = QueueDepthFilter(metrics, interval=3600)
    queue_logger.addFilter(queue_filter)
    try:
        with caplog.at_level(logging.WARNING):
            for depth in (1, 5, 2):
                queue_logger.warning("Task queue depth is %d", depth)
    finally:
        queue_logger.removeFilter(queue_filter)
    assert metrics.queue_warnings._value.get() == 3
    assert metrics.queue_depth._value.get() == 2
    raw = [r for r in caplog.records if r.name == "test.waitress.queue"]
    reported = [r for r in caplog.records if r.name == "taskapi.server"]
    assert raw == []
    assert len(reported) == 1
    assert "1 queued request(s), deepest queue 1" in reported[0].getMessage()


def test_the_dispatcher_reports_queue_depth_without_making_log_records(caplog):
    from waitress.task import ThreadedTaskDispatcher

    metrics = Metrics()
    queue_depth = QueueDepthFilter(metrics, interval=3600)
    dispatcher = ThreadedTaskDispatcher()  # no threads: every task waits in the queue
    dispatcher.queue_logger = queue_depth
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def record_factory(*args, **kwargs):
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(record_factory)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(4):
                dispatcher.add_task(object())
    finally:
        logging.setLogRecordFactory(factory)
    assert metrics.queue_warnings._value.get() == 4
    assert metrics.queue_depth._value.get() == 4
    # One rate-limited report (the first warning), and no record for the other three.
    assert [record.name for record in made] == ["taskapi.server"]
    assert "1 queued request(s), deepest queue 1" in made[0].getMessage()


def test_server_options_carry_the_trusted_proxy_settings():
    config = Config.from_env(
        {"TRUSTED_PROXY": "10.0.0.2", "TRUSTED_PROXY_COUNT": "2", "SERVER_WORKERS": "3"}
    )
    options = ServerOptions.from_config(config, threads=6, port=None)
    assert options.workers == 3
    assert options.threads == 6
    assert options.port == 8000
    settings = options.waitress_settings()
    assert settings["trusted_proxy"] == "10.0.0.2"
    assert settings["trusted_proxy_count"] == 2
    assert "x-forwarded-for" in settings["trusted_proxy_headers"]
    assert settings["max_request_body_size"] > config["MAX_CONTENT_LENGTH"]
    no_proxy = ServerOptions.from_config(Config.from_env({})).waitress_settings()
    assert "trusted_proxy" not in no_proxy


def test_production_refuses_the_testing_endpoints(tmp_path):
    config = Config.from_env(
        {
            "TASKAPI_ENV": "production",
            "JWT_SECRET_KEY": "p" * 48,
            "TASKAPI_TESTING_ENDPOINTS": "true",
        }
    )
    with pytest.raises(ConfigError, match="TESTING_ENDPOINTS"):
        finalize(config, str(tmp_path))
