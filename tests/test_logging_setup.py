"""Logging set-up: the repeat filter for librdkafka lines, worker tags and the JSON format."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest

from stream.logging_setup import RepeatFilter, configure_logging


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("stream.librdkafka", logging.ERROR, __file__, 1, message, None, None)


def test_repeat_filter_drops_repeats() -> None:
    repeat_filter = RepeatFilter(interval=60)

    first = repeat_filter.filter(_record("Connect to 127.0.0.1:1 failed (after 0ms)"))
    second = repeat_filter.filter(_record("Connect to 127.0.0.1:1 failed (after 12ms)"))

    assert first is True
    assert second is False


def test_repeat_filter_passes_other_messages() -> None:
    repeat_filter = RepeatFilter(interval=60)
    repeat_filter.filter(_record("Connect failed"))

    assert repeat_filter.filter(_record("Partition assigned")) is True


def test_repeat_filter_passes_after_interval() -> None:
    repeat_filter = RepeatFilter(interval=0)
    repeat_filter.filter(_record("Connect failed"))

    assert repeat_filter.filter(_record("Connect failed")) is True


def _log_hello(capsys: pytest.CaptureFixture[str], log_format: str, worker: int | None = None) -> str:
    """Log "hello" with ``configure_logging`` and return what reached standard error; restore the root logger."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(log_format, "INFO", worker=worker)
    try:
        logging.getLogger("stream.test").info("hello")
        return capsys.readouterr().err
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.mark.parametrize(
    ("log_format", "expected"),
    [pytest.param("text", "[worker 3] ", id="text-prefix"), pytest.param("json", '"worker": 3', id="json-key")],
)
def test_configure_logging_names_worker(log_format: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    written = _log_hello(capsys, log_format, worker=3)

    assert expected in written
    assert "hello" in written


def test_configure_logging_json_time_is_iso_8601_utc(capsys: pytest.CaptureFixture[str]) -> None:
    written = _log_hello(capsys, "json")

    record = json.loads(written)
    assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)
    assert record["level"] == "INFO"
    assert record["logger"] == "stream.test"
