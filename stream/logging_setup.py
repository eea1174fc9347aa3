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


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Send log records to standard error as text lines or one JSON object per line.

    Raises:
        ValueError: ``log_format`` is neither ``text`` nor ``json``.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    elif log_format == "text":
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    else:
        raise ValueError(f"invalid log format {log_format!r}: use 'text' or 'json'")

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())

    librdkafka = logging.getLogger(LIBRDKAFKA_LOGGER)
    for existing in list(librdkafka.filters):
        librdkafka.removeFilter(existing)
    librdkafka.addFilter(RepeatFilter())
