"""`eql-stream run --workers` on a real Kafka broker: process metrics and the death of the parent."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from kafka_io import RunningService, scrape_metrics, service_arguments, wait_for

_WORKER_STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")
_TWO_WORKER_PROCESSES = {"main", "worker-0", "worker-1"}
_PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
)


def _process_labels(samples: dict[tuple[str, tuple], float], name: str) -> set[str]:
    """Return the values of the ``process`` label on the samples of ``name``."""
    return {dict(labels).get("process", "") for sample_name, labels in samples if sample_name == name}


def _worker_pids(log: str) -> dict[int, int]:
    """Return the pid of each worker, by index, from the workers' start lines in ``log``."""
    return {int(index): int(pid) for index, pid in _WORKER_STARTED.findall(log)}


def _running(pid: int) -> bool:
    """Return whether ``pid`` runs. A zombie that no process has reaped yet counts as exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.kafka
def test_run_one_process_metrics_unlabelled(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory()
    service = RunningService(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id), tmp_path / "service.log"
    )
    try:
        # Until the service has installed its signal handlers, SIGTERM would end it with -15.
        wait_for(lambda: "partitions assigned" in service.log(), what="partitions assigned")
        samples = scrape_metrics(service.metrics_url)
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()
    for name in _PROCESS_METRICS:
        assert (name, ()) in samples, f"{name} is missing or labelled"
        assert _process_labels(samples, name) == {""}, name


@pytest.mark.kafka
def test_run_two_workers_export_process_metrics(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(2)
    arguments = service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--workers", "2")
    service = RunningService(arguments, tmp_path / "service.log")
    try:
        wait_for(
            lambda: _process_labels(scrape_metrics(service.metrics_url), "process_start_time_seconds") == _TWO_WORKER_PROCESSES,
            what="process metrics of the parent and both workers",
        )
        samples = scrape_metrics(service.metrics_url)
        wait_for(lambda: "partitions assigned" in service.log(), what="partitions assigned")
        command_lines = {index: Path(f"/proc/{pid}/cmdline").read_bytes() for index, pid in _worker_pids(service.log()).items()}
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()
    for name in _PROCESS_METRICS:
        assert _process_labels(samples, name) == _TWO_WORKER_PROCESSES, name
    for index, command_line in command_lines.items():
        assert command_line.startswith(f"eql-stream run: worker {index} of 2".encode()), command_line
    main_start = samples[("process_start_time_seconds", (("process", "main"),))]
    for worker in ("worker-0", "worker-1"):
        assert samples[("process_start_time_seconds", (("process", worker),))] >= main_start
        assert samples[("process_resident_memory_bytes", (("process", worker),))] > 0


@pytest.mark.kafka
def test_run_two_workers_stop_after_parent_killed(
    kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A killed parent leaves its metrics directory behind, so it goes under tmp_path.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    topics = service_topics_factory(2)
    arguments = service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--workers", "2")
    service = RunningService(arguments, tmp_path / "service.log")
    worker_pids: dict[int, int] = {}
    try:
        wait_for(lambda: len(_worker_pids(service.log())) == 2, what="both workers started")
        wait_for(lambda: "partitions assigned" in service.log(), what="partitions assigned")
        worker_pids = _worker_pids(service.log())
        parent_pid = service.process.pid

        service.process.kill()
        service.process.wait(timeout=10)

        wait_for(
            lambda: not any(_running(pid) for pid in worker_pids.values()),
            timeout=15,
            what="both workers exited after the parent was killed",
        )
    finally:
        service.stop()
        for pid in worker_pids.values():
            if _running(pid):
                os.kill(pid, signal.SIGKILL)

    log = service.log()
    assert log.count(f"parent process {parent_pid} exited; stopping this worker as after SIGTERM") == 2, log
    assert log.count(f"stopped: parent process {parent_pid} exited") == 2, log
