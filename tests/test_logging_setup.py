"""Logging set-up: the filter that keeps librdkafka's repeated lines out of the log."""

from __future__ import annotations

import logging

from stream.logging_setup import RepeatFilter


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
