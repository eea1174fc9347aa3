"""The service's output: alert and dead-letter records, and what happens when the broker rejects one.

Every record is produced for one source message, and the offset tracker
counts it until its delivery report arrives, so that no stored offset passes
a message whose records are not all acknowledged.

A record can be rejected for good, before it is queued or in its delivery
report (for example, larger than the topic's ``max.message.bytes``). Such a
record must neither stop the stream nor lose its message:

- a record rejected among others is produced again in a batch of its own,
  because the broker checks its limits against a whole batch;
- an alert rejected alone is replaced by a dead letter of its source message,
  whose error message names what was rejected and how to fix it;
- a dead letter rejected alone for its size is produced again with only the
  first ``SHORTENED_PAYLOAD_BYTES`` of its payload.

Replacements are produced outside the producer's callbacks, by
:meth:`RecordProducer.replace_rejected`, because producing may have to serve
delivery reports to make room in the local queue.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from stream.config import ServiceSettings
from stream.kafka.clients import LIBRDKAFKA_MESSAGE_MAX_BYTES, error_code, error_text
from stream.kafka.delivery import DeliveryTracker
from stream.kafka.offsets import OffsetTracker
from stream.log_throttle import LogThrottle

logger = logging.getLogger(__name__)

# Header names on alert and dead-letter records.
HEADER_RULE_ID = "eql_stream.rule_id"
HEADER_SOURCE_TOPIC = "eql_stream.source.topic"
HEADER_SOURCE_PARTITION = "eql_stream.source.partition"
HEADER_SOURCE_OFFSET = "eql_stream.source.offset"
HEADER_ERROR_REASON = "eql_stream.error.reason"
HEADER_ERROR_MESSAGE = "eql_stream.error.message"
# On a dead letter whose payload was cut (see SHORTENED_PAYLOAD_BYTES): the whole payload's size in bytes.
HEADER_PAYLOAD_SIZE = "eql_stream.payload.original_size"

# A dead letter that the producer or the broker rejects for its size is produced again with the key,
# the service's own headers and only this many first bytes of the payload. So one large bad message
# cannot stop the stream, and the whole message stays on its input topic.
SHORTENED_PAYLOAD_BYTES = 1024

# How much of a dead letter's error message its log line shows; the header holds up to 1000 characters.
_LOGGED_ERROR_CHARACTERS = 500

# Errors with which the producer or the broker rejects one record for good, so retrying cannot help:
# the record is larger than the producer's message.max.bytes or the topic's max.message.bytes,
# or it is invalid for the topic. The source message of an alert rejected so is dead-lettered.
REJECTED_RECORD_ERRORS = frozenset(
    {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD}
)
# The size errors among them. A dead letter rejected so is produced again alone, then shortened (see
# SHORTENED_PAYLOAD_BYTES). INVALID_RECORD (for example a keyless record on a compacted topic)
# is not about size, so a dead letter rejected with it alone fails its delivery.
_SIZE_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})

# How long producing one record alone waits for the records queued before it, and for its own
# delivery, outside a shutdown (which has its own deadline).
_ALONE_FLUSH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RejectedAlert:
    """An alert record that the producer or the broker rejected, with the source message it came from."""

    source: Message
    rule_id: str
    rule_name: str
    size: int
    error: str
    # The source partition's generation in the offset tracker when the alert was produced.
    generation: int
    # The record itself, kept to produce it again alone when it was rejected in a batch with others
    # (the broker checks max.message.bytes and the record rules against a whole batch). None when
    # the record is not to be produced again.
    key: str | bytes | None = None
    value: bytes | None = None
    timestamp_ms: int | None = None
    sent_alone: bool = False
    # librdkafka's error code, and whether the producer rejected the record before sending it.
    code: int | None = None
    by_producer: bool = False

    def describe(self, output_topic: str) -> str:
        """Return the dead letter's error message: what was rejected and how to fix it."""
        if self.by_producer:
            fix = "Raise message.max.bytes in --kafka-config, and that topic's max.message.bytes to match"
        elif self.code == KafkaError.INVALID_RECORD:
            fix = "The topic's settings reject the record (for example a broker-side validation): fix the topic"
        else:
            fix = "Raise that topic's max.message.bytes, and message.max.bytes in --kafka-config if the alert exceeds it"
        return (
            f"the alert of rule {self.rule_name!r} ({self.rule_id}, {self.size} bytes) was rejected for topic "
            f"{output_topic!r}: {self.error}. {fix}, then produce the source message (named by the "
            f"eql_stream.source.* headers) to the input topic again"
        )


@dataclass(frozen=True, slots=True)
class RejectedDeadLetter:
    """A dead letter that the broker rejected for its size, to be produced again alone or shortened."""

    source: Message
    reason: str
    error_message: str
    error: str
    # The source partition's generation in the offset tracker when the dead letter was produced.
    generation: int
    # Whether the rejected record was sent in a batch of its own. The broker checks max.message.bytes
    # against a whole batch, so a record rejected among others may fit alone.
    sent_alone: bool


class RecordProducer:
    """The producer of alert and dead-letter records for source messages, which replaces those rejected for good.

    Each record is counted in the offset tracker before it is queued, and its
    delivery report acknowledges it there (see :class:`DeliveryTracker`).
    ``fatal_error`` is set, instead of an exception raised, when a
    replacement cannot be produced, because replacements are also produced
    during shutdown.
    """

    def __init__(
        self,
        producer: Producer,
        settings: ServiceSettings,
        offsets: OffsetTracker,
        tracker: DeliveryTracker,
    ) -> None:
        self.producer = producer
        self.fatal_error: str | None = None
        self._settings = settings
        self._message_max_bytes = settings.kafka_properties().get("message.max.bytes", LIBRDKAFKA_MESSAGE_MAX_BYTES)
        self._offsets = offsets
        self._tracker = tracker
        # A bad producer upstream can send a dead letter per message, so each kind is logged at most every 30 s.
        self._dead_letter_log = LogThrottle()
        # Alerts rejected in delivery reports: produced again alone, or dead-lettered, once the poll has returned.
        self.rejected_alerts: list[RejectedAlert] = []
        # Dead letters rejected for their size, or as invalid among others, in delivery reports: produced
        # again (alone, or shortened) once the poll has returned.
        self.rejected_dead_letters: list[RejectedDeadLetter] = []
        # Alerts the broker acknowledged since the last count, by rule id, and dead letters by reason.
        self._acknowledged_alerts: Counter[str] = Counter()
        self._acknowledged_dead_letters: Counter[str] = Counter()
        # While set (a time.monotonic() value), producing into a full local queue gives up at that time.
        self._deadline: float | None = None
        # While set (a time.monotonic() value), replace_rejected leaves what is left for its next call.
        self._replace_until: float | None = None

    # Alerts -------------------------------------------------------------------

    def alert(
        self, message: Message, rule_id: str, rule_name: str, key: str, value: bytes, timestamp_ms: int | None
    ) -> None:
        """Produce the alert record ``value`` of rule ``rule_id`` for the source ``message``.

        ``timestamp_ms`` is the source's timestamp, for the latency histogram.
        When the producer rejects the record before queueing it (see
        ``REJECTED_RECORD_ERRORS``), the source message is dead-lettered with
        reason ``alert_rejected`` instead.

        Raises:
            KafkaException: the producer rejected the record for another reason.
        """
        self._produce_alert(message, rule_id, rule_name, key, value, timestamp_ms, sent_alone=False)

    def _produce_alert(
        self,
        message: Message,
        rule_id: str,
        rule_name: str,
        key: str,
        value: bytes,
        timestamp_ms: int | None,
        *,
        sent_alone: bool,
    ) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        headers = [
            (HEADER_RULE_ID, rule_id),
            (HEADER_SOURCE_TOPIC, topic),
            (HEADER_SOURCE_PARTITION, str(partition)),
            (HEADER_SOURCE_OFFSET, str(offset)),
        ]
        on_delivery = self._alert_delivery_callback(message, rule_id, rule_name, len(value), timestamp_ms, sent_alone)
        try:
            self._produce(message, self._settings.output_topic, key, value, headers, on_delivery)
        except KafkaException as exc:
            if error_code(exc) not in REJECTED_RECORD_ERRORS:
                raise
            # The alert was rejected before it was queued, so it gets no delivery report: the
            # dead letter produced next takes over from its record.
            self._offsets.acknowledge((topic, partition), offset)
            generation = self._offsets.generation((topic, partition))
            rejected = RejectedAlert(
                message, rule_id, rule_name, len(value), self._local_rejection(exc), generation,
                code=error_code(exc), by_producer=True,
            )
            self.dead_letter(message, "alert_rejected", rejected.describe(self._settings.output_topic))

    def take_acknowledged_alerts(self) -> Counter[str]:
        """Return and forget the number of alerts acknowledged since the last call, by rule id."""
        acknowledged, self._acknowledged_alerts = self._acknowledged_alerts, Counter()
        return acknowledged

    def take_acknowledged_dead_letters(self) -> Counter[str]:
        """Return and forget the number of dead letters acknowledged since the last call, by reason.

        A dead letter counts once, when the broker has stored it, whether
        whole or shortened.
        """
        acknowledged, self._acknowledged_dead_letters = self._acknowledged_dead_letters, Counter()
        return acknowledged

    def _alert_delivery_callback(
        self, message: Message, rule_id: str, rule_name: str, size: int, timestamp_ms: int | None, sent_alone: bool
    ) -> Callable[[KafkaError | None, Message], None]:
        """Return the delivery callback of one alert record produced for ``message``.

        A rejected alert is set aside for :meth:`replace_rejected` instead of
        failing the partition. Its record stays unacknowledged until then, so
        the source message's offset is not stored before the alert, produced
        again alone, or its dead letter is delivered.
        """
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        acknowledge = self._tracker.callback(topic, partition, offset, timestamp_ms, True)
        generation = self._offsets.generation((topic, partition))

        def on_delivery(error: KafkaError | None, record: Message) -> None:
            if error is not None and error.code() in REJECTED_RECORD_ERRORS:
                # The report carries the record's key and value, so the callback need not keep them.
                rejected = RejectedAlert(
                    message, rule_id, rule_name, size, error.str(), generation,
                    record.key(), record.value(), timestamp_ms, sent_alone, error.code(),
                )
                self.rejected_alerts.append(rejected)
                return
            if error is None:
                self._acknowledged_alerts[rule_id] += 1
            acknowledge(error, record)

        return on_delivery

    # Dead letters -------------------------------------------------------------

    def dead_letter(self, message: Message, reason: str, error_message: str, *, sent_alone: bool = False) -> None:
        """Produce ``message`` to its dead-letter topic with the reason and the error message in headers.

        When the producer rejects the record for its size, it is produced
        again at once with a shortened payload (see :meth:`_shortened_dead_letter`).
        A size rejection in the delivery report is handled later by
        :meth:`replace_rejected`. ``sent_alone`` is true when the caller
        produces the record in a batch of its own, as that method does.

        Raises:
            KafkaException: the producer rejected the record for another
                reason, or rejected the shortened record too.
        """
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if not sent_alone:
            self._log_dead_letter(message, reason, error_message)
        headers = list(message.headers() or [])
        headers += _dead_letter_headers(message, reason, error_message)
        acknowledge = self._tracker.callback(topic, partition, offset, None, False)
        generation = self._offsets.generation((topic, partition))

        def on_delivery(error: KafkaError | None, record: Message) -> None:
            # An invalid record fails its whole batch, so a dead letter rejected among others gets
            # one more try alone. Only a size rejection leads on to a shortened dead letter.
            if error is not None and (error.code() in _SIZE_ERRORS or (error.code() == KafkaError.INVALID_RECORD and not sent_alone)):
                rejected = RejectedDeadLetter(message, reason, error_message, error.str(), generation, sent_alone)
                self.rejected_dead_letters.append(rejected)
                return
            if error is None:
                self._acknowledged_dead_letters[reason] += 1
            acknowledge(error, record)

        dead_letter_topic = self._settings.dead_letter_topic_for(topic)
        try:
            self._produce(message, dead_letter_topic, message.key(), message.value(), headers, on_delivery)
        except KafkaException as exc:
            if error_code(exc) not in _SIZE_ERRORS:
                raise
            # Larger than the producer's message.max.bytes, and rejected before it was queued, so it
            # gets no delivery report: the shortened dead letter takes over from its record.
            self._offsets.acknowledge((topic, partition), offset)
            rejection = self._local_rejection(exc)
            self._produce_alone(lambda: self._shortened_dead_letter(message, reason, error_message, rejection))

    def _shortened_dead_letter(self, message: Message, reason: str, error_message: str, rejection: str) -> None:
        """Produce the dead letter of ``message`` with only the first ``SHORTENED_PAYLOAD_BYTES`` of its payload.

        The record keeps the key and the service's headers, not the source's
        own headers, and gets ``HEADER_PAYLOAD_SIZE``. ``rejection`` is the
        error with which the whole dead letter was rejected.

        Raises:
            KafkaException: the producer rejected the shortened record too.
        """
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        dead_letter_topic = self._settings.dead_letter_topic_for(topic)
        payload = message.value() or b""
        note = (
            f" [payload cut to its first {min(len(payload), SHORTENED_PAYLOAD_BYTES)} of {len(payload)} bytes, because "
            f"the whole dead letter was rejected: {rejection}. To replay the message, copy it whole from "
            f"{topic}/{partition}/{offset}: this cut copy is not valid input]"
        )
        held_back = self._dead_letter_log.admit("shortened")
        if held_back is not None:
            since = f" ({held_back} more since the last such line)" if held_back else ""
            logger.error(
                "the dead letter of %s/%d/%d (%d bytes of payload) was rejected for topic %r: %s. Producing it again with "
                "the first %d bytes of the payload. To keep whole payloads, raise max.message.bytes of that topic, and "
                "message.max.bytes in --kafka-config when the payload exceeds it%s",
                topic, partition, offset, len(payload), dead_letter_topic, rejection, SHORTENED_PAYLOAD_BYTES, since,
            )

        headers = _dead_letter_headers(message, reason, error_message[: 1000 - len(note)] + note)
        headers.append((HEADER_PAYLOAD_SIZE, str(len(payload))))
        acknowledge = self._tracker.callback(topic, partition, offset, None, False)

        def on_delivery(error: KafkaError | None, record: Message) -> None:
            held_back = self._dead_letter_log.admit("shortened_rejected") if error is not None and error.code() in _SIZE_ERRORS else None
            if held_back is not None:
                # The delivery failure stops the service, which cannot move past the message without losing it.
                logger.error(
                    "the shortened dead letter of %s/%d/%d was rejected for topic %r too, in a batch of its own: %s. Raise "
                    "that topic's max.message.bytes (a shortened dead letter needs about %d bytes plus its key), then restart%s",
                    topic, partition, offset, dead_letter_topic, error.str(), SHORTENED_PAYLOAD_BYTES + 2048,
                    f" ({held_back} more since the last such line)" if held_back else "",
                )
            if error is None:
                self._acknowledged_dead_letters[reason] += 1
            acknowledge(error, record)

        shortened = payload[:SHORTENED_PAYLOAD_BYTES]
        self._produce(message, dead_letter_topic, message.key(), shortened, headers, on_delivery)

    def _log_dead_letter(self, message: Message, reason: str, error_message: str) -> None:
        """Log a dead letter, at most one line per reason every 30 s.

        The source and the reason are also record attributes, which
        ``--log-format json`` writes as fields of their own.
        """
        held_back = self._dead_letter_log.admit(reason)
        if held_back is None:
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        since = f" ({held_back} more with this reason since the last such line)" if held_back else ""
        logged_message = error_message
        if len(logged_message) > _LOGGED_ERROR_CHARACTERS:
            logged_message = logged_message[:_LOGGED_ERROR_CHARACTERS] + "..."
        fields = {"dead_letter_reason": reason, "source_topic": topic, "source_partition": partition, "source_offset": offset}
        logger.warning("dead-lettered %s/%d/%d, reason %s: %s%s", topic, partition, offset, reason, logged_message, since, extra=fields)

    # Rejected records -----------------------------------------------------------

    @property
    def has_rejected(self) -> bool:
        """Whether a rejected alert or dead letter waits for :meth:`replace_rejected`."""
        return bool(self.rejected_alerts or self.rejected_dead_letters)

    def replace_rejected(self, time_limit: float | None = None) -> None:
        """Replace the alerts and dead letters rejected since the last call, for at most ``time_limit`` seconds.

        A record rejected in a batch with other records is first produced
        again whole, in a batch of its own, because the broker checks its
        limits against whole batches. An alert rejected alone is replaced by a
        dead letter of its source message, and a dead letter rejected alone is
        produced shortened (see :meth:`_shortened_dead_letter`), alone too.

        A record goes out alone only once the records queued before it are
        delivered. When they are not within the time limit (the deadline of
        :meth:`flush` while one is set, else ``time_limit``, else
        ``_ALONE_FLUSH_SECONDS`` for each wait), the rest wait for the next
        call, still unacknowledged, so that the service's loop goes on.
        """
        if time_limit is not None:
            self._replace_until = time.monotonic() + time_limit
        try:
            self._replace_rejected_alerts()
            self._replace_rejected_dead_letters()
        finally:
            self._replace_until = None

    def _replace_rejected_alerts(self) -> None:
        rejected, self.rejected_alerts = self.rejected_alerts, []
        output_topic = self._settings.output_topic

        def replace_alert(item: RejectedAlert) -> bool:
            key, value = item.key, item.value
            if key is None or value is None or item.sent_alone:
                self.dead_letter(item.source, "alert_rejected", item.describe(output_topic))
                return True

            # Rejected among other records, so it may be accepted in a batch of its own.
            def produce() -> None:
                self._produce_alert(item.source, item.rule_id, item.rule_name, key, value, item.timestamp_ms, sent_alone=True)

            if not self._produce_alone(produce, may_wait=True):
                return False
            self._log_alert_produced_alone(item)
            return True

        def describe(item: RejectedAlert) -> str:
            return "the rejected alert again" if _may_fit_alone(item) else "the dead letter of the rejected alert"

        waiting = self._replace(rejected, describe, replace_alert)
        self.rejected_alerts[:0] = waiting

    def _replace_rejected_dead_letters(self) -> None:
        rejected, self.rejected_dead_letters = self.rejected_dead_letters, []

        def produce_again(item: RejectedDeadLetter) -> bool:
            if item.sent_alone:
                return self._produce_alone(
                    lambda: self._shortened_dead_letter(item.source, item.reason, item.error_message, item.error), may_wait=True
                )
            return self._produce_alone(
                lambda: self.dead_letter(item.source, item.reason, item.error_message, sent_alone=True), may_wait=True
            )

        waiting = self._replace(rejected, lambda item: "the dead letter", produce_again)
        self.rejected_dead_letters[:0] = waiting

    def _log_alert_produced_alone(self, item: RejectedAlert) -> None:
        """Log, at most once every 30 s, that a rejected alert is produced again in a batch of its own."""
        held_back = self._dead_letter_log.admit("alert_alone")
        if held_back is None:
            return
        source = item.source
        since = f" ({held_back} more since the last such line)" if held_back else ""
        logger.info(
            "the alert of rule %r for %s/%d/%d (%d bytes) was rejected in a record batch for topic %r: %s. Producing it "
            "again in a batch of its own, because the broker checks the batch as a whole%s",
            item.rule_name, source.topic(), source.partition(), source.offset(), item.size,
            self._settings.output_topic, item.error, since,
        )

    def flush(self, timeout: float) -> int:
        """Serve delivery reports and replace rejected records until none is outstanding or ``timeout`` seconds passed.

        Returns the number of records still undelivered, rejected records
        that could not be replaced in time included. The replacements share
        the same ``timeout``.
        """
        deadline = time.monotonic() + timeout
        remaining = self.producer.flush(timeout)
        # A rejected alert is produced again alone, then becomes a dead letter, which may be rejected
        # and produced again, alone and then shortened. Each round moves every rejected record one
        # step on, so the loop ends.
        # A full local queue must not hold the dead letters past the deadline either.
        self._deadline = deadline
        try:
            while self.has_rejected and time.monotonic() < deadline:
                self.replace_rejected()
                remaining = self.producer.flush(max(0.0, deadline - time.monotonic()))
        finally:
            self._deadline = None
        # Records rejected too late to be replaced stay unacknowledged, so their offsets are not stored.
        return remaining + len(self.rejected_alerts) + len(self.rejected_dead_letters)

    def _replace(self, rejected: Sequence[Any], describe: Callable[[Any], str], produce: Callable[[Any], bool]) -> list[Any]:
        """Call ``produce`` for each rejected record (with ``source`` and ``generation``); return those left waiting.

        A record whose partition is no longer assigned as it was is skipped,
        because the consumer that reads its message again handles it. Once
        ``produce`` has queued the replacement, the rejected record is
        acknowledged, so that the replacement keeps the source offset from
        being stored. When ``produce`` returns False, it queued nothing
        because the time ran out, and that record and the ones after it are
        returned, unacknowledged, for a later call. A failure to produce is
        recorded as ``fatal_error`` instead of raised; the rejected record
        then stays unacknowledged.
        """
        for position, item in enumerate(rejected):
            replacement = describe(item)
            source = item.source
            key = (source.topic(), source.partition())
            where = f"{source.topic()}/{source.partition()}/{source.offset()}"
            if not self._offsets.is_current(key, item.generation):
                logger.info(
                    "not producing %s of %s: the partition is no longer assigned as it was, and the message will be read again",
                    replacement, where,
                )
                continue
            try:
                produced = produce(item)
            except (KafkaException, BufferError) as exc:
                detail = error_text(exc)
                logger.error("producing %s of %s failed: %s", replacement, where, detail)
                self.fatal_error = f"producing {replacement} of {where} failed: {detail}"
                continue
            if not produced:
                return list(rejected[position:])
            self._offsets.acknowledge(key, source.offset())
        return []

    # Producing ------------------------------------------------------------------

    def _local_rejection(self, exc: KafkaException) -> str:
        """Describe a record that ``produce`` rejected before sending it.

        librdkafka words a record over its own size limit as "Broker: Message
        size too large", so a size error names the producer's limit instead.
        """
        if error_code(exc) not in _SIZE_ERRORS:
            return f"rejected by the producer before sending: {exc.args[0].str()}"
        return (
            f"rejected by the producer before sending, because it exceeds the producer's message.max.bytes "
            f"({self._message_max_bytes}): {exc.args[0].str()}"
        )

    def _produce(
        self,
        source: Message,
        topic: str,
        key: Any,
        value: Any,
        headers: list[tuple[str, Any]],
        on_delivery: Callable[..., None],
    ) -> None:
        # When produce raises, the record stays counted and unacknowledged, so the source offset is never stored.
        self._offsets.add_record((source.topic(), source.partition()), source.offset())
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    raise
                # The local queue is full: serve delivery reports to make room, then retry.
                self.producer.poll(0.1)

    def _produce_alone(self, produce: Callable[[], None], *, may_wait: bool = False) -> bool:
        """Run ``produce``, which queues one record, so that the record goes to the broker in a batch of its own.

        The records queued before it are delivered first, and the record's own
        delivery report is served before this returns. Each wait ends at the
        deadline of :meth:`flush` or the time limit of :meth:`replace_rejected`
        while one is set, else after ``_ALONE_FLUSH_SECONDS``. With
        ``may_wait``, a record whose predecessors are not all delivered in time
        is not produced, so that it is not sent in a shared batch, and False is
        returned. Without it, the record is produced all the same.
        """
        def timeout() -> float:
            ends = [end for end in (self._deadline, self._replace_until) if end is not None]
            if not ends:
                return _ALONE_FLUSH_SECONDS
            return max(0.0, min(ends) - time.monotonic())

        if self.producer.flush(timeout()) and may_wait:
            return False
        produce()
        self.producer.flush(timeout())
        return True


def _dead_letter_headers(message: Message, reason: str, error_message: str) -> list[tuple[str, Any]]:
    """Return the service's headers of a dead letter of ``message``."""
    return [
        (HEADER_ERROR_REASON, reason),
        (HEADER_ERROR_MESSAGE, error_message[:1000]),
        (HEADER_SOURCE_TOPIC, message.topic()),
        (HEADER_SOURCE_PARTITION, str(message.partition())),
        (HEADER_SOURCE_OFFSET, str(message.offset())),
    ]


def _may_fit_alone(item: RejectedAlert) -> bool:
    """Return whether a rejected alert was rejected among other records and kept, so that it may fit alone."""
    return item.key is not None and item.value is not None and not item.sent_alone

