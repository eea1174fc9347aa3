"""OffsetTracker: which offsets are safe to store."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from stream.kafka.delivery import DeliveryTracker
from stream.kafka.offsets import OffsetTracker

KEY = ("events", 0)


def test_offsets_message_without_records_ready() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 5, 0)

    assert tracker.take_ready() == {KEY: 6}


def test_offsets_wait_for_every_record() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)
    tracker.add_record(KEY, 5)

    tracker.acknowledge(KEY, 5)
    first = tracker.take_ready()
    tracker.acknowledge(KEY, 5)
    second = tracker.take_ready()

    assert first == {KEY: 5}
    assert second == {KEY: 6}


def test_offsets_never_pass_pending_message() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 1, 0)
    tracker.add_record(KEY, 1)
    tracker.add(KEY, 2, 0)
    tracker.add(KEY, 3, 0)

    before = tracker.take_ready()
    tracker.acknowledge(KEY, 1)
    after = tracker.take_ready()

    assert before == {KEY: 1}
    assert after == {KEY: 4}


def test_offsets_failed_record_blocks_partition() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 1, 0)
    tracker.add(KEY, 2, 0)
    tracker.add_record(KEY, 2)
    tracker.add(KEY, 3, 0)

    tracker.fail(KEY, 2)
    tracker.acknowledge(KEY, 2)

    assert tracker.take_ready() == {KEY: 2}
    assert tracker.take_ready() == {}


def test_offsets_partitions_independent() -> None:
    tracker = OffsetTracker()
    other = ("events", 1)
    tracker.add(KEY, 1, 0)
    tracker.add_record(KEY, 1)
    tracker.add(other, 7, 0)

    assert tracker.take_ready() == {KEY: 1, other: 8}
    assert tracker.in_flight() == 1


def test_offsets_forget_revoked_partition() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 1, 0)
    tracker.add_record(KEY, 1)

    tracker.forget([KEY])
    tracker.acknowledge(KEY, 1)

    assert tracker.take_ready() == {}
    assert tracker.in_flight() == 0


def test_offsets_settled_messages_skip_queue() -> None:
    tracker = OffsetTracker()
    for offset in range(100):
        tracker.add(KEY, offset, 0)

    assert tracker.in_flight() == 0
    assert tracker.take_ready() == {KEY: 100}


def test_offsets_done_through_settles_skipped_messages() -> None:
    tracker = OffsetTracker()
    tracker.add_done_through(KEY, 9)

    assert tracker.take_ready() == {KEY: 10}


def test_offsets_done_through_waits_for_pending_record() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 3, 0)
    tracker.add_record(KEY, 3)
    tracker.add_done_through(KEY, 9)

    before = tracker.take_ready()
    tracker.acknowledge(KEY, 3)
    after = tracker.take_ready()

    assert before == {KEY: 3}
    assert after == {KEY: 10}


def test_offsets_done_through_last_message_pending() -> None:
    tracker = OffsetTracker()
    tracker.add(KEY, 9, 0)
    tracker.add_record(KEY, 9)
    tracker.add_done_through(KEY, 9)

    before = tracker.take_ready()
    tracker.acknowledge(KEY, 9)
    after = tracker.take_ready()

    assert before == {KEY: 9}
    assert after == {KEY: 10}


def _reassigned_with_pending_record(tracker: OffsetTracker) -> int:
    """Produce a record for offset 5, lose the partition, read offset 5 again; return the old generation."""
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)
    old_generation = tracker.generation(KEY)
    tracker.forget([KEY])
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)
    tracker.take_ready()
    return old_generation


def test_offsets_ignore_report_of_forgotten_assignment() -> None:
    tracker = OffsetTracker()
    old_generation = _reassigned_with_pending_record(tracker)

    tracker.acknowledge(KEY, 5, old_generation)
    stale = tracker.take_ready()
    tracker.acknowledge(KEY, 5, tracker.generation(KEY))
    current = tracker.take_ready()

    assert stale == {}
    assert current == {KEY: 6}


def test_offsets_ignore_failure_of_forgotten_assignment() -> None:
    tracker = OffsetTracker()
    old_generation = _reassigned_with_pending_record(tracker)

    tracker.fail(KEY, 5, old_generation)
    tracker.acknowledge(KEY, 5, tracker.generation(KEY))

    assert tracker.take_ready() == {KEY: 6}


def test_delivery_callback_after_forget_ignored() -> None:
    tracker = OffsetTracker()
    deliveries = DeliveryTracker(tracker)
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)
    late_callback = deliveries.callback(KEY[0], KEY[1], 5, None, True)
    tracker.forget([KEY])
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)

    late_callback(None, None)

    # Only the messages before offset 5 are done: its record of the new assignment is still in flight.
    assert tracker.take_ready() == {KEY: 5}
    assert tracker.in_flight() == 1


class _Record:
    """The part of a produced record that a delivery callback reads."""

    def topic(self) -> str:
        return "events.dlq"


@pytest.mark.parametrize(
    ("error", "text", "code"),
    [
        (KafkaError(KafkaError.INVALID_RECORD), "Broker: Broker failed to validate record (INVALID_RECORD)", KafkaError.INVALID_RECORD),
        (RuntimeError("no broker"), "no broker", None),
    ],
    ids=["kafka-error", "other-error"],
)
def test_delivery_failure_describes_error(error: Exception, text: str, code: int | None) -> None:
    tracker = OffsetTracker()
    deliveries = DeliveryTracker(tracker)
    tracker.add(KEY, 5, 0)
    tracker.add_record(KEY, 5)

    deliveries.callback(KEY[0], KEY[1], 5, None, False)(error, _Record())

    failures = deliveries.take_failures()
    assert [(failure.error, failure.code) for failure in failures] == [(text, code)]
    assert failures[0].topic == "events.dlq"
    # The stored offset stops at the failed message, so it is read again after a restart.
    assert tracker.take_ready() == {KEY: 5}
