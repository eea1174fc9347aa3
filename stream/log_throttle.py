"""Rate limit for log lines that can repeat thousands of times a second."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable


class LogThrottle:
    """Let one log line per key through every ``interval`` seconds, and count the lines held back.

    ``clock`` returns seconds (``time.monotonic`` by default). Not thread-safe:
    each caller logs from one thread.
    """

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last_logged: dict[Hashable, float] = {}
        self._held_back: Counter[Hashable] = Counter()

    def admit(self, key: Hashable) -> int | None:
        """Return None when the line for ``key`` must not be logged now.

        Otherwise return how many lines for ``key`` were held back since the
        last one that was logged, and start a new interval.
        """
        now = self._clock()
        last = self._last_logged.get(key)
        if last is not None and now - last < self._interval:
            self._held_back[key] += 1
            return None

        self._last_logged[key] = now
        return self._held_back.pop(key, 0)
