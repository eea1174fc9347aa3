"""Offsets that are safe to commit: a message counts only once all its records are acknowledged."""

from __future__ import annotations

from collections import deque

PartitionKey = tuple[str, int]


class OffsetTracker:
    """Tracks, per partition, consumed messages whose produced records are still in flight.

    Messages are added in consumption order with the number of records produced
    for them (alerts and dead letters). :meth:`take_ready` returns, per
    partition, the offset after the longest prefix of fully acknowledged
    messages, which is the offset to store. A failed record blocks its
    partition at that message for good.

    Each partition has a generation that :meth:`forget` advances. Delivery
    reports carry the generation of the moment their record was produced,
    and reports of an older generation are ignored: they belong to an
    assignment that was revoked or lost, and must not settle messages that
    a later assignment read again at the same offsets.
    """

    def __init__(self) -> None:
        self._order: dict[PartitionKey, deque[int]] = {}
        self._remaining: dict[PartitionKey, dict[int, int]] = {}
        self._blocked: dict[PartitionKey, int] = {}
        # Offsets of partitions whose every consumed message is fully acknowledged.
        self._settled: dict[PartitionKey, int] = {}
        self._generations: dict[PartitionKey, int] = {}

    def generation(self, key: PartitionKey) -> int:
        """Return the partition's current generation, to pass back with its delivery reports."""
        return self._generations.get(key, 0)

    def is_current(self, key: PartitionKey, generation: int | None) -> bool:
        """Return whether a report of ``generation`` (None: the current one) still applies to the partition."""
        return generation is None or generation == self._generations.get(key, 0)

    def add(self, key: PartitionKey, offset: int, records: int) -> None:
        """Record a consumed message and the number of records produced for it."""
        order = self._order.get(key)
        if records == 0 and not order and key not in self._blocked:
            # Nothing in flight before it: the message is settled at once (the common case).
            self._settled[key] = offset + 1
            return
        if order is None:
            order = self._order[key] = deque()
            self._remaining[key] = {}
        order.append(offset)
        self._remaining[key][offset] = records

    def add_done_through(self, key: PartitionKey, offset: int) -> None:
        """Record that the messages up to ``offset`` were consumed, those not added before with no records.

        Call it after adding the batch's messages that produce records, with the
        batch's last offset of the partition, so that skipped messages need no
        call of their own.
        """
        order = self._order.get(key)
        if order and order[-1] >= offset:
            return
        self.add(key, offset, 0)

    def add_record(self, key: PartitionKey, offset: int) -> None:
        """Note one more record produced for the message at ``offset`` (call before producing it)."""
        remaining = self._remaining.get(key)
        if remaining is not None and offset in remaining:
            remaining[offset] += 1
            return

        # The message was settled when it was added: only the messages before it stay settled.
        self._settled[key] = offset
        self._order.setdefault(key, deque()).append(offset)
        self._remaining.setdefault(key, {})[offset] = 1

    def acknowledge(self, key: PartitionKey, offset: int, generation: int | None = None) -> None:
        """Note that one record of the message at ``offset`` was acknowledged, unless ``generation`` is an older one."""
        if not self.is_current(key, generation):
            return
        remaining = self._remaining.get(key)
        if remaining is not None and offset in remaining:
            remaining[offset] -= 1

    def fail(self, key: PartitionKey, offset: int, generation: int | None = None) -> None:
        """Note that a record of the message at ``offset`` failed, so the partition stops there (unless ``generation`` is an older one)."""
        if not self.is_current(key, generation):
            return
        self._blocked[key] = min(offset, self._blocked.get(key, offset))

    def take_ready(self) -> dict[PartitionKey, int]:
        """Return the next offset to store for each partition that advanced since the last call."""
        ready = dict(self._settled)
        self._settled.clear()
        for key, order in self._order.items():
            remaining = self._remaining[key]
            blocked_at = self._blocked.get(key)
            while order and remaining[order[0]] <= 0 and (blocked_at is None or order[0] < blocked_at):
                offset = order.popleft()
                del remaining[offset]
                ready[key] = offset + 1
        return ready

    def in_flight(self) -> int:
        """Return the number of messages not yet fully acknowledged."""
        return sum(len(order) for order in self._order.values())

    def forget(self, keys: list[PartitionKey]) -> None:
        """Drop partitions that were revoked or lost, because their offsets are no longer ours to store.

        Advances each partition's generation, so that reports of records
        produced before now are ignored.
        """
        for key in keys:
            self._generations[key] = self._generations.get(key, 0) + 1
            self._order.pop(key, None)
            self._remaining.pop(key, None)
            self._blocked.pop(key, None)
            self._settled.pop(key, None)
