"""Liveness and readiness flags that the service sets and the HTTP probes read."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge

__all__ = ["HealthState", "ProbeResult"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome: ``ok`` decides the HTTP status, ``reason`` explains a failure."""

    ok: bool
    reason: str = ""


class HealthState:
    """Thread-safe liveness and readiness of one service process.

    A new state is alive and not ready, with the reason ``"starting"``. The
    service is expected to call ``set_ready(True)`` once it is connected and
    has partitions assigned, and ``set_alive(False, reason)`` when its main
    loop has stopped making progress (or calls ``beat`` regularly and sets
    ``stall_timeout``, in seconds). When ``ready_gauge`` is given, it follows readiness as 1
    or 0, and ``on_ready_change`` is called with the new readiness after each change (a
    worker process reports it to its parent that way). Every change of either flag is logged.
    """

    def __init__(
        self,
        *,
        ready_gauge: Gauge | None = None,
        stall_timeout: float | None = None,
        on_ready_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._liveness = ProbeResult(ok=True)
        self._readiness = ProbeResult(ok=False, reason="starting")
        self._ready_gauge = ready_gauge
        self._on_ready_change = on_ready_change
        self._stall_timeout = stall_timeout
        self._last_beat = time.monotonic()

        if ready_gauge is not None:
            ready_gauge.set(0)

    @property
    def alive(self) -> bool:
        """Whether /healthz returns 200."""
        return self.liveness().ok

    @property
    def ready(self) -> bool:
        """Whether /readyz returns 200."""
        return self.readiness().ok

    def liveness(self) -> ProbeResult:
        """Return the current liveness result, which /healthz serves.

        With a ``stall_timeout``, liveness also fails when :meth:`beat` was not
        called for that many seconds: the main loop is stuck.
        """
        with self._lock:
            result = self._liveness
            silent_for = time.monotonic() - self._last_beat
        if result.ok and self._stall_timeout is not None and silent_for > self._stall_timeout:
            return ProbeResult(ok=False, reason=f"main loop made no progress for {silent_for:.0f} s")
        return result

    def beat(self) -> None:
        """Record that the main loop is making progress."""
        self._last_beat = time.monotonic()

    def readiness(self) -> ProbeResult:
        """Return the current readiness result, which /readyz serves."""
        with self._lock:
            return self._readiness

    def set_alive(self, alive: bool, reason: str = "") -> None:
        """Set liveness. ``reason`` explains a failure and defaults to ``"not alive"``."""
        result = (
            ProbeResult(ok=True) if alive else ProbeResult(ok=False, reason=reason or "not alive")
        )
        with self._lock:
            changed = result != self._liveness
            self._liveness = result

        if changed:
            _log.info("liveness changed to %s", _describe(result))

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Set readiness. ``reason`` explains a failure and defaults to ``"not ready"``."""
        result = (
            ProbeResult(ok=True) if ready else ProbeResult(ok=False, reason=reason or "not ready")
        )
        with self._lock:
            changed = result != self._readiness
            self._readiness = result
            # Set under the lock so that the gauge and the flag never disagree.
            if self._ready_gauge is not None:
                self._ready_gauge.set(1 if ready else 0)

        if changed:
            _log.info("readiness changed to %s", _describe(result))
            if self._on_ready_change is not None:
                self._on_ready_change(ready)


def _describe(result: ProbeResult) -> str:
    return "ok" if result.ok else f"failing: {result.reason}"
