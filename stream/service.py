"""The detection service: consume events, evaluate rules, produce alerts, commit.

One loop, one batch at a time:

1. consume up to ``batch_size`` messages;
2. let the prefilter pick, from the raw bytes of the whole batch, the messages
   some rule may match (and every message that does not look well-formed);
   decode and evaluate those; produce their alerts to the output topic, or the
   unchanged message to its dead-letter topic when it cannot be decoded;
3. serve delivery reports without waiting for them, and store, per partition,
   the offset after the longest run of messages whose records are all
   acknowledged (at-least-once: no stored offset passes an unacknowledged or
   failed record, so such a message is read again after a restart);
4. commit stored offsets periodically; on partition revocation and at shutdown,
   first wait for every delivery, then store and commit.

Deliveries overlap with the next batches instead of blocking each batch. A
failed delivery stops the service with a non-zero exit after committing what is
safe, because librdkafka has already retried it for ``message.timeout.ms``.
:mod:`stream.producing` produces the records and replaces those that the
broker rejects for good.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream import __version__
from stream.alerts import SourceRef
from stream.codecs.selection import build_codecs
from stream.config import ServiceSettings
from stream.errors import DecodeError, KafkaServiceError, RuleEvaluationError
from stream.health import HealthState
from stream.kafka.clients import consumer_config, error_code, producer_config
from stream.kafka.delivery import DeliveryTracker
from stream.kafka.offsets import OffsetTracker
from stream.kafka.topic_check import check_topics_exist, warn_if_output_limit_below_batch
from stream.log_throttle import LogThrottle
from stream.kafka.end_offsets import EndTracker, find_end_offsets
from stream.metrics import Metrics
from stream.prefilter import Prefilter
from stream.producing import RecordProducer
from stream.ruleset import RuleSet

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1

# How long after subscribing the service waits for its first partitions before it logs the wait.
ASSIGNMENT_WAIT_LOG_SECONDS = 10.0

# How long one pass of the loop may spend producing replacements of rejected records, each of which
# waits for the records queued before it. The rest wait for the next pass, so that a broker that does
# not respond cannot hold the loop, its health beat and its stop checks.
REPLACEMENT_SECONDS = 5.0

# Errors of librdkafka's store_offsets for a partition this consumer does not own: _STATE
# once it was assigned and then lost or revoked, _UNKNOWN_PARTITION when it never was.
_NOT_ASSIGNED_ERRORS = frozenset({KafkaError._STATE, KafkaError._UNKNOWN_PARTITION})

# Hints appended to the log line of a delivery failure with these error codes.
_DELIVERY_FAILURE_HINTS = {
    KafkaError.INVALID_RECORD: (
        ". The topic's settings reject a record of the batch, and the broker then fails every record "
        "of that batch: a compacted topic (cleanup.policy=compact) rejects records without a key, "
        "so a dead-letter topic must not be compacted when input messages can lack keys"
    ),
    KafkaError._MSG_TIMED_OUT: (
        ". The broker did not acknowledge the record within message.timeout.ms: check that the "
        "topic exists and that the broker is reachable"
    ),
}


class DetectionService:
    """The consume, evaluate, produce and commit loop (see the module docstring)."""

    def __init__(self, settings: ServiceSettings, rule_set: RuleSet, metrics: Metrics, health: HealthState) -> None:
        self._settings = settings
        self._rules = rule_set
        self._metrics = metrics
        self._health = health
        self._stop_reason: str | None = None
        self._fatal_error: str | None = None
        self._offsets = OffsetTracker()
        self._tracker = DeliveryTracker(self._offsets)
        self._codecs = build_codecs(settings)
        self._tombstone_reason = "invalid_avro" if settings.input_format == "avro" else "invalid_json"
        self._prefilter = Prefilter.for_queries(c.query for c in rule_set.rules) if settings.prefilter else None
        self._prefiltered: Counter[str] = Counter()
        self._end_tracker: EndTracker | None = None
        # librdkafka repeats transient errors (such as a broker being down) often, so each kind is
        # logged at most every 30 s.
        self._kafka_error_log = LogThrottle()
        # A rule that divides by a field's value can meet the same problem on every event, so per rule id.
        self._evaluation_problem_log = LogThrottle()
        # Totals since start, for the last log line: consumed, prefiltered, alerts, dead_lettered.
        self._totals: Counter[str] = Counter()
        # When the service subscribed, until it first gets partitions or has logged the wait.
        self._waiting_since: float | None = None
        # Set once shutdown has waited for deliveries and committed, just before the consumer closes.
        self._closing = False

        extra = settings.kafka_properties()
        self._consumer = Consumer(
            consumer_config(
                settings.bootstrap_servers,
                settings.group_id,
                extra,
                stats_callback=metrics.update_from_librdkafka_stats,
                error_callback=self._on_kafka_error,
            )
        )
        producer = Producer(producer_config(settings.bootstrap_servers, extra, error_callback=self._on_kafka_error))
        self._records = RecordProducer(producer, settings, self._offsets, self._tracker)

    # Lifecycle ----------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (safe from a signal handler)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def run(self) -> int:
        """Run until stopped; return the exit code."""
        settings = self._settings
        logger.info("starting eql-stream %s with %s", __version__, settings.redacted_summary())
        if self._prefilter is None:
            logger.info("prefilter off (--no-prefilter): every message is decoded")
        elif not self._prefilter.enabled and settings.case_folding == "unicode":
            logger.info("prefilter skips no message: its byte search folds ASCII letters only, so --case-folding unicode turns it off")
        elif not self._prefilter.enabled:
            logger.info(
                "prefilter selects rules but skips no message: %d rules have no text that every match must contain: %s",
                len(self._prefilter.always), self._rules.describe_names(self._prefilter.always),
            )

        try:
            checked = check_topics_exist(self._consumer, settings, lambda: self._stop_reason is not None)
            if checked:
                warn_if_output_limit_below_batch(settings)
            if checked and settings.until_end:
                self._end_tracker = EndTracker(find_end_offsets(self._consumer, settings.input_topics))
        except KafkaServiceError as exc:
            self._consumer.close()
            logger.error("cannot start: %s", exc)
            return EXIT_FAILED
        if not checked:
            self._consumer.close()
            logger.info("stopped before consuming: %s", self._stop_reason)
            return EXIT_OK
        self._consumer.subscribe(
            list(settings.input_topics), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self._waiting_since = time.monotonic()

        try:
            self._loop()
        except KafkaException as exc:
            self._fatal_error = f"Kafka client error: {exc}"
        finally:
            self._shutdown()

        if self._fatal_error:
            logger.error("stopped after a fatal error: %s", self._fatal_error)
            return EXIT_FAILED
        logger.info("stopped: %s", self._stop_reason or "done")
        return EXIT_OK

    def _log_totals(self) -> None:
        totals = self._totals
        logger.info(
            "consumed %d messages since start (skipped by the prefilter: %d, alerts produced: %d, dead-lettered: %d)",
            totals["consumed"], totals["prefiltered"], totals["alerts"], totals["dead_lettered"],
        )

    def _loop(self) -> None:
        settings = self._settings
        consume = self._consumer.consume
        last_commit = time.monotonic()

        while self._stop_reason is None and self._fatal_error is None:
            self._health.beat()
            messages = consume(settings.batch_size, settings.batch_timeout)
            events = self._split_partition_events(messages)
            if events:
                self._process_batch(events)
            else:
                self._records.producer.poll(0)
                self._store_ready_offsets()
                if self._waiting_since is not None:
                    self._log_long_assignment_wait()

            if time.monotonic() - last_commit >= settings.commit_interval:
                self._commit("periodic")
                last_commit = time.monotonic()

            # Checked only when the consumer has caught up, because it asks librdkafka for positions.
            if self._end_tracker is not None and not messages and self._reached_end():
                self.request_stop("reached the end offsets found at start (--until-end)")

    def _log_long_assignment_wait(self) -> None:
        """Log once when no partition has been assigned ``ASSIGNMENT_WAIT_LOG_SECONDS`` after subscribing."""
        assert self._waiting_since is not None
        waited = time.monotonic() - self._waiting_since
        if waited < ASSIGNMENT_WAIT_LOG_SECONDS:
            return
        self._waiting_since = None
        logger.info(
            "no partition assigned %.0f s after joining group %r: the group is still rebalancing (after a member "
            "was killed, the broker waits for its session.timeout.ms, 45 s by default), or the group has more "
            "members than the input topics have partitions",
            waited, self._settings.group_id,
        )

    def _shutdown(self) -> None:
        self._health.set_ready(False, "stopping")
        undelivered = self._wait_for_deliveries(self._settings.shutdown_timeout)
        if undelivered and self._fatal_error is None:
            # Their offsets are not stored, so a restart reads their messages again. The run still failed to finish its work.
            self._fatal_error = f"{undelivered} records were still undelivered at shutdown"
        # Stored offsets only ever cover acknowledged records, so they are safe to commit even after a failure.
        self._commit("shutdown")
        # close() revokes the partitions, and the deliveries were waited for just above.
        self._closing = True
        self._consumer.close()
        self._log_totals()
        self._health.set_alive(False, "stopped")

    # Batches ------------------------------------------------------------------

    def _split_partition_events(self, messages: list[Message]) -> list[Message]:
        """Return the data messages; handle consumer errors."""
        if not any(map(Message.error, messages)):
            return messages

        events = []
        for message in messages:
            error = message.error()
            if error is None:
                events.append(message)
            elif error.fatal():
                self._fatal_error = f"consumer error: {error}"
            else:
                self._log_kafka_error(error)
        return events

    def _process_batch(self, messages: list[Message]) -> None:
        """Decode and evaluate the messages the prefilter selects, then account for the whole batch.

        Only the selected messages get per-message Python work. The payloads,
        partitions and offsets of the batch are read with C-level ``map``
        calls, and the prefilter scans all payloads in one call.
        """
        started = time.perf_counter()

        consumed, last_offsets = self._batch_positions(messages)
        to_decode = self._select_messages(list(map(Message.value, messages)))

        add_message = self._offsets.add
        for index, selected in to_decode:
            message = messages[index]
            add_message((message.topic(), message.partition()), message.offset(), 0)
            self._handle_message(message, selected)
        # Every skipped message after the last selected one of its partition is done too.
        for key, offset in last_offsets.items():
            self._offsets.add_done_through(key, offset)

        if self._prefilter is not None:
            self._prefiltered.update(consumed)
            self._prefiltered.subtract(messages[index].topic() for index, _ in to_decode)
        self._records.producer.poll(0)
        self._store_ready_offsets()
        self._record_batch_metrics(len(messages), consumed, started)

    def _batch_positions(self, messages: list[Message]) -> tuple[Counter[str], dict[tuple[str, int], int]]:
        """Return the number of messages per topic and the last offset per partition, read with C-level ``map``.

        With one input topic, every message of the batch comes from it, so
        the topic of each message need not be read.
        """
        if len(self._settings.input_topics) == 1:
            topic = messages[0].topic()
            last_by_partition = dict(zip(map(Message.partition, messages), map(Message.offset, messages)))
            return Counter({topic: len(messages)}), {(topic, partition): offset for partition, offset in last_by_partition.items()}

        topics = list(map(Message.topic, messages))
        last_offsets = dict(zip(zip(topics, map(Message.partition, messages)), map(Message.offset, messages)))
        return Counter(topics), last_offsets

    def _select_messages(self, payloads: list[bytes | None]) -> list[tuple[int, tuple[int, ...] | None]]:
        """Return the positions of the messages to decode, in batch order, each with the rules to evaluate.

        ``None`` as the rules means every rule. Without a prefilter every
        message is returned. With one, a message is returned when the
        prefilter selects a rule for it, or when its payload does not look
        well-formed, so that garbage, arrays and truncated documents reach the
        dead-letter topic. Such a payload gets the rules its bytes select.
        """
        prefilter = self._prefilter
        if prefilter is None:
            return [(index, None) for index in range(len(payloads))]

        malformed = self._codecs.must_decode(payloads)
        scanned = payloads if not malformed else [payload or b"" for payload in payloads]
        selections = prefilter.select_batch(scanned)  # type: ignore[arg-type]
        for index in malformed:
            selections.setdefault(index, prefilter.always)
        # The prefilter returns the payloads in no particular order, and the offset tracker needs batch order.
        return sorted(selections.items())

    def _handle_message(
        self,
        message: Message,
        selected: tuple[int, ...] | None = None,
    ) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        timestamp_type, timestamp_ms = message.timestamp()
        timestamp = timestamp_ms if timestamp_type else None

        try:
            value = message.value()
            if value is None:
                raise DecodeError(self._tombstone_reason, "the message has no value (a tombstone), so it contains no event")
            event = self._codecs.decode(value)
            # Each record is encoded before the next is built, so the records may share the event's values.
            alerts = self._rules.alerts_for(event, SourceRef.kafka(topic, partition, offset), selected, copy_source=False)
        except DecodeError as exc:
            self._records.dead_letter(message, exc.reason, exc.message)
            return
        except RuleEvaluationError as exc:
            # A rule bug must neither stop the stream nor lose the message.
            logger.error("evaluation failed for %s/%d/%d: %s", topic, partition, offset, exc, exc_info=exc.cause)
            self._metrics.rule_evaluation_errors.labels(rule_id=exc.rule_id).inc()
            self._records.dead_letter(message, "evaluation_failed", str(exc))
            return
        if self._rules.last_problems:
            self._report_evaluation_problems(topic, partition, offset)

        for compiled, alert in alerts:
            value = self._codecs.encode_alert(alert)
            rule = compiled.rule
            self._records.alert(message, rule.rule_id, rule.name, alert["kibana.alert.uuid"], value, timestamp)

    def _report_evaluation_problems(self, topic: str, partition: int, offset: int) -> None:
        """Count each problem of the last evaluation, and log it at most every 30 s per rule.

        The message is not dead-lettered, because its other rules evaluated normally.
        """
        for compiled, problem in self._rules.last_problems:
            rule_id = compiled.rule.rule_id
            self._metrics.rule_evaluation_problems.labels(rule_id=rule_id).inc()
            held_back = self._evaluation_problem_log.admit(rule_id)
            if held_back is None:
                continue
            since = f" ({held_back} more for this rule since the last such line)" if held_back else ""
            fields = {"rule_id": rule_id, "source_topic": topic, "source_partition": partition, "source_offset": offset}
            logger.warning(
                "rule %r (%s) on %s/%d/%d: %s%s",
                compiled.rule.display_name, rule_id, topic, partition, offset, problem.describe(), since, extra=fields,
            )

    def _store_ready_offsets(self, *, replace_rejected: bool = True) -> None:
        """Store the offsets that every delivery report so far allows; stop on a failed delivery.

        Also records the latency and the count of every alert acknowledged
        since the last call. First, unless ``replace_rejected`` is false, it
        dead-letters the source messages of rejected alerts and produces
        rejected dead letters again.
        """
        if replace_rejected:
            self._records.replace_rejected(time_limit=REPLACEMENT_SECONDS)
            self._take_records_fatal_error()
        acknowledged_at = time.time()
        for timestamp_ms in self._tracker.take_alert_timestamps():
            self._metrics.observe_alert_latency(timestamp_ms, acknowledged_at)
        self._count_acknowledged_records()

        failures = self._tracker.take_failures()
        for failure in failures:
            hint = _DELIVERY_FAILURE_HINTS.get(failure.code, "") if failure.code is not None else ""
            logger.error(
                "delivery to %s failed for source %s/%d/%d: %s%s",
                failure.topic, failure.source_topic, failure.source_partition, failure.source_offset, failure.error, hint,
            )
        if failures:
            kinds = Counter("alerts" if failure.topic == self._settings.output_topic else "dead_letter" for failure in failures)
            for kind, count in kinds.items():
                self._metrics.produce_errors.labels(topic_kind=kind).inc(count)
            self._fatal_error = f"{len(failures)} records could not be delivered"

        ready = self._offsets.take_ready()
        if not ready:
            return
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in ready.items()])
        except KafkaException as exc:
            # librdkafka rejects offsets of partitions that are no longer assigned, for example after
            # a lost assignment. Their new owner reads those messages again, which at-least-once allows.
            if error_code(exc) not in _NOT_ASSIGNED_ERRORS:
                raise
            logger.warning("offsets not stored because the partitions are not assigned to this consumer: %s", ready)
            return
        if self._end_tracker is not None:
            for key, offset in ready.items():
                self._end_tracker.record(key, offset)

    def _count_acknowledged_records(self) -> None:
        """Count the alerts and dead letters that the broker acknowledged since the last call."""
        for rule_id, count in self._records.take_acknowledged_alerts().items():
            self._metrics.alerts_produced.labels(rule_id=rule_id).inc(count)
            self._totals["alerts"] += count
        for reason, count in self._records.take_acknowledged_dead_letters().items():
            self._metrics.count_dead_letter(reason, count)
            self._totals["dead_lettered"] += count

    def _take_records_fatal_error(self) -> None:
        """Stop the service when a replacement record could not be produced (see :class:`RecordProducer`)."""
        if self._records.fatal_error is not None and self._fatal_error is None:
            self._fatal_error = self._records.fatal_error

    def _wait_for_deliveries(self, timeout: float) -> int:
        """Serve delivery reports until none is outstanding or ``timeout`` seconds passed, then store offsets.

        Returns the number of records still undelivered. The dead letters of
        alerts rejected during the wait share the same ``timeout``.
        """
        remaining = self._records.flush(timeout)
        self._take_records_fatal_error()
        if remaining:
            logger.error("%d records were still undelivered after %.0f s; their offsets are not stored", remaining, timeout)
        self._store_ready_offsets(replace_rejected=False)
        return remaining

    def _record_batch_metrics(self, size: int, consumed: Counter[str], started: float) -> None:
        metrics = self._metrics
        totals = self._totals
        totals["consumed"] += size
        totals["prefiltered"] += sum(self._prefiltered.values())
        for topic, count in consumed.items():
            metrics.events_consumed.labels(topic=topic).inc(count)
        for topic, count in self._prefiltered.items():
            metrics.events_prefiltered.labels(topic=topic).inc(count)
        self._prefiltered.clear()
        metrics.batch_size.observe(size)
        metrics.batch_duration.observe(time.perf_counter() - started)

    # Offsets and rebalances ------------------------------------------------------

    def _commit(self, trigger: str) -> None:
        try:
            committed = self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if error_code(exc) == KafkaError._NO_OFFSET:
                return
            self._metrics.record_commit(False)
            logger.warning("offset commit (%s) failed: %s", trigger, exc)
            return
        self._metrics.record_commit(True)
        logger.debug("committed offsets (%s): %s", trigger, committed)

    def _reached_end(self) -> bool:
        """Return whether every assigned partition is processed up to its end offset found at start.

        The consumer's position also counts, because it moves past offsets that
        hold no message (transaction markers, compacted records), and so does
        the committed offset of a partition that had nothing left to read.
        """
        assert self._end_tracker is not None
        try:
            assignment = self._consumer.assignment()
            positions = self._consumer.position(assignment) if assignment else []
        except KafkaException:
            return False
        for partition in positions:
            if partition.offset >= 0:
                self._end_tracker.record((partition.topic, partition.partition), partition.offset)
        return self._end_tracker.is_done((tp.topic, tp.partition) for tp in assignment)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("partitions assigned: %s", _describe_partitions(partitions))
        self._metrics.rebalances.labels(kind="assign").inc()
        if self._end_tracker is not None and partitions:
            self._record_committed_offsets(consumer, partitions)
        if partitions:
            self._waiting_since = None
            self._health.set_ready(True)

    def _record_committed_offsets(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Count a partition's committed offset as processed, for ``--until-end``."""
        assert self._end_tracker is not None
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            logger.warning("could not read committed offsets of %s: %s", _describe_partitions(partitions), exc)
            return
        for partition in committed:
            if partition.offset >= 0:
                self._end_tracker.record((partition.topic, partition.partition), partition.offset)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Wait for the deliveries of everything consumed so far, so that the
        # new owner of these partitions starts after the last message handled here.
        logger.info("partitions revoked: %s", _describe_partitions(partitions))
        self._metrics.rebalances.labels(kind="revoke").inc()
        if not self._closing:
            self._wait_for_deliveries(self._settings.shutdown_timeout)
            self._commit("revocation")
        self._offsets.forget([(tp.topic, tp.partition) for tp in partitions])
        stopping = self._stop_reason is not None or self._fatal_error is not None or self._closing
        waiting = "stopping" if stopping else "waiting for a new assignment"
        self._health.set_ready(False, f"partitions revoked, {waiting}")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.warning("partitions lost (their offsets may have been committed by another member): %s", _describe_partitions(partitions))
        self._metrics.rebalances.labels(kind="lost").inc()
        # Their offsets are no longer ours to store, even when their deliveries complete later.
        self._offsets.forget([(tp.topic, tp.partition) for tp in partitions])
        self._health.set_ready(False, "partitions lost")

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal_error = f"fatal Kafka error: {error}"
            return
        self._log_kafka_error(error)

    def _log_kafka_error(self, error: KafkaError) -> None:
        held_back = self._kafka_error_log.admit(error.code())
        if held_back is None:
            return
        since = f" ({held_back} more with this code since the last such line)" if held_back else ""
        logger.warning("Kafka client reports (will retry): %s%s", error, since)


def _describe_partitions(partitions: list[TopicPartition]) -> str:
    if not partitions:
        return "none"
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in partitions)
