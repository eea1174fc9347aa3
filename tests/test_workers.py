"""Worker supervision: the parent's readiness follows its workers'."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

import pytest

from stream.health import HealthState
from stream.workers import _process_ids, _running_pid, _stopped_cleanly, _update_readiness, describe_exit, watch_parent


@dataclass
class _Worker:
    alive: bool

    def is_alive(self) -> bool:
        return self.alive


@pytest.mark.parametrize(
    ("alive", "flags", "ready", "reason"),
    [
        pytest.param([True, True], [0, 0], False, "none of the 2 workers has partitions now", id="none-ready"),
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


# --- process metrics of the workers ---------------------------------------------------------


@pytest.fixture
def sleeping_worker() -> Iterator[BaseProcess]:
    """A process started like a worker (with spawn) that sleeps until it is terminated."""
    worker = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,), name="eql-stream-worker-0")
    try:
        yield worker
    finally:
        if worker.pid is not None:
            worker.terminate()
            worker.join(timeout=10)


def test_running_pid_follows_worker_life(sleeping_worker: BaseProcess) -> None:
    assert _running_pid(sleeping_worker) is None

    sleeping_worker.start()
    assert _running_pid(sleeping_worker) == sleeping_worker.pid

    sleeping_worker.terminate()
    # Exited but not yet joined: the pid must be dropped before the child is reaped.
    assert multiprocessing.connection.wait([sleeping_worker.sentinel], timeout=10)
    assert _running_pid(sleeping_worker) is None


def test_process_ids_label_parent_and_workers(sleeping_worker: BaseProcess) -> None:
    unstarted = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    process_ids = _process_ids([sleeping_worker, unstarted])

    assert process_ids() == {"main": os.getpid()}
    sleeping_worker.start()
    assert process_ids() == {"main": os.getpid(), "worker-0": sleeping_worker.pid}


# --- stopping when the parent exits ---------------------------------------------------------


def test_watch_parent_stops_when_parent_differs(caplog: pytest.LogCaptureFixture) -> None:
    reasons: list[str] = []
    called = threading.Event()

    def stop(reason: str) -> None:
        reasons.append(reason)
        called.set()

    # This process's own pid is never its parent's, so the watch detects a changed parent at once.
    not_parent = os.getpid()
    with caplog.at_level(logging.WARNING, logger="stream.workers"):
        end_watch = watch_parent(not_parent, stop, interval=0.01)
        assert called.wait(timeout=5)
    end_watch()

    assert reasons == [f"parent process {not_parent} exited"]
    assert caplog.messages == [f"parent process {not_parent} exited; stopping this worker as after SIGTERM"]


def test_watch_parent_quiet_while_parent_runs() -> None:
    reasons: list[str] = []

    end_watch = watch_parent(os.getppid(), reasons.append, interval=0.01)
    time.sleep(0.2)
    end_watch()

    deadline = time.monotonic() + 5
    while any(thread.name == "parent-watch" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the parent-watch thread did not end"
        time.sleep(0.01)
    assert reasons == []


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        pytest.param(1, "exited with code 1", id="error"),
        pytest.param(-9, "was killed by signal 9 (SIGKILL) (sent by a user, or by the kernel's out-of-memory killer)", id="sigkill"),
        pytest.param(-11, "was killed by signal 11 (SIGSEGV)", id="sigsegv"),
        pytest.param(-99, "was killed by signal 99 (an unknown signal)", id="unknown-signal"),
    ],
)
def test_describe_exit_names_signal(exit_code: int, expected: str) -> None:
    assert describe_exit(exit_code) == expected
