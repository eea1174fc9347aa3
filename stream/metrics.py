"""Prometheus metrics of the eql-stream service.

All metrics live on one :class:`Metrics` object that registers them on the
registry passed in, so tests and the service never share the process-wide
default registry by accident. Every label takes values from a bounded set,
which each metric's help text names.

Multi-process deployments (``PROMETHEUS_MULTIPROC_DIR`` set before
``prometheus_client`` is first imported) work as follows. Each worker builds
``Metrics`` on a private ``CollectorRegistry`` that is never served, and one
process serves :func:`multiprocess_registry`. Every gauge declares the
``multiprocess_mode`` that aggregates it correctly across workers.
"""

from __future__ import annotations

import json
import logging
import platform
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import confluent_kafka
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from stream.errors import ConfigError
from stream.librdkafka_stats import BrokerReceive, assignment_size_from_stats, broker_receives_from_stats, consumer_lags_from_stats

__all__ = [
    "ALERT_LATENCY_BUCKETS_SECONDS",
    "BATCH_DURATION_BUCKETS_SECONDS",
    "BATCH_SIZE_BUCKETS_MESSAGES",
    "DEAD_LETTER_REASONS",
    "OTHER_REASON",
    "PROCESS_LABEL",
    "LabelledProcessCollector",
    "Metrics",
    "multiprocess_registry",
]

_log = logging.getLogger(__name__)

OTHER_REASON = "other"
"""Dead-letter reason label that replaces any reason outside the known set."""

DEAD_LETTER_REASONS: frozenset[str] = frozenset(
    {
        # The payload is not valid UTF-8.
        "invalid_utf8",
        # The payload is not valid JSON.
        "invalid_json",
        # A field contains a value its mapping cannot index, such as text in a numeric field.
        "invalid_field_type",
        # The payload does not decode with its Avro schema.
        "invalid_avro",
        # The Schema Registry wire-format header is missing or malformed.
        "invalid_framing",
        # The Schema Registry has no schema for the payload's schema id.
        "schema_not_found",
        # The payload decodes to a value other than a JSON object or an Avro record.
        "not_an_object",
        # A rule raised while evaluating the event.
        "evaluation_failed",
        # The broker rejected an alert built from the event, for example as too large.
        "alert_rejected",
    }
)
"""Default dead-letter reasons: the decoders' ``DecodeError.reason`` tokens and pipeline failures.

NOTE: the decoders must raise exactly these tokens, because any other is counted as ``"other"``.
"""

PRODUCE_TOPIC_KINDS: tuple[str, ...] = ("alerts", "dead_letter")
COMMIT_RESULTS: tuple[str, ...] = ("ok", "error")
REBALANCE_KINDS: tuple[str, ...] = ("assign", "revoke", "lost")

ALERT_LATENCY_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
"""Buckets from 5 ms to 10 minutes. Longer latency means a backlog, which +Inf still counts."""

BATCH_DURATION_BUCKETS_SECONDS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

BATCH_SIZE_BUCKETS_MESSAGES: tuple[float, ...] = (
    1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip

PROCESS_LABEL = "process"
"""Label whose value names the process of each ``process_*`` series of a multi-process endpoint."""


class Metrics:
    """The service's counters, gauges and histograms, registered on one registry.

    Hot-path code should increment a counter once per batch with the batch's
    count, because each ``labels(...)`` call takes a lock and a dictionary lookup.
    Label values that come from configuration (topics, rule ids) are bounded by
    that configuration.

    Raises ``ValueError`` from ``prometheus_client`` when ``registry`` already
    contains a metric of the same name, for example a second ``Metrics`` on it.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        dead_letter_reasons: Collection[str] = DEAD_LETTER_REASONS,
    ) -> None:
        self._dead_letter_reasons = frozenset(dead_letter_reasons) | {OTHER_REASON}
        self._unknown_reasons_logged: set[str] = set()
        self._lag_lock = threading.Lock()
        self._lag_series: set[tuple[str, str]] = set()
        # time.monotonic() of the last receive from any broker, and of the last receive from each broker
        # of the latest statistics payload that has received anything.
        self._last_receive_at: float | None = None
        self._last_receive_by_broker: dict[str, float] = {}

        self.events_consumed = Counter(
            "eql_stream_events_consumed_total",
            "Messages read from an input topic. Label topic: one of the configured input topics.",
            ["topic"],
            registry=registry,
        )
        self.events_prefiltered = Counter(
            "eql_stream_events_prefiltered_total",
            "Messages skipped by the raw-bytes prefilter because no rule can match them. "
            "Label topic: one of the configured input topics.",
            ["topic"],
            registry=registry,
        )
        self.events_dead_lettered = Counter(
            "eql_stream_events_dead_lettered_total",
            "Messages sent to the dead-letter topic. Label reason: one of the known "
            "dead-letter reasons, or 'other'.",
            ["reason"],
            registry=registry,
        )
        self.alerts_produced = Counter(
            "eql_stream_alerts_produced_total",
            "Alerts acknowledged by the broker, counted when the service serves their delivery reports "
            "(a rejected alert is counted as a dead letter instead). Label rule_id: the id of a loaded rule.",
            ["rule_id"],
            registry=registry,
        )
        self.rule_evaluation_errors = Counter(
            "eql_stream_rule_evaluation_errors_total",
            "Events on which a rule raised instead of returning a verdict. "
            "Label rule_id: the id of a loaded rule.",
            ["rule_id"],
            registry=registry,
        )
        self.rule_evaluation_problems = Counter(
            "eql_stream_rule_evaluation_problems_total",
            "Errors for which Elasticsearch fails the rule's search (integer overflow, integer division by zero, "
            "an unparsable number() argument), met while a rule evaluated an event. The condition that met one "
            "counts as false. Counted once per distinct error, rule and event. Label rule_id: the id of a loaded rule.",
            ["rule_id"],
            registry=registry,
        )
        self.produce_errors = Counter(
            "eql_stream_produce_errors_total",
            "Messages the producer failed to deliver. Label topic_kind: 'alerts' or 'dead_letter'.",
            ["topic_kind"],
            registry=registry,
        )
        self.offset_commits = Counter(
            "eql_stream_offset_commits_total",
            "Offset commit requests by outcome. Label result: 'ok' or 'error'.",
            ["result"],
            registry=registry,
        )
        self.rebalances = Counter(
            "eql_stream_rebalances_total",
            "Consumer group rebalance callbacks. Label kind: 'assign', 'revoke' or 'lost'.",
            ["kind"],
            registry=registry,
        )

        self.alert_latency = Histogram(
            "eql_stream_alert_latency_seconds",
            "Time from a source message's Kafka timestamp to the broker's acknowledgement "
            "of its alert.",
            buckets=ALERT_LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.batch_duration = Histogram(
            "eql_stream_batch_duration_seconds",
            "Time to prefilter, decode, match and enqueue the output of one consumed batch.",
            buckets=BATCH_DURATION_BUCKETS_SECONDS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "eql_stream_batch_size_messages",
            "Messages in one consumed batch.",
            buckets=BATCH_SIZE_BUCKETS_MESSAGES,
            registry=registry,
        )

        # Each partition belongs to one worker at a time, and its new owner
        # reports it after the old one stops, so the most recent value is right.
        self.consumer_lag = Gauge(
            "eql_stream_consumer_lag_messages",
            "Messages not yet processed: the partition's end offset minus the offset the consumer "
            "stores once every output of a message is acknowledged. Before the first store, it "
            "counts from the committed offset, or from the low watermark for a new group that "
            "starts at the earliest offset. 0 for an empty partition. From librdkafka statistics. "
            "Labels: an assigned input topic and partition.",
            ["topic", "partition"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.broker_receive_idle = Gauge(
            "eql_stream_broker_receive_idle_seconds",
            "Seconds since the consumer last received data from the slowest broker that leads one of its "
            "assigned partitions, or from any broker when none responds at all. Brokers that respond keep it "
            "near the fetch long-poll time (fetch.wait.max.ms, 500 ms by default), so a value of many seconds "
            "means a broker that does not respond. From librdkafka statistics (rxidle), updated every 5 s.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.assigned_partitions = Gauge(
            "eql_stream_assigned_partitions",
            "Partitions currently assigned to this consumer, from librdkafka statistics.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rules_loaded = Gauge(
            "eql_stream_rules_loaded",
            "Rules compiled and evaluated by this process.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.rule_info = Gauge(
            "eql_stream_rule_info",
            "Always 1, one series per loaded rule. Labels: the rule id, as in the per-rule metrics, and "
            "the rule's name, so that a query can show names with a join on rule_id.",
            ["rule_id", "rule_name"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "eql_stream_ready",
            "1 while this process reports ready on /readyz, else 0.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        # "liveall" keeps one series per worker, because the oldest commit of
        # any worker is what a stalled-commit alert must see.
        self.last_offset_commit = Gauge(
            "eql_stream_last_offset_commit_timestamp_seconds",
            "Unix time of the last successful offset commit, 0 before the first one.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.build_info = Gauge(
            "eql_stream_build_info",
            "Always 1. Labels: the eql-stream version, the Python version and the librdkafka "
            "version.",
            ["version", "python_version", "librdkafka_version"],
            registry=registry,
            multiprocess_mode="livemax",
        )

        self._initialize_fixed_label_series()

    def _initialize_fixed_label_series(self) -> None:
        # Series that exist at 0 let rate() and absence alerts work before the first event.
        for reason in sorted(self._dead_letter_reasons):
            self.events_dead_lettered.labels(reason=reason)
        for topic_kind in PRODUCE_TOPIC_KINDS:
            self.produce_errors.labels(topic_kind=topic_kind)
        for result in COMMIT_RESULTS:
            self.offset_commits.labels(result=result)
        for kind in REBALANCE_KINDS:
            self.rebalances.labels(kind=kind)

    def set_build_info(self, version: str, librdkafka_version: str | None = None) -> None:
        """Set ``eql_stream_build_info`` to 1 with the version labels.

        ``librdkafka_version`` defaults to the version the installed
        confluent-kafka links against. Call this once per process.
        """
        if librdkafka_version is None:
            librdkafka_version = confluent_kafka.libversion()[0]

        self.build_info.labels(
            version=version,
            python_version=platform.python_version(),
            librdkafka_version=librdkafka_version,
        ).set(1)

    def set_loaded_rules(self, rule_ids: Iterable[str], names: Mapping[str, str] | None = None) -> None:
        """Set ``eql_stream_rules_loaded`` and create the per-rule series at 0.

        ``names`` maps rule ids to rule names for ``eql_stream_rule_info``; a
        rule id without a name there gets no info series.
        """
        unique_ids = sorted(set(rule_ids))
        for rule_id in unique_ids:
            self.alerts_produced.labels(rule_id=rule_id)
            self.rule_evaluation_errors.labels(rule_id=rule_id)
            self.rule_evaluation_problems.labels(rule_id=rule_id)
            if names and rule_id in names:
                self.rule_info.labels(rule_id=rule_id, rule_name=names[rule_id]).set(1)

        self.rules_loaded.set(len(unique_ids))

    def set_input_topics(self, topics: Iterable[str]) -> None:
        """Create the per-topic series at 0 for the configured input topics."""
        for topic in topics:
            self.events_consumed.labels(topic=topic)
            self.events_prefiltered.labels(topic=topic)

    def count_dead_letter(self, reason: str, count: int = 1) -> None:
        """Add ``count`` dead-lettered messages under ``reason``.

        A reason outside the known set is counted as ``"other"``, so a new
        failure kind cannot grow the label set. The first use of each such
        reason is logged as a warning.
        """
        if reason not in self._dead_letter_reasons:
            self._log_unknown_reason(reason)
            reason = OTHER_REASON

        self.events_dead_lettered.labels(reason=reason).inc(count)

    def _log_unknown_reason(self, reason: str) -> None:
        if reason in self._unknown_reasons_logged:
            return

        # The set only grows with distinct bad reasons, which come from code, not data.
        self._unknown_reasons_logged.add(reason)
        _log.warning(
            "dead-letter reason %r is not in the known set, so it is counted as %r. "
            "Add it to the dead_letter_reasons passed to Metrics to count it separately",
            reason,
            OTHER_REASON,
        )

    def observe_alert_latency(
        self, message_timestamp_ms: int, acknowledged_at: float | None = None
    ) -> None:
        """Record the time from a message's Kafka timestamp to its alert's acknowledgement.

        ``message_timestamp_ms`` is the Kafka timestamp in milliseconds since
        the epoch. A value of 0 or less means that the message has no
        timestamp, and nothing is recorded. ``acknowledged_at`` is a Unix time
        in seconds and defaults to now. A negative latency, which clock skew
        between producer and service can cause, is recorded as 0.
        """
        if message_timestamp_ms <= 0:
            return

        if acknowledged_at is None:
            acknowledged_at = time.time()

        latency_seconds = acknowledged_at - message_timestamp_ms / 1000.0
        self.alert_latency.observe(max(latency_seconds, 0.0))

    def record_commit(self, succeeded: bool, committed_at: float | None = None) -> None:
        """Count one offset commit result and, on success, store its Unix time in seconds."""
        if not succeeded:
            self.offset_commits.labels(result="error").inc()
            return

        self.offset_commits.labels(result="ok").inc()
        self.last_offset_commit.set(time.time() if committed_at is None else committed_at)

    def update_from_librdkafka_stats(self, stats_json: str) -> None:
        """Update the consumer gauges from one librdkafka statistics payload.

        ``stats_json`` is the string librdkafka passes to the ``stats_cb``
        callback every ``statistics.interval.ms``. Payloads from a producer are
        ignored. Each lag is measured by :func:`stream.librdkafka_stats.partition_lag`.
        Lag series of partitions absent from the payload are removed,
        because the consumer no longer owns them. A partition whose lag is
        still unknown keeps its previous value. An invalid payload is logged
        and ignored, because an exception raised in ``stats_cb`` propagates out
        of the consumer's ``poll()`` (confluent-kafka 2.16).

        NOTE: prometheus_client 0.26 cannot remove series in multi-process
        mode. There a revoked partition keeps its last value until another
        worker reports it or this worker exits.
        """
        try:
            stats = json.loads(stats_json)
        except (TypeError, ValueError) as exc:
            _log.warning("ignored librdkafka statistics that are not valid JSON: %s", exc)
            return

        if not isinstance(stats, dict):
            _log.warning("ignored librdkafka statistics whose top level is not a JSON object")
            return

        if stats.get("type") != "consumer":
            return

        assignment_size = assignment_size_from_stats(stats)
        if assignment_size is not None:
            self.assigned_partitions.set(assignment_size)

        self._update_broker_receive_idle(stats, assignment_size)

        self._replace_lag_series(consumer_lags_from_stats(stats))

    def _update_broker_receive_idle(self, stats: Mapping[str, Any], assignment_size: int | None) -> None:
        """Set the receive-idle gauge from one statistics payload and the assignment size read from it.

        The value is the largest of two times. First, for each broker that
        leads an assigned partition, the time since its last receive. For a
        connection that is down, librdkafka reports none, so it is counted
        from the last receive seen on that broker, or else from its last state
        change. Second, the time since any broker sent anything, which covers
        brokers whose handles librdkafka has dropped. It counts only while the
        consumer has assigned partitions or no connection is up. A consumer
        without partitions (a standby instance, or a worker beyond the
        partition count) fetches nothing, so its connections may receive
        nothing for minutes while the brokers work.
        """
        now = time.monotonic()
        receives = broker_receives_from_stats(stats)
        self._last_receive_by_broker = {
            receive.name: now - receive.idle if receive.idle is not None else self._last_receive_by_broker[receive.name]
            for receive in receives
            if receive.idle is not None or receive.name in self._last_receive_by_broker
        }
        if self._last_receive_by_broker:
            latest = max(self._last_receive_by_broker.values())
            self._last_receive_at = latest if self._last_receive_at is None else max(self._last_receive_at, latest)
        elif self._last_receive_at is None:
            # No broker has sent anything since start, so count from the first payload.
            self._last_receive_at = now

        fetching = [self._broker_idle(receive, now) for receive in receives if receive.leads_partitions]
        if (assignment_size is not None and assignment_size > 0) or not any(receive.connected for receive in receives):
            silent = now - self._last_receive_at
        else:
            silent = 0.0
        self.broker_receive_idle.set(max([silent, *(idle for idle in fetching if idle is not None)]))

    def _broker_idle(self, receive: BrokerReceive, now: float) -> float | None:
        """Return how long the broker of ``receive`` has sent nothing, or None when that is unknown."""
        if receive.idle is not None:
            return receive.idle
        if receive.name in self._last_receive_by_broker:
            return now - self._last_receive_by_broker[receive.name]
        return receive.state_age

    def _replace_lag_series(self, lags: Mapping[tuple[str, str], int | None]) -> None:
        # The lock keeps the set of exported series in step with the gauge when
        # statistics arrive from more than one thread.
        with self._lag_lock:
            for topic, partition in self._lag_series - lags.keys():
                self.consumer_lag.remove(topic, partition)

            exported = self._lag_series & lags.keys()
            for (topic, partition), lag in lags.items():
                if lag is None:
                    continue

                self.consumer_lag.labels(topic=topic, partition=partition).set(lag)
                exported.add((topic, partition))

            self._lag_series = exported


def multiprocess_registry(
    directory: str, process_ids: Callable[[], Mapping[str, int]] | None = None
) -> CollectorRegistry:
    """Build a registry that merges the metric files every worker writes to ``directory``.

    ``directory`` must be the ``PROMETHEUS_MULTIPROC_DIR`` the workers were
    started with. Serve the returned registry, and register no metrics on it,
    because the collector already exports every metric found in the files.
    With ``process_ids``, the registry also exports the ``process_*`` metrics
    of every process it returns, labelled ``process`` (see
    :class:`LabelledProcessCollector`), because the files contain none.

    Raises ``ConfigError`` when ``directory`` is not an existing directory.
    """
    registry = CollectorRegistry()
    try:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ConfigError(
            f"invalid Prometheus multi-process directory {directory!r}: {exc}. "
            "Create it before starting the workers, and pass the PROMETHEUS_MULTIPROC_DIR they use"
        ) from exc

    if process_ids is not None:
        registry.register(LabelledProcessCollector(process_ids))
    return registry


class LabelledProcessCollector:
    """prometheus_client's process metrics of several processes, with a label that names the process.

    ``process_ids`` is called at every scrape and returns the processes to
    read, as label value to pid. Each family of ``ProcessCollector``
    (``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ...)
    is exported once, with one sample per process that carries the label
    ``label``. A process whose /proc entry cannot be read, for example one
    that has just exited, is left out of that scrape. Off Linux,
    ``ProcessCollector`` reads nothing, so neither does this collector.
    """

    def __init__(self, process_ids: Callable[[], Mapping[str, int]], label: str = PROCESS_LABEL) -> None:
        self._process_ids = process_ids
        self._label = label

    def collect(self) -> Iterable[Metric]:
        """Read every process named by ``process_ids`` and return the merged families."""
        merged: dict[str, Metric] = {}
        for process, pid in sorted(self._process_ids().items()):
            for family in _read_process(pid):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                for sample in family.samples:
                    target.samples.append(sample._replace(labels={**sample.labels, self._label: process}))
        return list(merged.values())


def _read_process(pid: int) -> Iterable[Metric]:
    # A new ProcessCollector per read keeps scrapes from concurrent threads
    # independent. Its constructor reads /proc/stat once, which is cheap.
    reader = ProcessCollector(pid=lambda: pid, registry=None)
    return reader.collect()
