"""RecordProducer: producing alerts and dead letters, and replacing those rejected for good, with a stand-in producer.

The stand-in sends everything queued as one record batch on each flush, and
its broker rejects a batch larger than a limit as a whole, as Kafka's
``max.message.bytes`` does. The real-broker tests are in tests/service/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from stream.config_loading import load_settings
from stream.kafka.delivery import DeliveryTracker
from stream.kafka.offsets import OffsetTracker
from stream.producing import RecordProducer

INPUT_TOPIC = "events"
OUTPUT_TOPIC = "alerts"
DEAD_LETTER_TOPIC = "events.dlq"
RULE_ID = "rule-1"


@dataclass
class _Source:
    """A consumed message, as much of it as the producer reads."""

    offset_value: int
    payload: bytes = b'{"process": {"name": "net.exe"}}'

    def topic(self) -> str:
        return INPUT_TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.offset_value

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self.payload

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None


@dataclass
class _Record:
    """A produced record, as a delivery report carries it."""

    topic_name: str
    key_value: Any
    payload: bytes
    headers: list[tuple[str, Any]]
    on_delivery: Callable[[KafkaError | None, Any], None]

    def topic(self) -> str:
        return self.topic_name

    def key(self) -> Any:
        return self.key_value

    def value(self) -> bytes:
        return self.payload


@dataclass
class _Producer:
    """A producer whose flush sends the whole queue as one batch to a broker with a batch size limit.

    ``reachable`` false keeps every record queued, as an unreachable broker
    does. ``local_limit`` makes ``produce`` reject larger values at once, as
    librdkafka's ``message.max.bytes`` does.
    """

    batch_limit: int = 1_000
    local_limit: int | None = None
    reachable: bool = True
    queue: list[_Record] = field(default_factory=list)
    stored: list[_Record] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, key: Any, headers: list[tuple[str, Any]], on_delivery: Callable[..., None]) -> None:
        if self.local_limit is not None and len(value) > self.local_limit:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.queue.append(_Record(topic, key, value, headers, on_delivery))

    def flush(self, timeout: float = 0.0) -> int:
        if not self.reachable or not self.queue:
            return len(self.queue)
        batch, self.queue = self.queue, []
        error = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if sum(len(record.payload) for record in batch) > self.batch_limit else None
        for record in batch:
            if error is None:
                self.stored.append(record)
            record.on_delivery(error, record)
        return len(self.queue)

    def poll(self, timeout: float = 0.0) -> int:
        return self.flush(timeout)

    def topic_values(self, topic: str) -> list[bytes]:
        return [record.payload for record in self.stored if record.topic_name == topic]


def _records(producer: _Producer) -> tuple[RecordProducer, OffsetTracker, DeliveryTracker]:
    flags = {"bootstrap_servers": "127.0.0.1:1", "input_topics": [INPUT_TOPIC], "output_topic": OUTPUT_TOPIC, "group_id": "g"}
    offsets = OffsetTracker()
    tracker = DeliveryTracker(offsets)
    records = RecordProducer(producer, load_settings(flags, {}, None), offsets, tracker)  # type: ignore[arg-type]
    return records, offsets, tracker


def _consume(offsets: OffsetTracker, offset: int) -> _Source:
    source = _Source(offset)
    offsets.add((INPUT_TOPIC, 0), offset, 0)
    return source


def test_alert_rejected_in_batch_produced_alone() -> None:
    producer = _Producer(batch_limit=100)
    records, offsets, _ = _records(producer)
    alerts = [(_consume(offsets, 0), b"a" * 30), (_consume(offsets, 1), b"b" * 30), (_consume(offsets, 2), b"c" * 200)]
    for source, value in alerts:
        records.alert(source, RULE_ID, "rule", f"key-{source.offset()}", value, None)

    producer.flush()
    assert len(records.rejected_alerts) == 3
    records.replace_rejected(time_limit=1.0)
    records.replace_rejected(time_limit=1.0)
    producer.flush()

    assert producer.topic_values(OUTPUT_TOPIC) == [b"a" * 30, b"b" * 30]
    assert producer.topic_values(DEAD_LETTER_TOPIC) == [alerts[2][0].value()]
    assert records.take_acknowledged_alerts() == {RULE_ID: 2}
    assert records.take_acknowledged_dead_letters() == {"alert_rejected": 1}
    assert offsets.take_ready() == {(INPUT_TOPIC, 0): 3}
    assert records.fatal_error is None


def test_alert_rejected_alone_blames_its_size() -> None:
    producer = _Producer(batch_limit=100)
    records, offsets, _ = _records(producer)
    records.alert(_consume(offsets, 0), RULE_ID, "rule", "key-0", b"c" * 200, None)

    producer.flush()
    records.replace_rejected(time_limit=1.0)
    records.replace_rejected(time_limit=1.0)
    producer.flush()

    (dead_letter,) = [record for record in producer.stored if record.topic_name == DEAD_LETTER_TOPIC]
    message = dict(dead_letter.headers)["eql_stream.error.message"]
    assert "(rule-1, 200 bytes) was rejected" in message
    assert "Raise that topic's max.message.bytes" in message
    assert "produce the source message" in message


def test_replacement_waits_for_unreachable_broker() -> None:
    producer = _Producer(batch_limit=100)
    records, offsets, _ = _records(producer)
    for offset in (0, 1):
        records.alert(_consume(offsets, offset), RULE_ID, "rule", f"key-{offset}", b"x" * 80, None)
    producer.flush()
    producer.reachable = False
    # A record still queued from before keeps every replacement from going out alone.
    records.alert(_consume(offsets, 2), RULE_ID, "rule", "key-2", b"y" * 10, None)

    records.replace_rejected(time_limit=0.01)

    assert len(records.rejected_alerts) == 2
    assert [record.payload for record in producer.queue] == [b"y" * 10]
    assert offsets.take_ready() == {(INPUT_TOPIC, 0): 0}
    assert records.fatal_error is None


def test_dead_letter_counted_once_acknowledged() -> None:
    producer = _Producer(reachable=False)
    records, offsets, _ = _records(producer)
    records.dead_letter(_consume(offsets, 0), "invalid_json", "the message is not valid JSON")

    assert records.take_acknowledged_dead_letters() == {}
    producer.reachable = True
    producer.flush()
    assert records.take_acknowledged_dead_letters() == {"invalid_json": 1}
    assert offsets.take_ready() == {(INPUT_TOPIC, 0): 1}


def test_failed_dead_letter_not_counted() -> None:
    producer = _Producer()
    records, offsets, tracker = _records(producer)
    records.dead_letter(_consume(offsets, 0), "invalid_json", "the message is not valid JSON")

    (record,) = producer.queue
    record.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), record)

    assert records.take_acknowledged_dead_letters() == {}
    assert [failure.code for failure in tracker.take_failures()] == [KafkaError._MSG_TIMED_OUT]
    assert offsets.take_ready() == {(INPUT_TOPIC, 0): 0}


def test_alert_over_producer_limit_names_it() -> None:
    producer = _Producer(local_limit=100)
    records, offsets, _ = _records(producer)
    records.alert(_consume(offsets, 0), RULE_ID, "rule", "key-0", b"z" * 150, None)
    producer.flush()

    (dead_letter,) = producer.stored
    message = dict(dead_letter.headers)["eql_stream.error.message"]
    assert "rejected by the producer before sending" in message
    assert "message.max.bytes (1000000)" in message
    assert "Raise message.max.bytes in --kafka-config" in message


@dataclass
class _FailingAgainProducer(_Producer):
    """A producer that rejects the second produce of any record key with an unknown-topic error."""

    seen_keys: set[Any] = field(default_factory=set)

    def produce(self, topic: str, value: bytes, key: Any, headers: list[tuple[str, Any]], on_delivery: Callable[..., None]) -> None:
        if key in self.seen_keys:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_TOPIC))
        self.seen_keys.add(key)
        super().produce(topic, value, key, headers, on_delivery)


def test_fatal_error_names_failed_replacement() -> None:
    producer = _FailingAgainProducer(batch_limit=10)
    records, offsets, _ = _records(producer)
    records.alert(_consume(offsets, 0), RULE_ID, "rule", "key-0", b"a" * 30, None)
    records.alert(_consume(offsets, 1), RULE_ID, "rule", "key-1", b"b" * 30, None)
    producer.flush()

    records.replace_rejected(time_limit=1.0)

    assert records.fatal_error is not None
    assert "producing the rejected alert again of events/0/" in records.fatal_error
    assert "Local: Unknown topic" in records.fatal_error
    assert offsets.take_ready() == {(INPUT_TOPIC, 0): 0}


@pytest.mark.parametrize("sent_alone", [False, True], ids=["in-batch", "alone"])
def test_invalid_dead_letter_retried_alone_once(sent_alone: bool) -> None:
    producer = _Producer()
    records, offsets, tracker = _records(producer)
    records.dead_letter(_consume(offsets, 0), "invalid_json", "the message is not valid JSON", sent_alone=sent_alone)

    (record,) = producer.queue
    producer.queue.clear()
    record.on_delivery(KafkaError(KafkaError.INVALID_RECORD), record)

    # Rejected in a batch, it waits to be produced alone. Rejected alone, it fails, which stops the service.
    assert len(records.rejected_dead_letters) == (0 if sent_alone else 1)
    assert len(tracker.take_failures()) == (1 if sent_alone else 0)
