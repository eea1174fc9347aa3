"""HealthState: liveness from the main loop's heartbeat."""

from __future__ import annotations

import time

from stream.health import HealthState


def test_liveness_fails_after_stall() -> None:
    health = HealthState(stall_timeout=0.05)

    health.beat()
    time.sleep(0.1)

    result = health.liveness()
    assert result.ok is False
    assert "no progress" in result.reason


def test_liveness_recovers_on_beat() -> None:
    health = HealthState(stall_timeout=0.05)
    time.sleep(0.1)

    health.beat()

    assert health.liveness().ok is True


def test_liveness_without_stall_timeout_ignores_beats() -> None:
    health = HealthState()
    time.sleep(0.01)

    assert health.liveness().ok is True
