"""A benchmark's run of ``eql-stream run`` in a child process, sampled for metrics, memory and CPU.

The sampler thread scrapes the service's ``/metrics`` endpoint (found in its
log) every 0.1 s and reads its processes' memory and CPU time from /proc.
The steady window of a run starts at the first scrape that shows a consumed
event while every worker is ready, and ends at the last scrape with a count.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.metrics_text import metric_total
from bench.procstat import child_pids, cpu_seconds, memory_mb

_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

SAMPLE_INTERVAL_S = 0.1
SERVICE_TIMEOUT_S = 1800.0
CONSUMED_METRIC = "eql_stream_events_consumed_total"
READY_METRIC = "eql_stream_ready"
_LISTENING_PATTERN = re.compile(r"listening on (http://\S+)")


@dataclass
class ServiceSample:
    """One sample of a running service.

    Fields: seconds since start, consumed events, summed RSS in MiB, and CPU
    seconds used so far by the service's processes and by the broker (None
    when the broker's process is not known). ``ready`` is the scraped
    ``eql_stream_ready``, which is 1 only while every worker has partitions
    (None when not scraped).
    """

    elapsed_s: float
    consumed: float | None
    rss_mb: float
    cpu_s: float = 0.0
    broker_cpu_s: float | None = None
    ready: float | None = None


@dataclass
class ServiceRun:
    """A running ``eql-stream run`` process with a thread that samples its metrics and memory."""

    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    started: float
    broker_pid: int | None = None
    samples: list[ServiceSample] = field(default_factory=list)
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    metrics_text: str = ""
    exit_code: int | None = None
    wall_s: float = 0.0
    _urls: list[str] = field(default_factory=list)
    _cpu_by_pid: dict[int, float] = field(default_factory=dict)
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def start(
        cls, arguments: Sequence[str], log_path: Path, env: dict[str, str] | None = None, broker_pid: int | None = None
    ) -> ServiceRun:
        """Start ``python -m stream.cli run ARGUMENTS`` with its log written to ``log_path``.

        With ``broker_pid``, each sample also records the broker's CPU time.
        """
        command = [sys.executable, "-m", "stream.cli", "run", *arguments]
        with open(log_path, "wb") as log_file:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=_REPOSITORY_ROOT, env=env
            )
        run = cls(command=command, log_path=log_path, process=process, started=started, broker_pid=broker_pid)
        run._thread = threading.Thread(target=run._sample_until_exit, name="service-sampler", daemon=True)
        run._thread.start()
        return run

    def wait(self, timeout_s: float = SERVICE_TIMEOUT_S) -> int:
        """Wait for the process to exit and return its exit code; kill it after ``timeout_s`` seconds."""
        try:
            self.exit_code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()
        self.wall_s = time.perf_counter() - self.started
        self._stop_sampling.set()
        if self._thread is not None:
            self._thread.join()
        return self.exit_code

    def stop(self) -> int:
        """Send SIGTERM, as an orchestrator would, and wait for the exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(60.0)

    def log_text(self) -> str:
        """Return the service's log output so far."""
        return self.log_path.read_text(errors="replace")

    def latest_consumed(self) -> float | None:
        """Return the consumed-event count of the latest scrape, or None before the first."""
        for sample in reversed(self.samples):
            if sample.consumed is not None:
                return sample.consumed
        return None

    def _sample_until_exit(self) -> None:
        while not self._stop_sampling.is_set() and self.process.poll() is None:
            self._take_sample()
            self._stop_sampling.wait(SAMPLE_INTERVAL_S)

    def _take_sample(self) -> None:
        rss_total = 0.0
        for pid in child_pids(self.process.pid):
            memory = memory_mb(pid)
            if memory is not None:
                rss_total += memory[0]
                self.peak_rss_mb[pid] = max(self.peak_rss_mb.get(pid, 0.0), memory[1])
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self._cpu_by_pid[pid] = cpu
        # A worker that already exited keeps its last reading, so the total never drops.
        cpu_total = sum(self._cpu_by_pid.values())
        broker_cpu = cpu_seconds(self.broker_pid) if self.broker_pid is not None else None

        consumed = self._scrape_consumed()
        ready = metric_total(self.metrics_text, READY_METRIC) if consumed is not None else None
        self.samples.append(
            ServiceSample(time.perf_counter() - self.started, consumed, rss_total, cpu_total, broker_cpu, ready)
        )

    def _scrape_consumed(self) -> float | None:
        if not self._urls:
            self._urls = sorted(set(_LISTENING_PATTERN.findall(self.log_text())))

        # NOTE: each endpoint's count is added up, which is right when every worker serves its own
        # endpoint or one endpoint merges all workers, but would double-count if both happened.
        texts = []
        for url in self._urls:
            try:
                with urllib.request.urlopen(f"{url}/metrics", timeout=1.0) as response:
                    texts.append(response.read().decode())
            except (urllib.error.URLError, OSError):
                return None

        if not texts:
            return None
        self.metrics_text = "\n".join(texts)
        return sum(metric_total(text, CONSUMED_METRIC) for text in texts)


def steady_window(samples: Sequence[ServiceSample]) -> list[ServiceSample]:
    """Return the samples of the steady window: from the first one that shows a consumed event
    while every worker is ready, to the last one with a count.

    A run whose scrapes never show the readiness gauge starts at the first consumed event. With
    ``--workers 2`` the first worker usually consumes alone until the group's rebalance gives the
    second one its partitions (up to librdkafka's heartbeat interval, 3 s by default), so that
    part counts as start-up.
    """
    counted = [sample for sample in samples if sample.consumed]
    if any(sample.ready is not None for sample in counted):
        first_ready = next((index for index, sample in enumerate(counted) if sample.ready and sample.ready >= 1), None)
        return counted[first_ready:] if first_ready is not None else []
    return counted


def steady_cores(samples: Sequence[ServiceSample]) -> tuple[float | None, float | None]:
    """Return the CPU cores that the service and the broker used over the window of :func:`steady_rate`.

    A core is one CPU second per second. Returns None in place of a figure
    that the samples cannot give.
    """
    counted = steady_window(samples)
    if len(counted) < 2 or counted[-1].elapsed_s <= counted[0].elapsed_s:
        return None, None

    first, last = counted[0], counted[-1]
    seconds = last.elapsed_s - first.elapsed_s
    broker = None
    if first.broker_cpu_s is not None and last.broker_cpu_s is not None:
        broker = (last.broker_cpu_s - first.broker_cpu_s) / seconds
    return (last.cpu_s - first.cpu_s) / seconds, broker


def steady_rate(samples: Sequence[ServiceSample]) -> tuple[float | None, float | None]:
    """Return (events per second, seconds to the first consumed event) from a run's samples.

    The rate is the consumed count gained over :func:`steady_window`, divided
    by the time between its first and last sample. Returns None in place of a
    figure that the samples cannot give.
    """
    counted = steady_window(samples)
    if not counted:
        return None, None

    first, last = counted[0], counted[-1]
    startup_s = first.elapsed_s
    if last.elapsed_s <= first.elapsed_s or last.consumed == first.consumed:
        return None, startup_s
    assert first.consumed is not None and last.consumed is not None
    return (last.consumed - first.consumed) / (last.elapsed_s - first.elapsed_s), startup_s
