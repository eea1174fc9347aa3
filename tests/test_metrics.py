"""Tests of the service metrics, the health flags and the HTTP endpoint that serves them."""

from __future__ import annotations

import json
import time
import logging
import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka
import pytest
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.metrics import MetricWrapperBase

from stream.errors import ConfigError
from stream.health import HealthState
from stream.librdkafka_stats import (
    assignment_size_from_stats,
    consumer_lags_from_stats,
    BrokerReceive,
    broker_receives_from_stats,
    partition_lag,
)
from stream.metrics import (
    DEAD_LETTER_REASONS,
    OTHER_REASON,
    LabelledProcessCollector,
    Metrics,
    multiprocess_registry,
)
from stream.metrics_server import MetricsServer, start_metrics_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


# --- metric names, types and labels -------------------------------------------------------


@dataclass(frozen=True)
class MetricCase:
    select: Callable[[Metrics], MetricWrapperBase]
    family: str
    type: str
    labels: tuple[str, ...] = ()


METRIC_CASES = {
    "events_consumed": MetricCase(
        lambda m: m.events_consumed, "eql_stream_events_consumed", "counter", ("topic",)
    ),
    "events_prefiltered": MetricCase(
        lambda m: m.events_prefiltered, "eql_stream_events_prefiltered", "counter", ("topic",)
    ),
    "events_dead_lettered": MetricCase(
        lambda m: m.events_dead_lettered, "eql_stream_events_dead_lettered", "counter", ("reason",)
    ),
    "alerts_produced": MetricCase(
        lambda m: m.alerts_produced, "eql_stream_alerts_produced", "counter", ("rule_id",)
    ),
    "rule_evaluation_errors": MetricCase(
        lambda m: m.rule_evaluation_errors,
        "eql_stream_rule_evaluation_errors",
        "counter",
        ("rule_id",),
    ),
    "rule_evaluation_problems": MetricCase(
        lambda m: m.rule_evaluation_problems,
        "eql_stream_rule_evaluation_problems",
        "counter",
        ("rule_id",),
    ),
    "produce_errors": MetricCase(
        lambda m: m.produce_errors, "eql_stream_produce_errors", "counter", ("topic_kind",)
    ),
    "offset_commits": MetricCase(
        lambda m: m.offset_commits, "eql_stream_offset_commits", "counter", ("result",)
    ),
    "rebalances": MetricCase(lambda m: m.rebalances, "eql_stream_rebalances", "counter", ("kind",)),
    "alert_latency": MetricCase(
        lambda m: m.alert_latency, "eql_stream_alert_latency_seconds", "histogram"
    ),
    "batch_duration": MetricCase(
        lambda m: m.batch_duration, "eql_stream_batch_duration_seconds", "histogram"
    ),
    "batch_size": MetricCase(lambda m: m.batch_size, "eql_stream_batch_size_messages", "histogram"),
    "consumer_lag": MetricCase(
        lambda m: m.consumer_lag,
        "eql_stream_consumer_lag_messages",
        "gauge",
        ("topic", "partition"),
    ),
    "assigned_partitions": MetricCase(
        lambda m: m.assigned_partitions, "eql_stream_assigned_partitions", "gauge"
    ),
    "broker_receive_idle": MetricCase(
        lambda m: m.broker_receive_idle, "eql_stream_broker_receive_idle_seconds", "gauge"
    ),
    "rules_loaded": MetricCase(lambda m: m.rules_loaded, "eql_stream_rules_loaded", "gauge"),
    "ready": MetricCase(lambda m: m.ready, "eql_stream_ready", "gauge"),
    "rule_info": MetricCase(lambda m: m.rule_info, "eql_stream_rule_info", "gauge", ("rule_id", "rule_name")),
    "last_offset_commit": MetricCase(
        lambda m: m.last_offset_commit, "eql_stream_last_offset_commit_timestamp_seconds", "gauge"
    ),
    "build_info": MetricCase(
        lambda m: m.build_info,
        "eql_stream_build_info",
        "gauge",
        ("version", "python_version", "librdkafka_version"),
    ),
}


@pytest.mark.parametrize("case", METRIC_CASES.values(), ids=METRIC_CASES.keys())
def test_metric_name_type_and_labels(
    case: MetricCase, registry: CollectorRegistry, metrics: Metrics
) -> None:
    metric = case.select(metrics)
    if case.labels:
        metric.labels(**{name: "sample" for name in case.labels})

    families = {family.name: family for family in registry.collect()}
    assert case.family in families
    family = families[case.family]
    assert family.type == case.type

    sample_labels = [set(sample.labels) - {"le"} for sample in family.samples]
    assert set(case.labels) in sample_labels


def test_metric_names_all_listed(registry: CollectorRegistry, metrics: Metrics) -> None:
    listed = {case.family for case in METRIC_CASES.values()}
    registered = {family.name for family in registry.collect()}
    assert registered == listed


def test_counters_exposed_with_total_suffix(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.events_consumed.labels(topic="events").inc(3)

    assert registry.get_sample_value("eql_stream_events_consumed_total", {"topic": "events"}) == 3.0


def test_metrics_twice_on_registry_rejected(registry: CollectorRegistry, metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)


def test_metrics_leave_default_registry_untouched(metrics: Metrics) -> None:
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("eql_stream_rules_loaded") is None


# --- bounded label sets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        *[
            ("eql_stream_events_dead_lettered_total", {"reason": reason})
            for reason in sorted(DEAD_LETTER_REASONS)
        ],
        ("eql_stream_events_dead_lettered_total", {"reason": OTHER_REASON}),
        ("eql_stream_produce_errors_total", {"topic_kind": "alerts"}),
        ("eql_stream_produce_errors_total", {"topic_kind": "dead_letter"}),
        ("eql_stream_offset_commits_total", {"result": "ok"}),
        ("eql_stream_offset_commits_total", {"result": "error"}),
        ("eql_stream_rebalances_total", {"kind": "assign"}),
        ("eql_stream_rebalances_total", {"kind": "revoke"}),
        ("eql_stream_rebalances_total", {"kind": "lost"}),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(value.values()),
)
def test_fixed_label_series_start_at_zero(
    name: str, labels: dict[str, str], registry: CollectorRegistry, metrics: Metrics
) -> None:
    assert registry.get_sample_value(name, labels) == 0.0


def test_dead_letter_known_reason_counted(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.count_dead_letter("invalid_json", 2)

    assert (
        registry.get_sample_value(
            "eql_stream_events_dead_lettered_total", {"reason": "invalid_json"}
        )
        == 2.0
    )
    assert (
        registry.get_sample_value("eql_stream_events_dead_lettered_total", {"reason": OTHER_REASON})
        == 0.0
    )


@pytest.mark.parametrize("reason", ["made_up", "", "INVALID_JSON", "invalid json"])
def test_dead_letter_unknown_reason_maps_to_other(
    reason: str, registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.count_dead_letter(reason)

    assert (
        registry.get_sample_value("eql_stream_events_dead_lettered_total", {"reason": OTHER_REASON})
        == 1.0
    )
    assert (
        registry.get_sample_value("eql_stream_events_dead_lettered_total", {"reason": reason})
        is None
    )


def test_dead_letter_unknown_reason_warned_once(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stream.metrics"):
        metrics.count_dead_letter("made_up")
        metrics.count_dead_letter("made_up")

    warnings = [record for record in caplog.records if "made_up" in record.getMessage()]
    assert len(warnings) == 1


def test_dead_letter_custom_reasons_accepted(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, dead_letter_reasons={"poison_pill"})

    metrics.count_dead_letter("poison_pill")
    metrics.count_dead_letter("invalid_json")

    assert (
        registry.get_sample_value(
            "eql_stream_events_dead_lettered_total", {"reason": "poison_pill"}
        )
        == 1.0
    )
    assert (
        registry.get_sample_value("eql_stream_events_dead_lettered_total", {"reason": OTHER_REASON})
        == 1.0
    )
    assert (
        registry.get_sample_value(
            "eql_stream_events_dead_lettered_total", {"reason": "invalid_json"}
        )
        is None
    )


def test_loaded_rules_set_gauge_and_series(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.set_loaded_rules(["rule-a", "rule-b", "rule-a"])

    assert registry.get_sample_value("eql_stream_rules_loaded") == 2.0
    for rule_id in ("rule-a", "rule-b"):
        assert (
            registry.get_sample_value("eql_stream_alerts_produced_total", {"rule_id": rule_id})
            == 0.0
        )
        assert (
            registry.get_sample_value(
                "eql_stream_rule_evaluation_errors_total", {"rule_id": rule_id}
            )
            == 0.0
        )
        assert (
            registry.get_sample_value(
                "eql_stream_rule_evaluation_problems_total", {"rule_id": rule_id}
            )
            == 0.0
        )


def test_loaded_rules_info_names_rules(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.set_loaded_rules(["rule-a", "rule-b"], {"rule-a": "Net discovery"})

    assert registry.get_sample_value("eql_stream_rule_info", {"rule_id": "rule-a", "rule_name": "Net discovery"}) == 1.0
    info_series = [sample for family in registry.collect() if family.name == "eql_stream_rule_info" for sample in family.samples]
    assert len(info_series) == 1


def test_input_topics_series_start_at_zero(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.set_input_topics(["logs-endpoint", "logs-sysmon"])

    for topic in ("logs-endpoint", "logs-sysmon"):
        assert (
            registry.get_sample_value("eql_stream_events_consumed_total", {"topic": topic}) == 0.0
        )
        assert (
            registry.get_sample_value("eql_stream_events_prefiltered_total", {"topic": topic})
            == 0.0
        )


# --- helpers for values ---------------------------------------------------------------------


def test_build_info_labels(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.set_build_info("1.2.3", librdkafka_version="2.6.0")

    labels = {
        "version": "1.2.3",
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "librdkafka_version": "2.6.0",
    }
    assert registry.get_sample_value("eql_stream_build_info", labels) == 1.0


def test_build_info_default_librdkafka_version(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    import confluent_kafka

    metrics.set_build_info("1.2.3")

    families = {family.name: family for family in registry.collect()}
    (sample,) = families["eql_stream_build_info"].samples
    assert sample.labels["librdkafka_version"] == confluent_kafka.libversion()[0]


def test_alert_latency_observed_in_seconds(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.observe_alert_latency(
        message_timestamp_ms=1_700_000_000_000, acknowledged_at=1_700_000_000.2
    )

    assert registry.get_sample_value("eql_stream_alert_latency_seconds_count") == 1.0
    assert registry.get_sample_value("eql_stream_alert_latency_seconds_sum") == pytest.approx(0.2)
    assert (
        registry.get_sample_value("eql_stream_alert_latency_seconds_bucket", {"le": "0.1"}) == 0.0
    )
    assert (
        registry.get_sample_value("eql_stream_alert_latency_seconds_bucket", {"le": "0.25"}) == 1.0
    )


@pytest.mark.parametrize("timestamp_ms", [0, -1], ids=["zero", "not-available"])
def test_alert_latency_missing_timestamp_ignored(
    timestamp_ms: int, registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.observe_alert_latency(
        message_timestamp_ms=timestamp_ms, acknowledged_at=1_700_000_000.0
    )

    assert registry.get_sample_value("eql_stream_alert_latency_seconds_count") == 0.0


def test_alert_latency_clock_skew_clamped(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.observe_alert_latency(
        message_timestamp_ms=1_700_000_005_000, acknowledged_at=1_700_000_000.0
    )

    assert registry.get_sample_value("eql_stream_alert_latency_seconds_sum") == 0.0
    assert (
        registry.get_sample_value("eql_stream_alert_latency_seconds_bucket", {"le": "0.005"}) == 1.0
    )


def test_commit_success_sets_timestamp(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.record_commit(True, committed_at=1_700_000_000.5)

    assert registry.get_sample_value("eql_stream_offset_commits_total", {"result": "ok"}) == 1.0
    assert (
        registry.get_sample_value("eql_stream_last_offset_commit_timestamp_seconds")
        == 1_700_000_000.5
    )


def test_commit_failure_keeps_timestamp(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.record_commit(True, committed_at=1_700_000_000.5)
    metrics.record_commit(False)

    assert registry.get_sample_value("eql_stream_offset_commits_total", {"result": "error"}) == 1.0
    assert (
        registry.get_sample_value("eql_stream_last_offset_commit_timestamp_seconds")
        == 1_700_000_000.5
    )


# --- librdkafka statistics ------------------------------------------------------------------


def _partition_stats(partition: int, lag: int | None, *, desired: bool = True) -> dict[str, object]:
    # A subset of the fields librdkafka 2.16 emits for a partition assigned to a consumer, with
    # `lag` messages after the stored offset and 10 more after the committed one. A lag of None
    # gives the offsets of a new group that starts at the latest offset and has stored nothing,
    # whose lag is unknown.
    known = lag is not None
    end_offset = 1190 + (lag or 0)
    return {
        "partition": partition,
        "broker": 1,
        "leader": 1,
        "desired": desired,
        "unknown": False,
        "msgq_cnt": 0,
        "fetchq_cnt": 0,
        "fetch_state": "active" if desired else "none",
        "query_offset": -1001 if known else -1,
        "next_offset": end_offset,
        "app_offset": 1190 if known else -1001,
        "stored_offset": 1190 if known else -1001,
        "committed_offset": 1180 if known else -1001,
        "eof_offset": -1001,
        "lo_offset": 0,
        "hi_offset": end_offset,
        "ls_offset": end_offset,
        "consumer_lag": lag + 10 if known else -1,
        "consumer_lag_stored": lag if known else -1,
        "txmsgs": 0,
        "rxmsgs": 1200,
        "msgs": 1200,
    }


def _consumer_stats(partitions: dict[str, dict[str, object]], *, assignment_size: int) -> str:
    payload = {
        "name": "eql-stream#consumer-1",
        "client_id": "eql-stream",
        "type": "consumer",
        "ts": 5016483227792,
        "time": 1700000000,
        "age": 15000000,
        "replyq": 0,
        "msg_cnt": 0,
        "brokers": {
            "localhost:9092/1": {
                "name": "localhost:9092/1",
                "nodeid": 1,
                "state": "UP",
                "toppars": {},
            },
        },
        "topics": {
            "logs-endpoint": {
                "topic": "logs-endpoint",
                "age": 15000,
                "metadata_age": 9000,
                "partitions": {
                    **partitions,
                    "-1": _partition_stats(-1, None, desired=False),
                },
            }
        },
        "cgrp": {
            "state": "up",
            "joinstate": "steady",
            "rebalance_cnt": 1,
            "assignment_size": assignment_size,
        },
    }
    return json.dumps(payload)


def _lag(registry: CollectorRegistry, partition: str) -> float | None:
    return registry.get_sample_value(
        "eql_stream_consumer_lag_messages", {"topic": "logs-endpoint", "partition": partition}
    )


def test_stats_lag_set_per_partition(registry: CollectorRegistry, metrics: Metrics) -> None:
    stats = _consumer_stats(
        {"0": _partition_stats(0, 5), "1": _partition_stats(1, 0), "2": _partition_stats(2, 42)},
        assignment_size=3,
    )

    metrics.update_from_librdkafka_stats(stats)

    assert _lag(registry, "0") == 5.0
    assert _lag(registry, "1") == 0.0
    assert _lag(registry, "2") == 42.0
    assert registry.get_sample_value("eql_stream_assigned_partitions") == 3.0


def test_stats_internal_partition_skipped(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 5)}, assignment_size=1)
    )

    assert _lag(registry, "-1") is None


def test_stats_unknown_lag_skipped(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, None)}, assignment_size=1)
    )

    assert _lag(registry, "0") is None


def test_stats_unknown_lag_keeps_previous(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 7)}, assignment_size=1)
    )
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, None)}, assignment_size=1)
    )

    assert _lag(registry, "0") == 7.0


def test_stats_unassigned_partition_skipped(registry: CollectorRegistry, metrics: Metrics) -> None:
    stats = _consumer_stats(
        {"0": _partition_stats(0, 5), "1": _partition_stats(1, 9, desired=False)}, assignment_size=1
    )

    metrics.update_from_librdkafka_stats(stats)

    assert _lag(registry, "0") == 5.0
    assert _lag(registry, "1") is None


def test_stats_revoked_partition_removed(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats(
            {"0": _partition_stats(0, 5), "1": _partition_stats(1, 6)}, assignment_size=2
        )
    )
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 3)}, assignment_size=1)
    )

    assert _lag(registry, "0") == 3.0
    assert _lag(registry, "1") is None
    assert registry.get_sample_value("eql_stream_assigned_partitions") == 1.0


def test_stats_revoked_after_unknown_lag_removed(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 5)}, assignment_size=1)
    )
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, None)}, assignment_size=1)
    )
    metrics.update_from_librdkafka_stats(_consumer_stats({}, assignment_size=0))

    assert _lag(registry, "0") is None


def test_stats_producer_payload_ignored(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 5)}, assignment_size=1)
    )
    producer_stats = json.loads(_consumer_stats({}, assignment_size=0))
    producer_stats["type"] = "producer"

    metrics.update_from_librdkafka_stats(json.dumps(producer_stats))

    assert _lag(registry, "0") == 5.0
    assert registry.get_sample_value("eql_stream_assigned_partitions") == 1.0


@pytest.mark.parametrize(
    "payload",
    ["", "{not json", "[1, 2]", "null"],
    ids=["empty", "truncated", "array", "null"],
)
def test_stats_invalid_payload_ignored(
    payload: str, registry: CollectorRegistry, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    metrics.update_from_librdkafka_stats(
        _consumer_stats({"0": _partition_stats(0, 5)}, assignment_size=1)
    )

    with caplog.at_level(logging.WARNING, logger="stream.metrics"):
        metrics.update_from_librdkafka_stats(payload)

    assert _lag(registry, "0") == 5.0
    assert any("librdkafka statistics" in record.getMessage() for record in caplog.records)


# Partition statistics with an offset stored 5 messages before the end.
_STORED_5 = {"lo_offset": 0, "hi_offset": 15, "stored_offset": 10, "consumer_lag_stored": 5}


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ({}, {}),
        ({"topics": []}, {}),
        ({"topics": {"t": "not an object"}}, {}),
        ({"topics": {"t": {"partitions": None}}}, {}),
        ({"topics": {"t": {"partitions": {"0": "not an object"}}}}, {}),
        ({"topics": {"t": {"partitions": {"0": _STORED_5}}}}, {("t", "0"): 5}),
        ({"topics": {"t": {"partitions": {"0": {"desired": True, **_STORED_5}}}}}, {("t", "0"): 5}),
        ({"topics": {"t": {"partitions": {"0": {"desired": False, **_STORED_5}}}}}, {}),
        ({"topics": {"t": {"partitions": {"0": {"desired": True}}}}}, {("t", "0"): None}),
        ({"topics": {"t": {"partitions": {"-1": _STORED_5}}}}, {}),
        (
            {
                "topics": {
                    "a": {"partitions": {"0": _STORED_5, "1": {"lo_offset": 7, "hi_offset": 7}}},
                    "b": {"partitions": {"2": _STORED_5, "-1": _STORED_5}},
                }
            },
            {("a", "0"): 5, ("a", "1"): 0, ("b", "2"): 5},
        ),
    ],
    ids=[
        "no-topics",
        "topics-not-object",
        "topic-not-object",
        "partitions-missing",
        "partition-not-object",
        "no-desired-field-counts-as-assigned",
        "desired",
        "not-desired-skipped",
        "unknown-lag-is-none",
        "internal-partition",
        "two-topics",
    ],
)
def test_lags_from_stats_shapes(
    stats: dict[str, object], expected: dict[tuple[str, str], int | None]
) -> None:
    assert consumer_lags_from_stats(stats) == expected


# Offsets of one partition, in librdkafka's statistics fields, and the lag they give. -1001 is
# librdkafka's unknown offset and -1 its unknown lag. query_offset -2 and -1 are the logical
# offsets an offset reset to the earliest and to the latest message leaves.
PARTITION_LAG_CASES = [
    pytest.param(
        {"lo_offset": 0, "hi_offset": 100, "ls_offset": 100, "stored_offset": 90,
         "committed_offset": 50, "consumer_lag_stored": 10, "consumer_lag": 50},
        10,
        id="stored-known",
    ),
    pytest.param(
        {"lo_offset": 0, "hi_offset": 100, "ls_offset": 100, "stored_offset": 100,
         "committed_offset": 50, "consumer_lag_stored": 0, "consumer_lag": 50},
        0,
        id="stored-caught-up-before-commit",
    ),
    pytest.param(
        {"lo_offset": 0, "hi_offset": 100, "ls_offset": 100, "stored_offset": 120,
         "committed_offset": 50, "consumer_lag_stored": -1, "consumer_lag": 50},
        None,
        id="stored-past-end-unknown-not-committed-lag",
    ),
    pytest.param(
        {"lo_offset": 0, "hi_offset": 100, "ls_offset": 100, "stored_offset": -1001,
         "committed_offset": 60, "consumer_lag_stored": -1, "consumer_lag": 40},
        40,
        id="stored-unknown-committed-known",
    ),
    pytest.param(
        {"lo_offset": -1001, "hi_offset": -1001, "ls_offset": -1001, "stored_offset": -1001,
         "committed_offset": 60, "consumer_lag_stored": -1, "consumer_lag": -1},
        None,
        id="committed-known-watermarks-unknown",
    ),
    pytest.param(
        {"query_offset": -2, "lo_offset": 20, "hi_offset": 100, "ls_offset": 100,
         "stored_offset": -1001, "committed_offset": -1001, "consumer_lag_stored": -1,
         "consumer_lag": -1},
        80,
        id="both-unknown-from-earliest",
    ),
    pytest.param(
        {"query_offset": -2, "lo_offset": 0, "hi_offset": 100, "ls_offset": 90,
         "stored_offset": -1001, "committed_offset": -1001},
        90,
        id="both-unknown-from-earliest-open-transaction",
    ),
    pytest.param(
        {"query_offset": -2, "lo_offset": 0, "hi_offset": 100},
        100,
        id="both-unknown-from-earliest-no-ls-offset",
    ),
    pytest.param(
        {"query_offset": -2, "lo_offset": -1001, "hi_offset": -1001, "ls_offset": -1001,
         "stored_offset": -1001, "committed_offset": -1001},
        None,
        id="both-unknown-watermarks-unknown",
    ),
    pytest.param(
        {"query_offset": -1, "lo_offset": 0, "hi_offset": 100, "ls_offset": 100,
         "stored_offset": -1001, "committed_offset": -1001, "consumer_lag_stored": -1,
         "consumer_lag": -1},
        None,
        id="both-unknown-from-latest",
    ),
    pytest.param(
        {"query_offset": -1001, "lo_offset": 0, "hi_offset": 100, "stored_offset": -1001,
         "committed_offset": -1001},
        None,
        id="both-unknown-no-offset-reset",
    ),
    pytest.param(
        {"query_offset": -1, "lo_offset": 0, "hi_offset": 0, "ls_offset": 0,
         "stored_offset": -1001, "committed_offset": -1001, "consumer_lag_stored": -1,
         "consumer_lag": -1},
        0,
        id="empty-partition",
    ),
    pytest.param(
        {"lo_offset": 500, "hi_offset": 500, "ls_offset": 500, "stored_offset": -1001,
         "committed_offset": 300, "consumer_lag_stored": -1, "consumer_lag": 200},
        0,
        id="empty-after-retention",
    ),
    pytest.param(
        {"lo_offset": -1001, "hi_offset": -1001, "stored_offset": -1001,
         "committed_offset": -1001},
        None,
        id="watermarks-unknown-not-empty",
    ),
    pytest.param({"stored_offset": 90, "consumer_lag_stored": "10"}, None, id="lag-string"),
    pytest.param({"stored_offset": 90, "consumer_lag_stored": True}, None, id="lag-bool"),
    pytest.param({"stored_offset": True, "consumer_lag_stored": 10}, None, id="offset-bool"),
    pytest.param({}, None, id="no-fields"),
]  # fmt: skip


@pytest.mark.parametrize(("partition_stats", "expected"), PARTITION_LAG_CASES)
def test_partition_lag_cases(partition_stats: dict[str, object], expected: int | None) -> None:
    assert partition_lag(partition_stats) == expected


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ({}, None),
        ({"cgrp": "up"}, None),
        ({"cgrp": {"state": "up"}}, None),
        ({"cgrp": {"assignment_size": True}}, None),
        ({"cgrp": {"assignment_size": 4}}, 4),
    ],
    ids=["no-group", "group-not-object", "size-missing", "size-bool", "size-set"],
)
def test_assignment_size_from_stats_shapes(stats: dict[str, object], expected: int | None) -> None:
    assert assignment_size_from_stats(stats) == expected


BROKER_RECEIVE_CASES = [
    pytest.param({}, [], id="no-brokers"),
    pytest.param({"brokers": "up"}, [], id="brokers-not-object"),
    pytest.param(
        {"brokers": {"b/1": {"state": "UP", "rxidle": 9_000_000, "stateage": 60_000_000, "toppars": {}}}},
        [BrokerReceive("b/1", False, 9.0, 60.0, True)],
        id="idle-broker",
    ),
    pytest.param(
        {"brokers": {"b/1": {"state": "UP", "rxidle": 300_000, "toppars": {"t-0": {}}}}},
        [BrokerReceive("b/1", True, 0.3, None, True)],
        id="leading-broker",
    ),
    pytest.param(
        {"brokers": {"b/2": {"state": "DOWN", "rxidle": -1, "stateage": 5_000_000, "toppars": {"t-1": {}}}}},
        [BrokerReceive("b/2", True, None, 5.0, False)],
        id="connection-down",
    ),
    pytest.param({"brokers": {"b/1": {"rxidle": True, "toppars": {"t-0": {}}}}}, [BrokerReceive("b/1", True, None, None, False)], id="rxidle-bool"),
]


@pytest.mark.parametrize(("stats", "expected"), BROKER_RECEIVE_CASES)
def test_broker_receives_shapes(stats: dict[str, object], expected: list[BrokerReceive]) -> None:
    assert broker_receives_from_stats(stats) == expected


def _two_broker_payload(second_state: str, second_rxidle: int) -> str:
    """Statistics of a consumer whose partitions are led by two brokers, the second in ``second_state``."""
    return json.dumps({"type": "consumer", "brokers": {
        "b1:9092/1": {"state": "UP", "rxidle": 300_000, "toppars": {"t-0": {}}},
        "b2:9092/2": {"state": second_state, "rxidle": second_rxidle, "stateage": 1_000_000, "toppars": {"t-1": {}}},
        "GroupCoordinator": {"state": "UP", "rxidle": 400_000, "toppars": {}},
    }})


def test_receive_idle_zero_without_partitions(registry: CollectorRegistry, metrics: Metrics) -> None:
    # A standby consumer fetches nothing, so its connections may receive nothing for minutes.
    def standby(rxidle: int) -> str:
        broker = {"state": "UP", "rxidle": rxidle, "toppars": {}}
        return json.dumps({"type": "consumer", "cgrp": {"assignment_size": 0}, "brokers": {"b/1": broker, "GroupCoordinator": broker}})

    metrics.update_from_librdkafka_stats(standby(1_000_000))
    time.sleep(0.3)

    metrics.update_from_librdkafka_stats(standby(200_000_000))

    assert registry.get_sample_value("eql_stream_broker_receive_idle_seconds") == 0.0


def test_receive_idle_follows_stopped_broker(registry: CollectorRegistry, metrics: Metrics) -> None:
    # librdkafka reports no rxidle for a connection that is down, while the other brokers respond.
    metrics.update_from_librdkafka_stats(_two_broker_payload("UP", 45_000_000))
    time.sleep(0.3)

    metrics.update_from_librdkafka_stats(_two_broker_payload("DOWN", -1))

    assert registry.get_sample_value("eql_stream_broker_receive_idle_seconds") >= 45.3


def test_receive_idle_gauge_set(registry: CollectorRegistry, metrics: Metrics) -> None:
    payload = {"type": "consumer", "brokers": {"b/1": {"rxidle": 2_500_000, "toppars": {"t-0": {}}}}}

    metrics.update_from_librdkafka_stats(json.dumps(payload))

    assert registry.get_sample_value("eql_stream_broker_receive_idle_seconds") == pytest.approx(2.5, abs=0.1)


def test_receive_idle_grows_without_brokers(registry: CollectorRegistry, metrics: Metrics) -> None:
    # A stopped broker's handle disappears from the payload, so the gauge counts from the last receive.
    metrics.update_from_librdkafka_stats(json.dumps({"type": "consumer", "brokers": {"b/1": {"rxidle": 1_000_000, "toppars": {"t-0": {}}}}}))
    time.sleep(0.3)

    metrics.update_from_librdkafka_stats(json.dumps({"type": "consumer", "brokers": {"b/bootstrap": {"rxidle": -1, "toppars": {}}}}))

    assert registry.get_sample_value("eql_stream_broker_receive_idle_seconds") >= 1.3


def test_receive_idle_counts_from_first_payload(registry: CollectorRegistry, metrics: Metrics) -> None:
    silent = json.dumps({"type": "consumer", "brokers": {"b/bootstrap": {"rxidle": -1, "toppars": {}}}})
    metrics.update_from_librdkafka_stats(silent)
    time.sleep(0.3)

    metrics.update_from_librdkafka_stats(silent)

    assert registry.get_sample_value("eql_stream_broker_receive_idle_seconds") >= 0.3


def test_lags_from_real_consumer_stats() -> None:
    # librdkafka emits statistics without a broker, so an unreachable local
    # address is enough. Lags stay unknown, but assigned partitions appear.
    payloads: list[str] = []
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "group.id": "eql-stream-metrics-test",
            "statistics.interval.ms": 100,
            "stats_cb": payloads.append,
            "log_level": 0,
        }
    )
    try:
        partitions = [confluent_kafka.TopicPartition("logs-endpoint", number) for number in (0, 3)]
        consumer.assign(partitions)
        assigned = _poll_until_stats(consumer, payloads, lambda lags: len(lags) == 2)
        assert assigned == {("logs-endpoint", "0"): None, ("logs-endpoint", "3"): None}

        consumer.unassign()
        unassigned = _poll_until_stats(consumer, payloads, lambda lags: not lags)
        assert unassigned == {}
    finally:
        consumer.close()


def test_lags_from_real_broker_stats(
    kafka_bootstrap: str, kafka_topic_factory: Callable[..., str], kafka_group_id: str
) -> None:
    # A new group reads partition 0 (10 messages) and the empty partition 1 from the earliest
    # offset, stores offsets as the service does, and never commits.
    topic = kafka_topic_factory(partitions=2)
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_bootstrap})
    for _ in range(10):
        producer.produce(topic, b"event", partition=0)
    assert producer.flush(30) == 0

    payloads: list[str] = []
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": kafka_group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "statistics.interval.ms": 100,
            "stats_cb": payloads.append,
        }
    )
    try:
        consumer.subscribe([topic])
        messages = _consume_until(consumer, 10)

        nothing_stored = _poll_until_stats(
            consumer, payloads, lambda lags: lags.get((topic, "0")) == 10, rounds=100
        )
        assert nothing_stored == {(topic, "0"): 10, (topic, "1"): 0}

        consumer.store_offsets(message=messages[3])
        four_stored = _poll_until_stats(consumer, payloads, lambda lags: lags.get((topic, "0")) == 6)
        assert four_stored[(topic, "0")] == 6

        consumer.store_offsets(message=messages[-1])
        all_stored = _poll_until_stats(consumer, payloads, lambda lags: lags.get((topic, "0")) == 0)
        assert all_stored == {(topic, "0"): 0, (topic, "1"): 0}

        partition_stats = json.loads(payloads[-1])["topics"][topic]["partitions"]["0"]
        assert partition_stats["committed_offset"] == -1001
        assert partition_stats["consumer_lag"] == -1
        # The broker responds to each fetch within fetch.wait.max.ms (500 ms) even with nothing to send.
        leading = [receive for receive in broker_receives_from_stats(json.loads(payloads[-1])) if receive.leads_partitions]
        assert leading
        assert all(receive.idle is not None and receive.idle < 5.0 for receive in leading)
    finally:
        consumer.close()


def _consume_until(consumer: confluent_kafka.Consumer, count: int) -> list[confluent_kafka.Message]:
    messages: list[confluent_kafka.Message] = []
    for _ in range(300):
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            messages.append(message)
        if len(messages) >= count:
            break
    assert len(messages) == count, f"consumed {len(messages)} of {count} messages"
    return messages


def _poll_until_stats(
    consumer: confluent_kafka.Consumer,
    payloads: list[str],
    condition: Callable[[dict[tuple[str, str], int | None]], bool],
    *,
    rounds: int = 50,
) -> dict[tuple[str, str], int | None]:
    lags: dict[tuple[str, str], int | None] = {}
    for _ in range(rounds):
        consumer.poll(0.1)
        if payloads:
            lags = consumer_lags_from_stats(json.loads(payloads[-1]))
            if condition(lags):
                break
    return lags


# --- health flags ---------------------------------------------------------------------------


def test_health_initially_alive_not_ready() -> None:
    health = HealthState()

    assert health.alive
    assert not health.ready
    assert health.readiness().reason == "starting"


def test_health_default_failure_reasons() -> None:
    health = HealthState()

    health.set_alive(False)
    health.set_ready(False)

    assert health.liveness().reason == "not alive"
    assert health.readiness().reason == "not ready"


def test_health_ready_gauge_follows(registry: CollectorRegistry, metrics: Metrics) -> None:
    health = HealthState(ready_gauge=metrics.ready)
    assert registry.get_sample_value("eql_stream_ready") == 0.0

    health.set_ready(True)
    assert registry.get_sample_value("eql_stream_ready") == 1.0

    health.set_ready(False, "partitions revoked")
    assert registry.get_sample_value("eql_stream_ready") == 0.0


def test_health_changes_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    health = HealthState()

    with caplog.at_level(logging.INFO, logger="stream.health"):
        health.set_ready(True)
        health.set_ready(True)
        health.set_ready(False, "broker unreachable")

    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "readiness changed to ok",
        "readiness changed to failing: broker unreachable",
    ]


# --- HTTP endpoint --------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def _request(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> Response:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return Response(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers), error.read().decode())


@pytest.fixture
def health(metrics: Metrics) -> HealthState:
    return HealthState(ready_gauge=metrics.ready)


@pytest.fixture
def server(registry: CollectorRegistry, health: HealthState) -> Iterator[MetricsServer]:
    running = start_metrics_server(registry, health, "127.0.0.1", 0)
    yield running
    running.stop()


def test_server_port_zero_picks_free_port(server: MetricsServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_server_metrics_text_format(server: MetricsServer, metrics: Metrics) -> None:
    metrics.events_consumed.labels(topic="logs-endpoint").inc(4)

    response = _request(f"{server.url}/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'eql_stream_events_consumed_total{topic="logs-endpoint"} 4.0' in response.body
    for case in METRIC_CASES.values():
        assert f"# TYPE {case.family}" in response.body


def test_server_metrics_openmetrics_on_request(server: MetricsServer) -> None:
    response = _request(
        f"{server.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert "# TYPE eql_stream_events_consumed counter" in response.body
    assert response.body.endswith("# EOF\n")


def test_server_healthz_follows_liveness(server: MetricsServer, health: HealthState) -> None:
    alive = _request(f"{server.url}/healthz")
    assert alive.status == 200
    assert alive.body == "ok\n"

    health.set_alive(False, "main loop stalled for 120 s")
    dead = _request(f"{server.url}/healthz")
    assert dead.status == 503
    assert dead.body == "main loop stalled for 120 s\n"


def test_server_readyz_follows_readiness(server: MetricsServer, health: HealthState) -> None:
    starting = _request(f"{server.url}/readyz")
    assert starting.status == 503
    assert starting.body == "starting\n"

    health.set_ready(True)
    ready = _request(f"{server.url}/readyz")
    assert ready.status == 200
    assert ready.body == "ok\n"

    health.set_ready(False, "no partitions assigned")
    revoked = _request(f"{server.url}/readyz")
    assert revoked.status == 503
    assert revoked.body == "no partitions assigned\n"


def test_server_ready_gauge_scraped(server: MetricsServer, health: HealthState) -> None:
    health.set_ready(True)

    response = _request(f"{server.url}/metrics")

    assert "eql_stream_ready 1.0" in response.body


def test_server_probe_head_has_no_body(server: MetricsServer) -> None:
    response = _request(f"{server.url}/healthz", method="HEAD")

    assert response.status == 200
    assert response.body == ""


@pytest.mark.parametrize("path", ["/", "/metrics/", "/health", "/readyz/extra", "/favicon.ico"])
def test_server_unknown_path_not_found(path: str, server: MetricsServer) -> None:
    response = _request(f"{server.url}{path}")

    assert response.status == 404
    assert "/metrics" in response.body


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_server_post_not_allowed(path: str, server: MetricsServer) -> None:
    response = _request(f"{server.url}{path}", method="POST")

    assert response.status == 405
    assert "GET" in response.headers["Allow"]


def test_server_stop_frees_port(registry: CollectorRegistry, health: HealthState) -> None:
    running = start_metrics_server(registry, health, "127.0.0.1", 0)
    port = running.port
    assert _request(f"{running.url}/healthz").status == 200

    running.stop()
    running.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with start_metrics_server(registry, health, "127.0.0.1", port) as restarted:
        assert _request(f"{restarted.url}/healthz").status == 200


def test_server_ipv6_loopback(registry: CollectorRegistry, health: HealthState) -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python was built without IPv6 support")
    try:
        running = start_metrics_server(registry, health, "::1", 0)
    except ConfigError as error:
        pytest.skip(f"no IPv6 loopback on this host: {error}")

    with running:
        assert running.url == f"http://[::1]:{running.port}"
        assert _request(f"{running.url}/healthz").status == 200


def test_server_port_in_use_rejected(registry: CollectorRegistry, health: HealthState) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]

        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}") as raised:
            start_metrics_server(registry, health, "127.0.0.1", port)

    assert "choose another --metrics-port" in str(raised.value)


BAD_METRICS_ADDRESS_CASES = [
    pytest.param("127.0.0.256", "fix --metrics-host", id="unresolvable-host"),
    pytest.param("192.0.2.1", "belongs to no interface", id="address-of-another-host"),
]


@pytest.mark.parametrize(("host", "fix"), BAD_METRICS_ADDRESS_CASES)
def test_server_bad_host_names_fix(host: str, fix: str, registry: CollectorRegistry, health: HealthState) -> None:
    with pytest.raises(ConfigError, match=f"{host}:0") as raised:
        start_metrics_server(registry, health, host, 0)

    assert fix in str(raised.value)


# --- multi-process mode ---------------------------------------------------------------------

_WORKER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from prometheus_client import CollectorRegistry
    from stream.metrics import Metrics

    worker, lag = int(sys.argv[1]), int(sys.argv[2])
    metrics = Metrics(CollectorRegistry())
    metrics.set_build_info("0.0.0-test", librdkafka_version="2.6.0")
    metrics.set_loaded_rules(["rule-a", "rule-b"])
    metrics.events_consumed.labels(topic="logs-endpoint").inc(10 * worker)
    metrics.count_dead_letter("made_up")
    metrics.assigned_partitions.set(1)
    metrics.update_from_librdkafka_stats(json.dumps({
        "type": "consumer",
        "topics": {
            "logs-endpoint": {
                "partitions": {
                    str(worker): {"desired": True, "stored_offset": 100, "consumer_lag_stored": lag}
                }
            }
        },
        "cgrp": {"assignment_size": 1},
    }))
    """
)


def test_multiprocess_registry_merges_workers(tmp_path: Path, health: HealthState) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for worker, lag in ((1, 5), (2, 8)):
        subprocess.run(
            [sys.executable, "-c", _WORKER_SCRIPT, str(worker), str(lag)],
            env=environment,
            check=True,
            timeout=60,
        )

    served = multiprocess_registry(str(directory))

    assert (
        served.get_sample_value("eql_stream_events_consumed_total", {"topic": "logs-endpoint"})
        == 30.0
    )
    assert (
        served.get_sample_value("eql_stream_events_dead_lettered_total", {"reason": OTHER_REASON})
        == 2.0
    )
    assert served.get_sample_value("eql_stream_rules_loaded") == 2.0
    assert served.get_sample_value("eql_stream_assigned_partitions") == 2.0
    assert (
        served.get_sample_value(
            "eql_stream_consumer_lag_messages", {"topic": "logs-endpoint", "partition": "1"}
        )
        == 5.0
    )
    assert (
        served.get_sample_value(
            "eql_stream_consumer_lag_messages", {"topic": "logs-endpoint", "partition": "2"}
        )
        == 8.0
    )

    with start_metrics_server(served, health, "127.0.0.1", 0) as server:
        response = _request(f"{server.url}/metrics")
    assert response.status == 200
    assert 'eql_stream_build_info{librdkafka_version="2.6.0"' in response.body


def test_multiprocess_registry_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multi-process directory"):
        multiprocess_registry(str(tmp_path / "absent"))


# --- process metrics of several processes ---------------------------------------------------


@pytest.fixture
def sleeping_child() -> Iterator[subprocess.Popen[bytes]]:
    """A child process that sleeps until the test ends."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


def _process_families(collector: LabelledProcessCollector | ProcessCollector) -> dict[str, Metric]:
    return {family.name: family for family in collector.collect()}


_NEEDS_PROC = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="ProcessCollector reads /proc, which only Linux has"
)


@_NEEDS_PROC
def test_labelled_process_collector_labels_each_process(sleeping_child: subprocess.Popen[bytes]) -> None:
    collector = LabelledProcessCollector(lambda: {"main": os.getpid(), "worker-0": sleeping_child.pid})
    registry = CollectorRegistry()
    registry.register(collector)

    families = _process_families(collector)

    assert len(families) == 6
    for family in families.values():
        assert [sample.labels for sample in family.samples] == [{"process": "main"}, {"process": "worker-0"}], family.name
    child_families = _process_families(ProcessCollector(pid=lambda: sleeping_child.pid, registry=None))
    expected_start = child_families["process_start_time_seconds"].samples[0].value
    assert registry.get_sample_value("process_start_time_seconds", {"process": "worker-0"}) == expected_start
    assert registry.get_sample_value("process_resident_memory_bytes", {"process": "main"}) > 0
    assert registry.get_sample_value("process_cpu_seconds_total", {"process": "main"}) > 0
    assert registry.get_sample_value("process_start_time_seconds") is None


@_NEEDS_PROC
def test_labelled_process_collector_keeps_families() -> None:
    plain = _process_families(ProcessCollector(registry=None))

    labelled = _process_families(LabelledProcessCollector(lambda: {"main": os.getpid()}))

    assert list(labelled) == list(plain)
    for name, family in labelled.items():
        assert (family.type, family.documentation, family.unit) == (plain[name].type, plain[name].documentation, plain[name].unit)
        assert [sample.name for sample in family.samples] == [sample.name for sample in plain[name].samples]


def test_labelled_process_collector_skips_exited_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)

    families = _process_families(LabelledProcessCollector(lambda: {"main": os.getpid(), "worker-0": child.pid}))

    labels = {sample.labels["process"] for family in families.values() for sample in family.samples}
    assert "worker-0" not in labels


@_NEEDS_PROC
def test_multiprocess_registry_process_metrics_when_requested(tmp_path: Path) -> None:
    without = multiprocess_registry(str(tmp_path))
    with_processes = multiprocess_registry(str(tmp_path), lambda: {"main": os.getpid()})

    assert not [family for family in without.collect() if family.name.startswith("process_")]
    assert with_processes.get_sample_value("process_max_fds", {"process": "main"}) > 0


# --- evaluation problems counted by the service ----------------------------------------------


class _EventMessage:
    """The parts of a consumed Kafka message that the service's message handling reads."""

    def __init__(self, value: bytes, offset: int) -> None:
        self._value = value
        self._offset = offset

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return confluent_kafka.TIMESTAMP_CREATE_TIME, 1_700_000_000_000

    def value(self) -> bytes:
        return self._value


def test_service_counts_and_logs_evaluation_problem(
    registry: CollectorRegistry, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    from stream.config_loading import load_settings
    from stream.ruleset import load_rule_set
    from stream.service import DetectionService

    rule_set, _ = load_rule_set(queries=["process where divide(process.pid, 0) == 1"])
    (compiled,) = rule_set.rules
    rule_id = compiled.rule.rule_id
    metrics.set_loaded_rules(rule_set.rule_ids)
    # No broker: the clients are built but never connect within the test, and no alert is produced.
    flags = {"bootstrap_servers": "127.0.0.1:1", "input_topics": ["events"], "output_topic": "alerts", "group_id": "g"}
    service = DetectionService(load_settings(flags, {}, None), rule_set, metrics, HealthState(ready_gauge=metrics.ready))
    event = b'{"event": {"category": ["process"]}, "process": {"pid": 3}}'

    try:
        with caplog.at_level(logging.WARNING, logger="stream.service"):
            for offset in (5, 6):
                service._handle_message(_EventMessage(event, offset))  # type: ignore[arg-type]
    finally:
        service._consumer.close()

    assert registry.get_sample_value("eql_stream_rule_evaluation_problems_total", {"rule_id": rule_id}) == 2.0
    # A problem does not dead-letter the message, because the rule's result is only null.
    assert service._records.take_acknowledged_dead_letters() == {}
    assert service._offsets.in_flight() == 0
    # The second problem of the rule within 30 s is counted but not logged.
    # The Kafka clients log their failed connections too.
    warnings = [record for record in caplog.records if record.funcName == "_report_evaluation_problems"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert rule_id in warnings[0].getMessage()
    assert "events/0/5" in warnings[0].getMessage()
    assert "integer division by zero in divide(3, 0)" in warnings[0].getMessage()
