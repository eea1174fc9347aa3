"""Tests of the pure functions of the throughput benchmark in bench/throughput.py (no broker, no benchmark run)."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest


def _load_bench_throughput() -> ModuleType:
    # bench/ is a folder of scripts, not an installed package, so the module is loaded from its file.
    path = Path(__file__).resolve().parent.parent / "bench" / "throughput.py"
    spec = importlib.util.spec_from_file_location("bench_throughput", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module's annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


throughput = _load_bench_throughput()
# Loading the script put the repository root on the import path.
from bench import kafka_setup, metrics_text, procstat, service_run  # noqa: E402

HEADLINE_KEYS = {
    "raw_eps", "json_eps", "json_ratio", "avro_eps", "avro_ratio", "workers2_speedup", "p99_latency_ms", "peak_rss_mb",
}

METRICS_TEXT = """\
# HELP eql_stream_events_consumed_total Events consumed.
# TYPE eql_stream_events_consumed_total counter
eql_stream_events_consumed_total{topic="a"} 120.0
eql_stream_events_consumed_total{topic="b"} 30.0
# HELP eql_stream_alert_latency_seconds Alert latency.
# TYPE eql_stream_alert_latency_seconds histogram
eql_stream_alert_latency_seconds_bucket{le="0.01"} 2.0
eql_stream_alert_latency_seconds_bucket{le="0.1"} 8.0
eql_stream_alert_latency_seconds_bucket{le="+Inf"} 10.0
eql_stream_alert_latency_seconds_count 10.0
eql_stream_alert_latency_seconds_sum 0.5
"""


@pytest.mark.parametrize(
    ("help_text", "flag", "present"),
    [
        ("  --workers COUNT  processes", "--workers", True),
        ("  --prefilter, --no-prefilter  raw-bytes test", "--no-prefilter", True),
        ("  --input-format FORMAT  json or avro", "--input-format", True),
        ("  --input-topic TOPIC  topic to read", "--input-format", False),
        ("see --workers-file", "--workers", False),
        ("", "--workers", False),
    ],
    ids=["plain-flag", "negated-flag", "flag-with-metavar", "other-flag", "longer-flag", "empty-help"],
)
def test_available_run_flags_finds_long_options(help_text: str, flag: str, present: bool) -> None:
    assert (flag in throughput.available_run_flags(help_text)) is present


@pytest.mark.parametrize(
    ("quantile", "buckets", "expected"),
    [
        (0.5, [], None),
        (0.5, [(0.1, 0.0), (math.inf, 0.0)], None),
        (0.5, [(0.1, 10.0), (math.inf, 10.0)], 0.05),
        (0.5, [(0.01, 2.0), (0.1, 8.0), (math.inf, 10.0)], 0.01 + 0.09 * 3 / 6),
        (0.99, [(0.01, 2.0), (0.1, 8.0), (math.inf, 10.0)], 0.1),
        (0.2, [(0.01, 2.0), (0.1, 8.0), (math.inf, 10.0)], 0.01),
    ],
    ids=["no-buckets", "empty-histogram", "first-bucket", "middle-bucket", "infinite-bucket", "exact-bound"],
)
def test_histogram_quantile_interpolates_like_prometheus(
    quantile: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = metrics_text.histogram_quantile(quantile, buckets)

    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "quantile", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.99, 7.0),
        ([float(value) for value in range(1, 101)], 0.5, 50.0),
        ([float(value) for value in range(1, 101)], 0.99, 99.0),
        ([float(value) for value in range(100, 0, -1)], 1.0, 100.0),
    ],
    ids=["empty", "single", "median-of-100", "p99-of-100", "max-of-unsorted"],
)
def test_percentile_uses_nearest_rank(values: list[float], quantile: float, expected: float | None) -> None:
    assert metrics_text.percentile(values, quantile) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(50.0, 100.0, 0.5), (None, 100.0, None), (50.0, None, None), (50.0, 0.0, None)],
    ids=["both-present", "missing-numerator", "missing-denominator", "zero-denominator"],
)
def test_ratio_handles_missing_figures(numerator: float | None, denominator: float | None, expected: float | None) -> None:
    assert throughput.ratio(numerator, denominator) == expected


def test_metric_total_sums_label_sets() -> None:
    assert metrics_text.metric_total(METRICS_TEXT, "eql_stream_events_consumed_total") == 150.0


def test_histogram_buckets_reads_cumulative_counts() -> None:
    buckets = metrics_text.histogram_buckets(METRICS_TEXT, "eql_stream_alert_latency_seconds")

    assert buckets == [(0.01, 2.0), (0.1, 8.0), (math.inf, 10.0)]


def test_steady_rate_skips_startup_samples() -> None:
    sample = service_run.ServiceSample
    samples = [sample(0.5, None, 40.0), sample(1.0, 0.0, 50.0), sample(2.0, 1000.0, 55.0), sample(4.0, 5000.0, 56.0)]

    eps, startup_s = service_run.steady_rate(samples)

    assert eps == pytest.approx(2000.0)
    assert startup_s == 2.0


def test_steady_rate_without_two_counts_has_no_rate() -> None:
    samples = [service_run.ServiceSample(1.0, 500.0, 50.0)]

    assert service_run.steady_rate(samples) == (None, 1.0)


def test_steady_rate_waits_for_every_worker_ready() -> None:
    sample = service_run.ServiceSample
    samples = [
        sample(1.0, 100.0, 50.0, ready=0.0),
        sample(2.0, 1000.0, 50.0, ready=1.0),
        sample(3.0, 3000.0, 50.0, ready=1.0),
        sample(3.5, 4000.0, 50.0, ready=0.0),
    ]

    eps, startup_s = service_run.steady_rate(samples)

    assert eps == pytest.approx(2000.0)
    assert startup_s == 2.0


def test_steady_rate_never_ready_has_no_rate() -> None:
    samples = [service_run.ServiceSample(1.0, 100.0, 50.0, ready=0.0), service_run.ServiceSample(2.0, 200.0, 50.0, ready=0.0)]

    assert service_run.steady_rate(samples) == (None, None)


def test_steady_cores_over_counted_window() -> None:
    sample = service_run.ServiceSample
    samples = [sample(0.5, None, 50.0, 0.2, 10.0), sample(1.0, 100.0, 60.0, 0.5, 10.2), sample(3.0, 900.0, 70.0, 3.5, 10.6)]

    service_cores, broker_cores = service_run.steady_cores(samples)

    assert service_cores == pytest.approx(1.5)
    assert broker_cores == pytest.approx(0.2)


def test_steady_cores_without_broker_pid() -> None:
    samples = [service_run.ServiceSample(1.0, 100.0, 60.0, 1.0), service_run.ServiceSample(2.0, 200.0, 60.0, 2.0)]

    assert service_run.steady_cores(samples) == (pytest.approx(1.0), None)


def test_cpu_seconds_of_this_process() -> None:
    busy_until = time.process_time() + 0.05
    while time.process_time() < busy_until:
        pass

    assert procstat.cpu_seconds(os.getpid()) >= 0.05
    assert procstat.cpu_seconds(2**22 + 1) is None


def test_machine_cpu_seconds_counts_every_core() -> None:
    started = time.monotonic()
    busy_before, total_before = procstat.machine_cpu_seconds()
    time.sleep(0.2)
    busy_after, total_after = procstat.machine_cpu_seconds()
    elapsed = time.monotonic() - started

    assert 0 <= busy_after - busy_before <= total_after - total_before
    # /proc/stat counts in clock ticks (10 ms each on Linux), on every core.
    assert total_after - total_before == pytest.approx(elapsed * os.cpu_count(), abs=0.03 * os.cpu_count())


def test_cpu_snapshot_cores_by_part() -> None:
    earlier = throughput.CpuSnapshot(taken_at=10.0, service_s=1.0, broker_s=5.0, benchmark_s=2.0, machine_busy_s=100.0)
    later = throughput.CpuSnapshot(taken_at=12.0, service_s=2.2, broker_s=5.8, benchmark_s=3.0, machine_busy_s=103.6)

    cores = later.cores_since(earlier)

    assert cores == {
        "service": pytest.approx(0.6), "broker": pytest.approx(0.4), "benchmark": pytest.approx(0.5), "machine": pytest.approx(1.8)
    }


def test_cpu_snapshot_without_broker() -> None:
    earlier = throughput.CpuSnapshot(taken_at=0.0, service_s=0.0, broker_s=None, benchmark_s=0.0, machine_busy_s=0.0)
    later = throughput.CpuSnapshot(taken_at=1.0, service_s=0.5, broker_s=None, benchmark_s=0.1, machine_busy_s=0.9)

    assert later.cores_since(earlier)["broker"] is None
    assert "broker n/a" in throughput._describe_cores(later.cores_since(earlier))


@pytest.mark.parametrize(
    ("available", "expected"),
    [(0, []), (1, [1]), (5, [1, 5]), (100, [1, 10, 100]), (488, [1, 10, 100, 488])],
    ids=["none", "one", "five", "hundred", "many"],
)
def test_rule_count_steps_ends_with_all_rules(available: int, expected: list[int]) -> None:
    assert throughput.rule_count_steps(available) == expected


def test_select_process_rules_keeps_single_process_queries(tmp_path: Path) -> None:
    rules = {
        "a_process.toml": '[rule]\nlanguage = "eql"\nquery = """\nprocess where process.name == "x.exe"\n"""\n',
        "b_sequence.toml": '[rule]\nlanguage = "eql"\nquery = "sequence [process where true] [file where true]"\n',
        "c_file.toml": '[rule]\nlanguage = "eql"\nquery = "file where file.name == \\"y\\""\n',
        "d_kuery.toml": '[rule]\nlanguage = "kuery"\nquery = "process where x"\n',
        "e_broken.toml": "[rule\n",
    }
    for name, text in rules.items():
        (tmp_path / name).write_text(text)

    selected = throughput.select_process_rules(tmp_path)

    assert [path.name for path in selected] == ["a_process.toml"]


def test_build_summary_marks_unavailable_contenders_as_none() -> None:
    measurement = throughput.Measurement
    best = {
        "raw": measurement("raw", 100_000.0),
        "raw_scan": measurement("raw_scan", 80_000.0, peak_rss_mb=300.0),
        "json": measurement("json", 70_000.0, peak_rss_mb=90.0),
        "json_workers2": measurement("json_workers2", None, note="not available"),
        "avro": measurement("avro", None, note="not available"),
    }

    summary = throughput.build_summary(best, None, None, None, {"cores": 2})

    assert HEADLINE_KEYS <= summary.keys()
    assert summary["json_ratio"] == pytest.approx(0.7)
    assert summary["raw_scan_ratio"] == pytest.approx(0.8)
    assert summary["avro_eps"] is None
    assert summary["avro_ratio"] is None
    assert summary["workers2_speedup"] is None
    assert summary["p99_latency_ms"] is None
    assert summary["peak_rss_mb"] == 90.0
    assert summary["targets"]["json_ratio"]["met"] is True
    assert summary["targets"]["avro_ratio"]["met"] is None


def test_format_table_shows_unavailable_as_na() -> None:
    best = {"raw": throughput.Measurement("raw", 100_000.0), "avro": throughput.Measurement("avro", None, note="not available")}
    summary = throughput.build_summary(best, None, None, None, {})

    table = throughput.format_table(summary)

    assert "not available" in table
    assert "n/a" in table


def test_parse_arguments_defaults() -> None:
    arguments = throughput.parse_arguments([])

    assert arguments.events == 1_000_000
    assert arguments.distinct_events == 200_000
    assert arguments.partitions == 4
    assert arguments.rounds == 3
    assert arguments.bootstrap_servers is None
    assert arguments.json is False
    assert arguments.memory_run is False


@pytest.mark.parametrize(
    "argv",
    [["--events", "0"], ["--partitions", "-1"], ["--events", "many"], ["--distinct-events", "0"], ["--rule-seconds", "0"]],
    ids=["zero-events", "negative-partitions", "not-a-number", "zero-distinct-events", "zero-rule-seconds"],
)
def test_parse_arguments_rejects_invalid_counts(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        throughput.parse_arguments(argv)


@pytest.mark.kafka
def test_produce_paced_delivers_every_message(kafka_bootstrap: str, kafka_topic_factory, kafka_group_id: str) -> None:
    topic = kafka_topic_factory(partitions=2)

    result = kafka_setup.produce_paced(kafka_bootstrap, topic, [b"a", b"bb", b"ccc"], rate_eps=4000, duration_s=0.5)
    inspected: list[bytes] = []
    consumed = kafka_setup.consume_raw(
        kafka_bootstrap, topic, kafka_group_id, expected=result.sent, timeout_s=30,
        inspect_batch=lambda messages: inspected.extend(message.value() for message in messages),
    )

    assert 1800 <= result.sent <= 2000
    assert consumed.messages == result.sent
    assert len(inspected) == result.sent
