"""End offsets for ``--until-end``: where each input partition ended when the service started."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from stream.errors import KafkaServiceError

logger = logging.getLogger(__name__)

PartitionKey = tuple[str, int]


def find_end_offsets(consumer: Consumer, topics: Iterable[str], timeout: float = 30.0) -> dict[PartitionKey, int]:
    """Return the high watermark of every partition of ``topics``, or 0 for a partition that retains no message.

    Raises:
        KafkaServiceError: a topic does not exist or the broker did not respond within ``timeout`` seconds.
    """
    ends: dict[PartitionKey, int] = {}
    retained = 0
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=timeout)
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None or not topic_metadata.partitions:
            reason = topic_metadata.error if topic_metadata is not None else "no metadata"
            raise KafkaServiceError(f"input topic {topic!r} is not available ({reason}): create it or fix --input-topic")
        for partition in topic_metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            # A partition that retains no message (new, or emptied by retention) has nothing to wait for:
            # the consumer's position there stays unknown until a message arrives.
            ends[(topic, partition)] = high if high > low else 0
            retained += max(high - low, 0)
    partitions = "1 partition, which retains" if len(ends) == 1 else f"{len(ends)} partitions, which retain"
    logger.info("until-end: stopping at the current end of %s %d messages", partitions, retained)
    return ends


class EndTracker:
    """Records how far each partition has been processed, to tell when the start's end is reached."""

    def __init__(self, ends: dict[PartitionKey, int]) -> None:
        self._ends = ends
        self._reached: dict[PartitionKey, int] = {}

    def record(self, key: PartitionKey, next_offset: int) -> None:
        """Note that every message of ``key`` below ``next_offset`` is processed (or the partition ends there)."""
        if next_offset > self._reached.get(key, -1):
            self._reached[key] = next_offset

    def is_done(self, assigned: Iterable[PartitionKey]) -> bool:
        """Return whether every assigned partition has reached its end offset (false with no assignment)."""
        keys = list(assigned)
        if not keys:
            return False
        return all(self._reached.get(key, -1) >= self._ends.get(key, 0) or self._ends.get(key, 0) == 0 for key in keys)
