"""OffsetTracker: which offsets are safe to store."""

from __future__ import annotations

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
