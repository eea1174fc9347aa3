"""Several worker processes in one consumer group, behind one metrics endpoint.

Each worker is a separate process (started with ``spawn``) with its own
consumer, producer and compiled rules, so the workers use separate cores.
The parent process serves the merged metrics of all workers through
prometheus_client's multi-process mode, forwards SIGTERM and SIGINT to the
workers, and exits with 0 only when every worker exited with 0. Its endpoint
also exports the ``process_*`` metrics of itself and of each running worker,
labelled ``process="main"`` and ``process="worker-N"``. A worker whose parent
has exited, for example after ``kill -9``, stops as if it had received SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, MutableSequence, Sequence
from multiprocessing.process import BaseProcess
from typing import Any

from stream.config import ServiceSettings
from stream.health import HealthState

logger = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# How long the parent waits for the workers after forwarding a stop signal.
_STOP_GRACE_SECONDS = 60.0

# Value of the ``process`` label on the parent's process metrics; workers get "worker-<index>".
MAIN_PROCESS_LABEL = "main"

# How often a worker checks whether its parent process still runs.
PARENT_CHECK_INTERVAL_SECONDS = 1.0


def run_workers(settings: ServiceSettings) -> int:
    """Run ``settings.workers`` worker processes until they stop; return the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="eql-stream-metrics-")
    previous = os.environ.get(MULTIPROCESS_ENV)
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    try:
        return _supervise(settings, metrics_dir)
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_ENV, None)
        else:
            os.environ[MULTIPROCESS_ENV] = previous
        # NOTE: a parent killed by SIGKILL never gets here, so its directory stays behind.
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(settings: ServiceSettings, metrics_dir: str) -> int:
    # Imported here: the parent's own registry must not be created before the
    # multi-process directory is set.
    from prometheus_client import multiprocess

    from stream.metrics import multiprocess_registry
    from stream.metrics_server import start_metrics_server

    context = multiprocessing.get_context("spawn")
    # One byte per worker in shared memory: 1 while that worker reports ready.
    ready_flags = context.RawArray("b", settings.workers)
    workers = [
        context.Process(
            target=_worker_main, args=(settings, index, ready_flags, os.getpid()), name=f"eql-stream-worker-{index}"
        )
        for index in range(settings.workers)
    ]
    health = HealthState()
    stop_requested: list[str] = []

    def forward(received: int, frame: object) -> None:
        stop_requested.append(signal.Signals(received).name)
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, received)

    # Installed before the endpoint starts, so that a stop signal never meets Python's default handler.
    previous = {number: signal.signal(number, forward) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        registry = multiprocess_registry(metrics_dir, _process_ids(workers))
        server = start_metrics_server(registry, health, settings.metrics_host, settings.metrics_port)
    except BaseException:
        _restore_handlers(previous)
        raise
    logger.info("metrics endpoint listening on %s (merged from %d workers)", server.url, settings.workers)

    try:
        for worker in workers:
            worker.start()
        if stop_requested:
            # The signal came while the workers were starting, so it reached only those already alive.
            _signal_all(workers, signal.Signals[stop_requested[-1]])
        exit_code = _wait_for_workers(workers, stop_requested, health, ready_flags)
    finally:
        _restore_handlers(previous)
        for worker in workers:
            if worker.pid is not None:
                multiprocess.mark_process_dead(worker.pid, metrics_dir)
        server.stop()
    return exit_code


def _worker_process_label(index: int) -> str:
    """Return the ``process`` label value of the process metrics of worker ``index``."""
    return f"worker-{index}"


def _process_ids(workers: Sequence[BaseProcess]) -> Callable[[], dict[str, int]]:
    """Return a function that maps the label of this process and of each running worker to its pid."""
    parent_pid = os.getpid()

    def current() -> dict[str, int]:
        ids = {MAIN_PROCESS_LABEL: parent_pid}
        for index, worker in enumerate(workers):
            pid = _running_pid(worker)
            if pid is not None:
                ids[_worker_process_label(index)] = pid
        return ids

    return current


def _running_pid(worker: BaseProcess) -> int | None:
    """Return the pid of ``worker`` while it runs, and None before it starts or after it exits.

    An exited worker gets None because, once reaped, its pid can belong to an
    unrelated process. The check waits on the worker's sentinel, which becomes
    readable when the worker exits. Unlike reading ``exitcode``, that does not
    reap the child, which only the main thread may do while it joins the workers.
    """
    pid = worker.pid
    try:
        sentinel = worker.sentinel
    except ValueError:
        # Not started yet, or start() has not finished.
        return None
    if pid is None or multiprocessing.connection.wait([sentinel], timeout=0):
        return None
    return pid


def watch_parent(
    parent_pid: int, stop: Callable[[str], None], interval: float = PARENT_CHECK_INTERVAL_SECONDS
) -> Callable[[], None]:
    """Start a daemon thread that calls ``stop`` once this process's parent is no longer ``parent_pid``.

    When the parent exits, even by ``kill -9``, the kernel gives its children
    a new parent (init or a subreaper), so ``os.getppid()`` changes. The check
    runs every ``interval`` seconds. ``stop`` receives the reason and is
    called at most once (the thread ends after calling it), from the
    watching thread, so it must be thread-safe. Returns a function that ends
    the watch.
    """
    cancelled = threading.Event()

    def watch() -> None:
        while os.getppid() == parent_pid:
            if cancelled.wait(interval):
                return
        logger.warning("parent process %d exited; stopping this worker as after SIGTERM", parent_pid)
        stop(f"parent process {parent_pid} exited")

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return cancelled.set


def _restore_handlers(previous: dict[int, Any]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)


def _wait_for_workers(
    workers: list[BaseProcess], stop_requested: list[str], health: HealthState, ready_flags: Sequence[int]
) -> int:
    """Wait until every worker has exited, and stop the others when one fails. Keep ``health``'s readiness current."""
    failed = False
    deadline: float | None = None
    while any(worker.is_alive() for worker in workers):
        for worker in workers:
            worker.join(timeout=0.2)
            _update_readiness(health, workers, ready_flags)
            if worker.exitcode is not None and not _stopped_cleanly(worker.exitcode, stop_requested) and not failed:
                failed = True
                ending = describe_exit(worker.exitcode)
                logger.error("%s %s; stopping the other workers, and this instance exits with 1", worker.name, ending)
                health.set_alive(False, f"{worker.name} {ending}")
                _signal_all(workers, signal.SIGTERM)
        if (stop_requested or failed) and deadline is None:
            deadline = time.monotonic() + _STOP_GRACE_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            logger.error("workers did not stop within %.0f s; killing them", _STOP_GRACE_SECONDS)
            _signal_all(workers, signal.SIGKILL)
            deadline = None

    codes = [worker.exitcode for worker in workers]
    logger.info("all workers stopped with exit codes %s", codes)
    return 0 if all(code is not None and _stopped_cleanly(code, stop_requested) for code in codes) else 1


def describe_exit(exit_code: int) -> str:
    """Describe a worker's exit code: "exited with code N", or the signal that killed it (a negative code)."""
    if exit_code >= 0:
        return f"exited with code {exit_code}"
    try:
        name = signal.Signals(-exit_code).name
    except ValueError:
        name = "an unknown signal"
    hint = " (sent by a user, or by the kernel's out-of-memory killer)" if exit_code == -signal.SIGKILL else ""
    return f"was killed by signal {-exit_code} ({name}){hint}"


def _stopped_cleanly(exit_code: int, stop_requested: list[str]) -> bool:
    """Return whether a worker's exit code means a clean stop.

    A worker installs its signal handlers just before it starts consuming, so
    a stop signal forwarded before then ends it with the signal's default
    action (exit code -15 for SIGTERM). It had consumed nothing, so after a
    requested stop that counts as clean.
    """
    if exit_code == 0:
        return True
    return bool(stop_requested) and exit_code in (-signal.SIGTERM, -signal.SIGINT)


def _update_readiness(health: HealthState, workers: list[BaseProcess], ready_flags: Sequence[int]) -> None:
    """Report ready while every worker runs and at least one has partitions.

    Requiring every worker to have partitions would keep an endpoint with
    more workers than input partitions unready for good, because the extra
    workers stay idle.
    """
    if not all(worker.is_alive() for worker in workers):
        health.set_ready(False, "a worker has stopped")
        return
    ready_count = sum(1 for flag in ready_flags if flag)
    if ready_count:
        health.set_ready(True)
    else:
        # "now", not "yet": the workers also give their partitions up when they stop.
        health.set_ready(False, f"none of the {len(workers)} workers has partitions now")


def _signal_all(workers: list[BaseProcess], number: int) -> None:
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, number)


def _worker_main(settings: ServiceSettings, index: int, ready_flags: MutableSequence[int], parent_pid: int) -> None:
    """Run one worker process, which keeps ``ready_flags[index]`` at 1 while it is ready.

    The worker stops by itself once the process ``parent_pid`` has exited.
    """
    from setproctitle import setproctitle

    from stream.errors import EqlStreamError
    from stream.logging_setup import configure_logging
    from stream.runner import run_worker

    # A spawned process's command line is multiprocessing's, so ps and pgrep would not show eql-stream.
    setproctitle(f"eql-stream run: worker {index} of {settings.workers}, parent pid {parent_pid}")
    configure_logging(settings.log_format, settings.log_level, worker=index)
    worker_logger = logging.getLogger(__name__)
    worker_logger.info("worker %d started (pid %d)", index, os.getpid())

    def report_readiness(ready: bool) -> None:
        ready_flags[index] = int(ready)

    try:
        # Worker 0 reports the rules that fail to load or get warnings, so the log has them once.
        code = run_worker(settings, on_ready_change=report_readiness, parent_pid=parent_pid, report_rule_problems=index == 0)
    except EqlStreamError as exc:
        worker_logger.error("worker %d stopped: %s", index, exc)
        code = 1
    raise SystemExit(code)
