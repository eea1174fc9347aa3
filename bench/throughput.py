"""Benchmark the detection service's throughput against the raw consume rate of the broker.

Run from the repository root::

    .venv/bin/python bench/throughput.py [--events N] [--distinct-events D] [--partitions P]
        [--rounds R] [--json] [--bootstrap-servers HOST:PORT] [--memory-run]

Without ``--bootstrap-servers`` the script starts its own broker with
``scripts/kafka-local`` in a temporary state folder and stops it at the end.

Contenders, each in its own function and run in turn within each round (the
starting one rotates from round to round):

* raw: a bare confluent-kafka consumer that only counts messages;
* raw_scan: the same consumer, which also runs the service's prefilter (the
  shipped rule's literals, in Hyperscan) over the payloads of each batch. It
  shows how close to raw any design that scans every payload can come;
* ``eql-stream run --until-end`` on the JSON topic with 1 worker, with the
  prefilter off (``--no-prefilter``) and with ``--workers 2``;
* the same on an Avro copy of the topic (``--input-format avro``).

A contender whose flag is missing from ``eql-stream run --help``, or whose
Avro encoder cannot be imported, is reported as not available. Each service
run is timed from process start to exit (``wall``) and from the service's
metrics: ``eql_stream_events_consumed_total`` is scraped every 0.1 s, and the
steady rate is the count gained between the first scrape that shows a
consumed message and the last scrape, divided by the time between them. So
start-up (rule compiling, group join) and shutdown are left out of it. Over
the same window each run reports the CPU cores its processes used, and those
the broker used when the script started the broker itself.

The topics hold ``--events`` messages: ``--distinct-events`` generated events,
repeated in order. After the rounds, the script measures alert latency at
about half the best JSON rate, then at a quarter of it. When the Elastic detection-rules folder exists, it measures
throughput with 1, 10, 100 and all single-event ``process where`` rules. With
``--memory-run`` it also records the resident memory over a 1,000,000-event run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer

# The script runs without installing the package, so the repository root goes on the import path.
_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(_REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPOSITORY_ROOT))

from bench.events import generate_process_events  # noqa: E402
from bench.metrics_text import histogram_buckets, histogram_quantile, metric_total, percentile  # noqa: E402
from bench.procstat import child_pids, cpu_seconds, machine_cpu_seconds  # noqa: E402
from bench.service_run import READY_METRIC, SAMPLE_INTERVAL_S, ServiceRun, steady_cores, steady_rate  # noqa: E402
from bench.kafka_setup import (  # noqa: E402
    RawConsumeResult,
    consume_raw,
    create_topics,
    produce_all,
    local_broker_pid,
    produce_paced,
    read_create_times,
    start_local_broker,
    stop_local_broker,
)

# Targets, as fractions of the raw consume rate and absolute limits.
MIN_JSON_RATIO = 0.60
MIN_AVRO_RATIO = 0.40
MIN_WORKERS2_SPEEDUP = 1.6
MAX_P99_LATENCY_MS = 100.0
MAX_PEAK_RSS_MB = 200.0

DEFAULT_RULES_FOLDER = _REPOSITORY_ROOT.parent / "shared" / "data" / "elastic-rules"
AVRO_SCHEMA_PATH = _REPOSITORY_ROOT / "schemas" / "process_event.avsc"
RULE_COUNTS = (1, 10, 100)
MEMORY_RUN_EVENTS = 1_000_000
# Fewer events per topic than this make runs too short for figures worth comparing with the targets.
FIGURE_EVENTS = 1_000_000

_ALERTS_METRIC = "eql_stream_alerts_produced_total"
_LATENCY_METRIC = "eql_stream_alert_latency_seconds"
_LOADED_RULES_PATTERN = re.compile(r"loaded (\d+) rules")
_FLAG_PATTERN = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_PROCESS_QUERY_PATTERN = re.compile(r"^\s*process\s+where\b", re.IGNORECASE)


# Arguments and feature detection --------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; argparse exits with status 2 on invalid input."""
    parser = argparse.ArgumentParser(description="Measure eql-stream's throughput against a bare Kafka consumer.")
    parser.add_argument("--events", type=_positive_int, default=FIGURE_EVENTS, help="messages per input topic (default: 1000000)")
    parser.add_argument("--distinct-events", type=_positive_int, default=200_000, help="distinct events generated; the topics repeat them in order up to --events (default: 200000)")
    parser.add_argument("--partitions", type=_positive_int, default=4, help="partitions per input topic (default: 4)")
    parser.add_argument("--rounds", type=_positive_int, default=3, help="interleaved rounds over all contenders; the best round counts (default: 3)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the event generator (default: 7)")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="use this broker instead of starting one with scripts/kafka-local")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="duration of the fixed-rate latency run in seconds (default: 20)")
    parser.add_argument("--rule-seconds", type=_positive_float, default=8.0, help="seconds each rule-count run consumes the JSON topic after its first event, unless it reaches the end first (default: 8)")
    parser.add_argument("--rules-folder", type=Path, default=DEFAULT_RULES_FOLDER, help="Elastic detection-rules checkout for the rule-count runs (default: ../shared/data/elastic-rules)")
    parser.add_argument("--memory-run", action="store_true", help="also run the service over 1000000 events and report its resident memory over time")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value}: use 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid value {value}: use a number above 0")
    return value


def available_run_flags(help_text: str) -> frozenset[str]:
    """Return every long option (``--workers``, ``--no-prefilter``) named in ``eql-stream run --help`` output."""
    return frozenset(_FLAG_PATTERN.findall(help_text))


def read_run_flags() -> frozenset[str]:
    """Run ``eql-stream run --help`` with this interpreter and return its long options."""
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "run", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    return available_run_flags(result.stdout)


@dataclass(frozen=True)
class Measurement:
    """Result of one contender in one round; ``eps`` is None for an unavailable contender."""

    contender: str
    eps: float | None
    wall_eps: float | None = None
    startup_s: float | None = None
    peak_rss_mb: float | None = None
    processes: int | None = None
    service_cores: float | None = None
    broker_cores: float | None = None
    note: str = ""


# Benchmark context -------------------------------------------------------------------------------------------


@dataclass
class BenchContext:
    """Everything the contenders share: the broker, the topics and where service logs go."""

    bootstrap: str
    events: int
    partitions: int
    flags: frozenset[str]
    work_dir: Path
    prefix: str
    output_topic: str
    json_topic: str
    avro_topic: str | None = None
    avro_reason: str = ""
    broker_pid: int | None = None
    run_counter: itertools.count[int] = field(default_factory=itertools.count)

    def next_name(self, kind: str) -> str:
        """Return a fresh name (for a consumer group or a log file) that contains ``kind``."""
        return f"{self.prefix}-{kind}-{next(self.run_counter)}"

    def service_arguments(self, topic: str, group: str, *extra: str, until_end: bool = True, output_topic: str | None = None) -> list[str]:
        """Return the ``eql-stream run`` arguments for ``topic`` with a metrics endpoint on a free local port."""
        arguments = [
            "--bootstrap-servers", self.bootstrap,
            "--input-topic", topic,
            "--output-topic", output_topic or self.output_topic,
            "--group-id", group,
            "--metrics-host", "127.0.0.1",
            "--metrics-port", "0",
            "--log-level", "INFO",
        ]
        if until_end:
            arguments.append("--until-end")
        return [*arguments, *extra]

    def run_service(self, kind: str, topic: str, *extra: str) -> ServiceRun:
        """Run the service with ``--until-end`` on ``topic`` and wait for it to exit."""
        name = self.next_name(kind)
        run = ServiceRun.start(self.service_arguments(topic, name, *extra), self.work_dir / f"{name}.log", broker_pid=self.broker_pid)
        run.wait()
        return run


def _measurement_from_run(contender: str, run: ServiceRun, events: int) -> Measurement:
    if run.exit_code != 0:
        tail = " | ".join(run.log_text().strip().splitlines()[-3:])
        return Measurement(contender, None, note=f"service exited with code {run.exit_code}: {tail}")

    eps, startup_s = steady_rate(run.samples)
    service_cores, broker_cores = steady_cores(run.samples)
    peak = max(run.peak_rss_mb.values(), default=None)
    note = "" if eps is not None else "too few metric samples for a steady rate"
    return Measurement(
        contender,
        eps,
        wall_eps=events / run.wall_s,
        startup_s=startup_s,
        peak_rss_mb=peak,
        processes=len(run.peak_rss_mb),
        service_cores=service_cores,
        broker_cores=broker_cores,
        note=note,
    )


# Contenders --------------------------------------------------------------------------------------------------


def service_prefetch_settings() -> dict[str, Any]:
    """Return the prefetch settings of the service's consumer, which the bare consumers use too.

    With librdkafka's default ``fetch.queue.backoff.ms`` of 1 s, a partition
    whose prefetch queue filled up is not fetched again for a second. A fast
    consumer then empties the queue and waits for most of that second, which
    cost the bare consumer up to two thirds of its rate in some rounds and
    none in others. With the service's settings every contender fetches alike.
    """
    from stream.kafka.clients import consumer_config

    config = consumer_config("unused:9092", "unused", {})
    return {key: config[key] for key in ("fetch.queue.backoff.ms", "queued.max.messages.kbytes")}


def measure_raw(context: BenchContext) -> Measurement:
    """Measure contender (a): a bare consumer that reads the JSON topic, ``eps`` from its first batch to its last message."""
    result = consume_raw(
        context.bootstrap, context.json_topic, context.next_name("raw"), context.events, context.broker_pid,
        consumer_settings=service_prefetch_settings(),
    )
    return _measurement_from_raw("raw", result)


def _measurement_from_raw(contender: str, result: RawConsumeResult) -> Measurement:
    steady = result.steady_s > 0
    return Measurement(
        contender,
        result.steady_messages / result.steady_s if steady else None,
        wall_eps=result.messages / result.total_s,
        startup_s=result.total_s - result.steady_s,
        service_cores=result.steady_cpu_s / result.steady_s if steady else None,
        broker_cores=result.steady_broker_cpu_s / result.steady_s if steady and result.steady_broker_cpu_s is not None else None,
    )


def measure_raw_scan(context: BenchContext) -> Measurement:
    """Measure the bare consumer plus the prefilter's scan of every batch, the ceiling of a service that scans each payload."""
    from confluent_kafka import Message

    from stream.prefilter import Prefilter
    from stream.ruleset import load_rule_set

    rule_set, _ = load_rule_set()
    prefilter = Prefilter.for_queries(compiled.query for compiled in rule_set.rules)

    def scan(messages: list[Message]) -> object:
        return prefilter.select_batch([value or b"" for value in map(Message.value, messages)])

    result = consume_raw(
        context.bootstrap, context.json_topic, context.next_name("raw-scan"), context.events, context.broker_pid,
        inspect_batch=scan, consumer_settings=service_prefetch_settings(),
    )
    return _measurement_from_raw("raw_scan", result)


def measure_json_one_worker(context: BenchContext) -> Measurement:
    """Measure contender (b): the service on the JSON topic with the default settings."""
    run = context.run_service("json", context.json_topic)
    return _measurement_from_run("json", run, context.events)


def measure_json_no_prefilter(context: BenchContext) -> Measurement:
    """Measure the service on the JSON topic with ``--no-prefilter``, which decodes every message."""
    if "--no-prefilter" not in context.flags:
        return Measurement("json_no_prefilter", None, note="not available: eql-stream run has no --no-prefilter")

    run = context.run_service("json-noprefilter", context.json_topic, "--no-prefilter")
    return _measurement_from_run("json_no_prefilter", run, context.events)


def measure_json_two_workers(context: BenchContext) -> Measurement:
    """Measure contender (b) with ``--workers 2``: two processes in one consumer group."""
    if "--workers" not in context.flags:
        return Measurement("json_workers2", None, note="not available: eql-stream run has no --workers")

    run = context.run_service("json-workers2", context.json_topic, "--workers", "2")
    return _measurement_from_run("json_workers2", run, context.events)


def measure_avro_one_worker(context: BenchContext) -> Measurement:
    """Measure contender (c): the service on the Avro topic with the benchmark's writer schema."""
    if context.avro_topic is None:
        return Measurement("avro", None, note=f"not available: {context.avro_reason}")

    run = context.run_service(
        "avro", context.avro_topic, "--input-format", "avro", "--input-schema", str(AVRO_SCHEMA_PATH)
    )
    return _measurement_from_run("avro", run, context.events)


CONTENDERS: tuple[Callable[[BenchContext], Measurement], ...] = (
    measure_raw,
    measure_raw_scan,
    measure_json_one_worker,
    measure_json_no_prefilter,
    measure_json_two_workers,
    measure_avro_one_worker,
)


def run_rounds(context: BenchContext, rounds: int) -> dict[str, list[Measurement]]:
    """Run every contender once per round, rotating which one starts, and collect the measurements."""
    results: dict[str, list[Measurement]] = {}
    for round_number in range(rounds):
        start = round_number % len(CONTENDERS)
        for contender in CONTENDERS[start:] + CONTENDERS[:start]:
            measurement = contender(context)
            results.setdefault(measurement.contender, []).append(measurement)
            _progress(f"round {round_number + 1}: {_describe(measurement)}")
    return results


def best_measurement(measurements: Sequence[Measurement]) -> Measurement:
    """Return the measurement with the highest ``eps``, or the first one when none has a rate."""
    rated = [measurement for measurement in measurements if measurement.eps is not None]
    if not rated:
        return measurements[0]
    return max(rated, key=lambda measurement: measurement.eps or 0.0)


# Topics and data ---------------------------------------------------------------------------------------------


def prepare_avro_topic(context: BenchContext, events: Sequence[dict[str, Any]]) -> None:
    """Produce ``events`` as plain Avro to a second topic, or record why the Avro contender is not available."""
    if "--input-format" not in context.flags:
        context.avro_reason = "eql-stream run has no --input-format"
        return

    try:
        from stream.codecs.avro_codec import encode_event
        from stream.codecs.avro_schema import load_schema
    except ImportError as exc:
        context.avro_reason = f"the Avro encoder cannot be imported: {exc}"
        return

    schema = load_schema(AVRO_SCHEMA_PATH)
    try:
        values = [encode_event(event, schema) for event in events]
    except ValueError as exc:
        context.avro_reason = f"the events do not fit {AVRO_SCHEMA_PATH.name}: {exc}"
        return

    topic = f"{context.prefix}-avro"
    create_topics(context.bootstrap, [topic, f"{topic}.dlq"], context.partitions)
    produce_all(context.bootstrap, topic, _repeated(values, context.events))
    context.avro_topic = topic
    _progress(f"produced {context.events} Avro messages, {sum(map(len, values)) / len(values):.0f} bytes on average")


def select_process_rules(folder: Path) -> list[Path]:
    """Return the detection-rules TOML files under ``folder`` whose query is one ``process where`` event query, sorted by path."""
    selected = []
    for path in sorted(folder.rglob("*.toml")):
        try:
            rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if rule.get("language") == "eql" and _PROCESS_QUERY_PATTERN.match(rule.get("query", "")):
            selected.append(path)
    return selected


def rule_count_steps(available: int) -> list[int]:
    """Return the rule counts to measure: 1, 10 and 100 where there are that many, then all of them."""
    steps = [count for count in RULE_COUNTS if count < available]
    return [*steps, available] if available else []


# Latency -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyResult:
    """Alert latency at a fixed input rate.

    ``p50_ms`` and ``p99_ms`` come from the alert records: the broker's
    append time of each alert minus the create time of its source event, both
    in milliseconds on the same host. ``histogram_p50_ms`` and
    ``histogram_p99_ms`` are interpolated from the service's
    ``eql_stream_alert_latency_seconds`` buckets.
    """

    target_rate_eps: float
    rate_eps: float
    sent: int
    alerts: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    histogram_p50_ms: float | None
    histogram_p99_ms: float | None
    peak_rss_mb: float | None
    note: str = ""
    # CPU cores used while the events were produced, by part: "service", "broker" (None when this
    # script did not start it), "benchmark" (this process: the producer and the service sampler) and
    # "machine" (all processes on the machine, out of its cores).
    cores: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by the service's processes, the broker, this process and the whole machine."""

    taken_at: float
    service_s: float
    broker_s: float | None
    benchmark_s: float
    machine_busy_s: float

    @classmethod
    def take(cls, service_pid: int, broker_pid: int | None) -> CpuSnapshot:
        """Read the CPU times now; the broker's is None when ``broker_pid`` is None or the process is gone."""
        service = sum(seconds for pid in child_pids(service_pid) if (seconds := cpu_seconds(pid)) is not None)
        broker = cpu_seconds(broker_pid) if broker_pid is not None else None
        busy, _ = machine_cpu_seconds()
        return cls(time.perf_counter(), service, broker, time.process_time(), busy)

    def cores_since(self, earlier: CpuSnapshot) -> dict[str, float | None]:
        """Return the cores each part used between ``earlier`` and this snapshot (CPU seconds per second)."""
        seconds = self.taken_at - earlier.taken_at
        broker = None
        if self.broker_s is not None and earlier.broker_s is not None:
            broker = (self.broker_s - earlier.broker_s) / seconds
        return {
            "service": (self.service_s - earlier.service_s) / seconds,
            "broker": broker,
            "benchmark": (self.benchmark_s - earlier.benchmark_s) / seconds,
            "machine": (self.machine_busy_s - earlier.machine_busy_s) / seconds,
        }


def measure_latency(
    context: BenchContext, values: Sequence[bytes], rate_eps: float, duration_s: float, extra_arguments: Sequence[str] = ()
) -> LatencyResult:
    """Run the service without ``--until-end`` on a fresh topic, produce at ``rate_eps`` and measure alert latency.

    ``extra_arguments`` go to ``eql-stream run`` as they are, for example ``--batch-timeout 0.05``.
    """
    topic = f"{context.prefix}-latency-{next(context.run_counter)}"
    output_topic = f"{topic}-alerts"
    create_topics(context.bootstrap, [topic, f"{topic}.dlq"], context.partitions)
    # LogAppendTime makes each alert's timestamp the moment the broker stored it.
    create_topics(context.bootstrap, [output_topic], 1, {"message.timestamp.type": "LogAppendTime"})

    name = context.next_name("latency")
    arguments = context.service_arguments(topic, name, *extra_arguments, until_end=False, output_topic=output_topic)
    run = ServiceRun.start(arguments, context.work_dir / f"{name}.log")
    try:
        _wait_until_ready(run, 90.0)
        before = CpuSnapshot.take(run.process.pid, context.broker_pid)
        produced = produce_paced(context.bootstrap, topic, values, rate_eps, duration_s)
        cores = CpuSnapshot.take(run.process.pid, context.broker_pid).cores_since(before)
        drained = _wait_until_consumed(run, produced.sent, 120.0)
        time.sleep(3 * SAMPLE_INTERVAL_S)
        metrics_text = run.metrics_text
    finally:
        run.stop()

    alert_count = int(metric_total(metrics_text, _ALERTS_METRIC))
    latencies = _alert_latencies_ms(context.bootstrap, topic, output_topic, alert_count)
    buckets = histogram_buckets(metrics_text, _LATENCY_METRIC)
    histogram_p50 = histogram_quantile(0.5, buckets)
    histogram_p99 = histogram_quantile(0.99, buckets)
    note = "" if drained else "the service had not consumed every event 120 s after the last was sent"
    return LatencyResult(
        target_rate_eps=rate_eps,
        rate_eps=produced.rate_eps,
        sent=produced.sent,
        alerts=len(latencies),
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=None),
        histogram_p50_ms=None if histogram_p50 is None else histogram_p50 * 1000,
        histogram_p99_ms=None if histogram_p99 is None else histogram_p99 * 1000,
        peak_rss_mb=max(run.peak_rss_mb.values(), default=None),
        note=note,
        cores=cores,
    )


def _wait_until_ready(run: ServiceRun, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if run.process.poll() is not None:
            raise RuntimeError(f"the service exited with code {run.process.returncode} before it was ready: {run.log_text()[-2000:]}")
        if run.metrics_text and metric_total(run.metrics_text, READY_METRIC) >= 1:
            return
        time.sleep(SAMPLE_INTERVAL_S)
    raise RuntimeError(f"the service was not ready after {timeout_s:g} s: {run.log_text()[-2000:]}")


def _wait_until_consumed(run: ServiceRun, expected: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (run.latest_consumed() or 0) >= expected:
            return True
        time.sleep(SAMPLE_INTERVAL_S)
    return False


def _alert_latencies_ms(bootstrap: str, source_topic: str, alert_topic: str, expected: int) -> list[float]:
    """Read ``expected`` alerts from ``alert_topic`` and return each one's latency in milliseconds.

    An alert's latency is its append time minus the create time of its source
    message in ``source_topic``, found by the partition and offset headers.
    Reading stops early after 10 s without a message.
    """
    from stream.producing import HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"latency-reader-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    consumer.subscribe([alert_topic])
    appended: list[tuple[tuple[int, int], int]] = []
    idle_since = time.monotonic()
    try:
        while len(appended) < expected and time.monotonic() - idle_since < 10.0:
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    continue
                idle_since = time.monotonic()
                headers = {key: value for key, value in message.headers() or []}
                source = (int(headers[HEADER_SOURCE_PARTITION]), int(headers[HEADER_SOURCE_OFFSET]))
                appended.append((source, message.timestamp()[1]))
    finally:
        consumer.close()

    created = read_create_times(bootstrap, source_topic, {source for source, _ in appended})
    return [float(append_ms - created[source]) for source, append_ms in appended if source in created]


# Rule counts and memory --------------------------------------------------------------------------------------


def measure_rule_counts(context: BenchContext, rule_paths: Sequence[Path], seconds: float) -> list[dict[str, Any]]:
    """Run the service on the JSON topic with the first 1, 10, 100 and all ``rule_paths`` and return one row per count.

    Each run ends ``seconds`` after its first consumed event (SIGTERM), or at
    the topic's end if that comes first, so that every rule count is measured
    over a similar time whatever its rate.
    """
    rows = []
    for count in rule_count_steps(len(rule_paths)):
        rule_arguments = [argument for path in rule_paths[:count] for argument in ("--rules", str(path))]
        name = context.next_name(f"rules{count}")
        arguments = context.service_arguments(context.json_topic, name, *rule_arguments)
        run = ServiceRun.start(arguments, context.work_dir / f"{name}.log", broker_pid=context.broker_pid)
        _stop_after_consuming_for(run, seconds)
        eps, startup_s = steady_rate(run.samples)
        loaded = _LOADED_RULES_PATTERN.search(run.log_text())
        rows.append(
            {
                "rules": count,
                "loaded": int(loaded.group(1)) if loaded else None,
                "eps": eps,
                "consumed": run.latest_consumed(),
                "startup_s": startup_s,
                "peak_rss_mb": max(run.peak_rss_mb.values(), default=None),
                "note": "" if run.exit_code == 0 else f"service exited with code {run.exit_code}",
            }
        )
        _progress(f"rules: {rows[-1]}")
    return rows


def _stop_after_consuming_for(run: ServiceRun, seconds: float) -> None:
    """Wait until ``run`` has consumed for ``seconds`` since its first event, then stop it; or until it exits."""
    deadline = None
    while run.process.poll() is None:
        if deadline is None and (run.latest_consumed() or 0) > 0:
            deadline = time.monotonic() + seconds
        if deadline is not None and time.monotonic() >= deadline:
            run.stop()
            return
        time.sleep(SAMPLE_INTERVAL_S)
    run.wait()


def measure_memory_flatness(context: BenchContext, values: Sequence[bytes], total: int) -> dict[str, Any]:
    """Run the service over ``total`` events (``values`` repeated) and report its RSS as the run progresses."""
    topic = f"{context.prefix}-memory"
    create_topics(context.bootstrap, [topic, f"{topic}.dlq"], context.partitions)
    produce_all(context.bootstrap, topic, (values[index % len(values)] for index in range(total)))
    run = context.run_service("memory", topic)

    rss_at_progress = {}
    for share in (0.1, 0.25, 0.5, 0.75, 0.9):
        sample = next((s for s in run.samples if (s.consumed or 0) >= share * total), None)
        rss_at_progress[f"{share:.0%}"] = None if sample is None else round(sample.rss_mb, 1)
    counted = [sample for sample in run.samples if sample.consumed]
    rss_at_progress["last"] = round(counted[-1].rss_mb, 1) if counted else None

    first, last = rss_at_progress["10%"], rss_at_progress["last"]
    return {
        "events": total,
        "exit_code": run.exit_code,
        "rss_mb_by_progress": rss_at_progress,
        "growth_mb_after_10_percent": None if first is None or last is None else round(last - first, 1),
        "peak_rss_mb": max(run.peak_rss_mb.values(), default=None),
    }


# Summary -----------------------------------------------------------------------------------------------------


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Return ``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def build_summary(
    best: dict[str, Measurement],
    latency: LatencyResult | None,
    rule_rows: list[dict[str, Any]] | None,
    memory: dict[str, Any] | None,
    machine: dict[str, Any],
    lower_rate_latency: LatencyResult | None = None,
) -> dict[str, Any]:
    """Collect the headline figures (None for an unavailable contender) and the details under extra keys.

    ``latency`` is the run at half the best JSON rate, which the target is
    about, and ``lower_rate_latency``, at a quarter of it, is reported beside it.
    """
    raw_eps = _eps(best, "raw")
    json_eps = _eps(best, "json")
    avro_eps = _eps(best, "avro")
    service_peaks = [m.peak_rss_mb for name, m in best.items() if not name.startswith("raw") and m.peak_rss_mb is not None]
    summary: dict[str, Any] = {
        "raw_eps": raw_eps,
        "json_eps": json_eps,
        "json_ratio": ratio(json_eps, raw_eps),
        "avro_eps": avro_eps,
        "avro_ratio": ratio(avro_eps, raw_eps),
        "workers2_speedup": ratio(_eps(best, "json_workers2"), json_eps),
        "p99_latency_ms": None if latency is None else latency.p99_ms,
        "peak_rss_mb": max(service_peaks, default=None),
        "p50_latency_ms": None if latency is None else latency.p50_ms,
        "json_no_prefilter_eps": _eps(best, "json_no_prefilter"),
        "raw_scan_eps": _eps(best, "raw_scan"),
        "raw_scan_ratio": ratio(_eps(best, "raw_scan"), raw_eps),
        "json_workers2_eps": _eps(best, "json_workers2"),
        "contenders": {name: _measurement_dict(measurement) for name, measurement in best.items()},
        "latency": None if latency is None else latency.__dict__,
        "lower_rate_latency": None if lower_rate_latency is None else lower_rate_latency.__dict__,
        "rules": rule_rows,
        "memory_run": memory,
        "machine": machine,
    }
    summary["targets"] = evaluate_targets(summary)
    return summary


def evaluate_targets(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compare the headline figures with the targets; ``met`` is None when a figure is missing."""
    checks = {
        "json_ratio": (f">= {MIN_JSON_RATIO}", lambda value: value >= MIN_JSON_RATIO),
        "avro_ratio": (f">= {MIN_AVRO_RATIO}", lambda value: value >= MIN_AVRO_RATIO),
        "workers2_speedup": (f">= {MIN_WORKERS2_SPEEDUP}", lambda value: value >= MIN_WORKERS2_SPEEDUP),
        "p99_latency_ms": (f"< {MAX_P99_LATENCY_MS:g}", lambda value: value < MAX_P99_LATENCY_MS),
        "peak_rss_mb": (f"< {MAX_PEAK_RSS_MB:g}", lambda value: value < MAX_PEAK_RSS_MB),
    }
    targets = {}
    for key, (target, holds) in checks.items():
        value = summary.get(key)
        targets[key] = {"target": target, "measured": value, "met": None if value is None else bool(holds(value))}
    return targets


def _eps(best: dict[str, Measurement], contender: str) -> float | None:
    measurement = best.get(contender)
    return None if measurement is None else measurement.eps


def _measurement_dict(measurement: Measurement) -> dict[str, Any]:
    return {key: value for key, value in measurement.__dict__.items() if key != "contender"}


def format_table(summary: dict[str, Any]) -> str:
    """Format the summary as plain-text tables."""
    raw_eps = summary["raw_eps"]
    lines = [
        f"{'contender':<20} {'steady ev/s':>12} {'wall ev/s':>10} {'vs raw':>7} {'start-up s':>10} {'peak RSS MiB':>12} "
        f"{'cores':>6} {'broker cores':>12}  note",
    ]
    for name, measurement in summary["contenders"].items():
        lines.append(
            f"{name:<20} {_number(measurement['eps'], '.0f'):>12} {_number(measurement['wall_eps'], '.0f'):>10} "
            f"{_number(ratio(measurement['eps'], raw_eps), '.2f'):>7} {_number(measurement['startup_s'], '.2f'):>10} "
            f"{_number(measurement['peak_rss_mb'], '.0f'):>12} {_number(measurement.get('service_cores'), '.2f'):>6} "
            f"{_number(measurement.get('broker_cores'), '.2f'):>12}  {measurement['note']}"
        )

    for latency in (summary["latency"], summary.get("lower_rate_latency")):
        if latency is None:
            continue
        lines += [
            "",
            f"latency at {latency['rate_eps']:.0f} ev/s ({latency['alerts']} alerts): "
            f"p50 {_number(latency['p50_ms'], '.1f')} ms, p99 {_number(latency['p99_ms'], '.1f')} ms, "
            f"max {_number(latency['max_ms'], '.1f')} ms from record timestamps; "
            f"histogram p50 {_number(latency['histogram_p50_ms'], '.1f')} ms, p99 {_number(latency['histogram_p99_ms'], '.1f')} ms; "
            f"{_describe_cores(latency.get('cores') or {})} {latency['note']}",
        ]

    if summary["rules"]:
        lines += ["", f"{'rules':>6} {'loaded':>7} {'steady ev/s':>12} {'consumed':>10} {'peak RSS MiB':>12}"]
        for row in summary["rules"]:
            lines.append(
                f"{row['rules']:>6} {_number(row['loaded'], 'd'):>7} {_number(row['eps'], '.0f'):>12} "
                f"{_number(row.get('consumed'), '.0f'):>10} {_number(row['peak_rss_mb'], '.0f'):>12}  {row['note']}"
            )

    if summary["memory_run"]:
        lines += ["", f"memory run: {json.dumps(summary['memory_run'])}"]

    lines += ["", f"{'target':<18} {'goal':>8} {'measured':>10}  met"]
    for key, target in summary["targets"].items():
        met = {None: "n/a", True: "yes", False: "no"}[target["met"]]
        lines.append(f"{key:<18} {target['target']:>8} {_number(target['measured'], '.2f'):>10}  {met}")
    return "\n".join(lines)


def _number(value: float | int | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def describe_machine() -> dict[str, Any]:
    """Return the core count, CPU model, Python version and load average of this host."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


# Main --------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole benchmark, print its table and, with ``--json``, one JSON object as the last line."""
    arguments = parse_arguments(argv)
    with contextlib.ExitStack() as cleanup:
        work_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="eql-stream-throughput-")))
        bootstrap = arguments.bootstrap_servers
        broker_pid = None
        if bootstrap is None:
            bootstrap = start_local_broker(work_dir / "kafka-state")
            cleanup.callback(stop_local_broker, work_dir / "kafka-state")
            broker_pid = local_broker_pid(work_dir / "kafka-state")
            _progress(f"started a local broker at {bootstrap} (pid {broker_pid})")

        summary = run_benchmark(arguments, bootstrap, work_dir, broker_pid)

    print(format_table(summary))
    if arguments.events < FIGURE_EVENTS:
        print(
            f"\nnote: with {arguments.events} events per topic each service run lasts about a second, so the "
            f"figures and the targets above are not comparable; use at least {FIGURE_EVENTS} (the default)"
        )
    if arguments.json:
        print(json.dumps(summary, sort_keys=True, default=str))
    return 0


def run_benchmark(arguments: argparse.Namespace, bootstrap: str, work_dir: Path, broker_pid: int | None = None) -> dict[str, Any]:
    """Produce the topics, run every contender and return the summary.

    ``broker_pid`` is the broker's process id when this script started the
    broker, so that each run also reports the broker's CPU use.
    """
    machine = describe_machine()
    prefix = f"bench-throughput-{uuid.uuid4().hex[:8]}"
    context = BenchContext(
        bootstrap=bootstrap,
        events=arguments.events,
        partitions=arguments.partitions,
        flags=read_run_flags(),
        work_dir=work_dir,
        prefix=prefix,
        output_topic=f"{prefix}-alerts",
        json_topic=f"{prefix}-json",
        broker_pid=broker_pid,
    )

    events = generate_process_events(min(arguments.distinct_events, arguments.events), seed=arguments.seed)
    json_values = [orjson.dumps(event) for event in events]
    create_topics(bootstrap, [context.output_topic], arguments.partitions)
    create_topics(bootstrap, [context.json_topic, f"{context.json_topic}.dlq"], arguments.partitions)
    produce_all(bootstrap, context.json_topic, _repeated(json_values, arguments.events))
    _progress(
        f"produced {arguments.events} JSON messages ({len(json_values)} distinct events repeated), "
        f"{sum(map(len, json_values)) / len(json_values):.0f} bytes on average"
    )
    prepare_avro_topic(context, events)
    del events

    results = run_rounds(context, arguments.rounds)
    best = {name: best_measurement(measurements) for name, measurements in results.items()}

    latency = lower_rate_latency = None
    json_eps = _eps(best, "json")
    if json_eps:
        latency = measure_latency(context, json_values, json_eps / 2, arguments.latency_seconds)
        _progress(f"latency at half the rate: {_describe_latency(latency)}")
        lower_rate_latency = measure_latency(context, json_values, json_eps / 4, arguments.latency_seconds)
        _progress(f"latency at a quarter of the rate: {_describe_latency(lower_rate_latency)}")

    rule_rows = _measure_rules_if_present(context, arguments)
    memory = measure_memory_flatness(context, json_values, MEMORY_RUN_EVENTS) if arguments.memory_run else None
    machine["load_average_end"] = list(os.getloadavg())
    return build_summary(best, latency, rule_rows, memory, machine, lower_rate_latency)


def _repeated(values: Sequence[bytes], count: int) -> Iterator[bytes]:
    """Yield ``count`` items of ``values``, in order, starting again from the first when they run out."""
    return itertools.islice(itertools.cycle(values), count)


def _measure_rules_if_present(context: BenchContext, arguments: argparse.Namespace) -> list[dict[str, Any]] | None:
    if not arguments.rules_folder.is_dir():
        _progress(f"skipped the rule-count runs: {arguments.rules_folder} does not exist")
        return None

    rule_paths = select_process_rules(arguments.rules_folder)
    _progress(f"rule-count runs: {len(rule_paths)} process rules, {arguments.rule_seconds:g} s each")
    return measure_rule_counts(context, rule_paths, arguments.rule_seconds)


def _describe_latency(result: LatencyResult) -> str:
    return (
        f"{result.rate_eps:.0f} ev/s (aimed at {result.target_rate_eps:.0f}), {result.alerts} alerts, "
        f"p50 {_number(result.p50_ms, '.0f')} ms, p99 {_number(result.p99_ms, '.0f')} ms; {_describe_cores(result.cores)} "
        f"{result.note}"
    ).strip()


def _describe_cores(cores: dict[str, float | None]) -> str:
    """Return the cores by part as text, such as ``cores: service 0.61, broker 0.40, ...``."""
    parts = ", ".join(f"{part} {_number(value, '.2f')}" for part, value in cores.items())
    return f"cores: {parts}" if parts else "cores: n/a"


def _describe(measurement: Measurement) -> str:
    rate = "n/a" if measurement.eps is None else f"{measurement.eps:.0f} ev/s"
    return f"{measurement.contender}: {rate} {measurement.note}".strip()


def _progress(message: str) -> None:
    # Progress goes to standard error so that standard output holds only the table and the JSON line.
    print(f"[throughput] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
