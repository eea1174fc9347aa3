"""Worker supervision: the parent's readiness follows its workers'."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from stream.health import HealthState
from stream.workers import _stopped_cleanly, _update_readiness


@dataclass
class _Worker:
    alive: bool

    def is_alive(self) -> bool:
        return self.alive


@pytest.mark.parametrize(
    ("alive", "flags", "ready", "reason"),
    [
        pytest.param([True, True], [0, 0], False, "none of the 2 workers has partitions yet", id="none-ready"),
        pytest.param([True, True], [1, 0], True, "", id="one-of-two-ready"),
        pytest.param([True, True], [1, 1], True, "", id="all-ready"),
        pytest.param([True, False], [1, 1], False, "a worker has stopped", id="worker-stopped"),
    ],
)
def test_update_readiness_follows_workers(alive: list[bool], flags: list[int], ready: bool, reason: str) -> None:
    health = HealthState()

    _update_readiness(health, [_Worker(state) for state in alive], flags)  # type: ignore[list-item]

    assert health.ready is ready
    assert health.readiness().reason == reason


def test_health_state_reports_readiness_changes() -> None:
    changes: list[bool] = []
    health = HealthState(on_ready_change=changes.append)

    health.set_ready(True)
    health.set_ready(True)
    health.set_ready(False, "revoked")

    assert changes == [True, False]


@pytest.mark.parametrize(
    ("exit_code", "stop_requested", "clean"),
    [
        pytest.param(0, [], True, id="exit-0"),
        pytest.param(1, ["SIGTERM"], False, id="exit-1-after-stop"),
        pytest.param(-signal.SIGTERM, ["SIGTERM"], True, id="ended-by-forwarded-sigterm"),
        pytest.param(-signal.SIGINT, ["SIGINT"], True, id="ended-by-forwarded-sigint"),
        pytest.param(-signal.SIGTERM, [], False, id="sigterm-without-stop-request"),
        pytest.param(-signal.SIGKILL, ["SIGTERM"], False, id="killed"),
    ],
)
def test_stopped_cleanly_by_exit_code(exit_code: int, stop_requested: list[str], clean: bool) -> None:
    assert _stopped_cleanly(exit_code, stop_requested) is clean
