"""Log lines are written in batches, in order, and never held back past an error or shutdown."""

from __future__ import annotations

import io
import logging
import time

import pytest

from taskapi.observability import BatchingStreamHandler


@pytest.fixture
def logger_to():
    """A fresh logger writing through a BatchingStreamHandler into a string buffer."""
    made: list[tuple[logging.Logger, BatchingStreamHandler]] = []

    def make(interval: float) -> tuple[logging.Logger, io.StringIO, BatchingStreamHandler]:
        stream = io.StringIO()
        handler = BatchingStreamHandler(stream, interval)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger = logging.getLogger(f"test.batching.{len(made)}.{time.monotonic_ns()}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        made.append((logger, handler))
        return logger, stream, handler

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        handler.close()


def test_info_lines_wait_for_the_batch(logger_to):
    logger, stream, handler = logger_to(interval=60)
    logger.info("one")
    logger.info("two")
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.getvalue() == "INFO one\nINFO two\n"


def test_a_warning_writes_everything_before_it_in_order(logger_to):
    logger, stream, _ = logger_to(interval=60)
    logger.info("first")
    logger.warning("then a warning")
    assert stream.getvalue() == "INFO first\nWARNING then a warning\n"


def test_lines_are_written_within_the_interval(logger_to):
    logger, stream, _ = logger_to(interval=0.05)
    logger.info("soon")
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "INFO soon\n"


def test_a_full_batch_is_written_at_once(logger_to):
    logger, stream, _ = logger_to(interval=60)
    line = "x" * 1000
    count = BatchingStreamHandler.MAX_PENDING_CHARS // len(line) + 1
    for _ in range(count):
        logger.info(line)
    assert stream.getvalue().count("\n") == count


def test_interval_zero_writes_each_line_at_once(logger_to):
    logger, stream, _ = logger_to(interval=0)
    logger.info("now")
    assert stream.getvalue() == "INFO now\n"


def test_shutdown_writes_what_is_pending(logger_to):
    logger, stream, handler = logger_to(interval=60)
    logger.info("last words")
    handler.close()  # what logging.shutdown() does at a worker's exit: flush, then close
    assert stream.getvalue() == "INFO last words\n"


def test_configuring_logging_again_retires_the_previous_handler():
    """Each app built in a process replaces the handler before it: the old one writes what it
    holds and its flushing thread ends (no thread per app left behind)."""
    from flask import Flask

    from taskapi.observability import configure_logging

    def taskapi_handler() -> BatchingStreamHandler:
        handlers = logging.getLogger("taskapi").handlers
        (handler,) = [h for h in handlers if isinstance(h, BatchingStreamHandler)]
        return handler

    app = Flask("logging")
    app.config.update(LOG_LEVEL="INFO", LOG_FORMAT="text", LOG_FLUSH_INTERVAL_MS=60_000)
    configure_logging(app)
    first = taskapi_handler()
    first.setStream(io.StringIO())
    logging.getLogger("taskapi.test").info("held back")
    assert first.stream.getvalue() == ""
    assert first.flusher is not None
    assert first.flusher.is_alive()

    configure_logging(app)
    assert taskapi_handler() is not first
    assert "held back" in first.stream.getvalue()
    first.flusher.join(timeout=5)
    assert not first.flusher.is_alive()
