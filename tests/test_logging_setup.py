"""Logging set-up: the filter that keeps librdkafka's repeated lines out of the log."""

from __future__ import annotations

import logging

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


@pytest.mark.parametrize(
    ("log_format", "expected"),
    [pytest.param("text", "[worker 3] ", id="text-prefix"), pytest.param("json", '"worker": 3', id="json-key")],
)
def test_configure_logging_names_worker(log_format: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(log_format, "INFO", worker=3)
    try:
        logging.getLogger("stream.test").info("hello")
        written = capsys.readouterr().err
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)

    assert expected in written
    assert "hello" in written
