"""Logging configuration for the command-line tools and the service."""

from __future__ import annotations

import logging
import re
import sys
import time

from pythonjsonlogger.json import JsonFormatter

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Logger that receives librdkafka's own log lines (passed as the clients' "logger").
LIBRDKAFKA_LOGGER = "stream.librdkafka"


class RepeatFilter(logging.Filter):
    """Let a message through at most once per ``interval`` seconds.

    Messages that differ only in their digits (timestamps, durations, ports)
    count as the same message. librdkafka repeats connection failures every
    few hundred milliseconds while a broker is down, which would flood the log.
    """

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__()
        self._interval = interval
        self._last_seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        if now - self._last_seen.get(key, -self._interval - 1) < self._interval:
            return False
        if len(self._last_seen) > 1000:
            self._last_seen.clear()
        self._last_seen[key] = now
        return True


class _WorkerTag(logging.Filter):
    """Adds the worker index to every record, so that the JSON formatter writes it as ``worker``."""

    def __init__(self, worker: int) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self._worker
        return True


def configure_logging(log_format: str = "text", level: str = "INFO", *, worker: int | None = None) -> None:
    """Send log records to standard error as text lines or one JSON object per line.

    With ``worker`` (the index of a ``--workers`` process), every line names
    it: a ``worker`` key in JSON, a ``[worker N]`` prefix in text.

    Raises:
        ValueError: ``log_format`` is neither ``text`` nor ``json``.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            # The time is ISO 8601 in UTC (2026-12-05T01:40:00.201000+00:00), which log pipelines parse without a pattern.
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    elif log_format == "text":
        text_format = _TEXT_FORMAT if worker is None else f"[worker {worker}] {_TEXT_FORMAT}"
        handler.setFormatter(logging.Formatter(text_format))
    else:
        raise ValueError(f"invalid log format {log_format!r}: use 'text' or 'json'")
    if worker is not None:
        handler.addFilter(_WorkerTag(worker))

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())

    librdkafka = logging.getLogger(LIBRDKAFKA_LOGGER)
    for existing in list(librdkafka.filters):
        librdkafka.removeFilter(existing)
    librdkafka.addFilter(RepeatFilter())
