"""Values read from librdkafka's statistics JSON, which its ``stats_cb`` callback receives.

The payload layout is documented in librdkafka's STATISTICS.md: a top-level
object with ``type`` (``"consumer"`` or ``"producer"``), ``topics`` keyed by
topic name, and under each topic ``partitions`` keyed by the partition id as a
decimal string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["assignment_size_from_stats", "consumer_lags_from_stats"]

# librdkafka reports -1 for a lag it cannot compute yet, and uses partition -1
# for its internal unassigned-partition entry.
_UNKNOWN_LAG = -1
_UNASSIGNED_PARTITION = "-1"


def consumer_lags_from_stats(stats: Mapping[str, Any]) -> dict[tuple[str, str], int | None]:
    """Extract the lag of each assigned partition from decoded librdkafka statistics.

    Returns ``{(topic, partition): lag}`` where the partition is the decimal
    string librdkafka uses as its key, and the lag is ``None`` while librdkafka
    reports it as unknown (-1). The internal partition -1 and partitions with
    ``"desired": false`` (known from metadata but not assigned) are skipped.
    Entries of an unexpected shape are skipped as well. With librdkafka 2.16,
    ``assign()`` marks partitions ``"desired": true``, and ``unassign()``
    drops them from the payload.
    """
    lags: dict[tuple[str, str], int | None] = {}
    topics = stats.get("topics")
    if not isinstance(topics, dict):
        return lags

    for topic, topic_stats in topics.items():
        partitions = topic_stats.get("partitions") if isinstance(topic_stats, dict) else None
        if not isinstance(partitions, dict):
            continue

        for partition, partition_stats in partitions.items():
            if partition == _UNASSIGNED_PARTITION or not isinstance(partition_stats, dict):
                continue
            if partition_stats.get("desired") is False:
                continue

            lag = partition_stats.get("consumer_lag")
            if not isinstance(lag, int) or isinstance(lag, bool):
                continue

            lags[(topic, partition)] = None if lag == _UNKNOWN_LAG else lag

    return lags


def assignment_size_from_stats(stats: Mapping[str, Any]) -> int | None:
    """Return the consumer group's assigned partition count, or ``None`` if the payload lacks it."""
    group = stats.get("cgrp")
    if not isinstance(group, dict):
        return None

    assignment_size = group.get("assignment_size")
    if not isinstance(assignment_size, int) or isinstance(assignment_size, bool):
        return None

    return assignment_size
