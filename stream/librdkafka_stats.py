"""Values read from librdkafka's statistics JSON, which its ``stats_cb`` callback receives.

The payload layout is documented in librdkafka's STATISTICS.md: a top-level
object with ``type`` (``"consumer"`` or ``"producer"``), ``topics`` keyed by
topic name, and under each topic ``partitions`` keyed by the partition id as a
decimal string. librdkafka reports an unknown offset as -1001 and a lag it
cannot compute as -1, so this module reads any negative value as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["assignment_size_from_stats", "consumer_lags_from_stats", "broker_receives_from_stats", "BrokerReceive", "partition_lag"]

# librdkafka uses partition -1 for its internal unassigned-partition entry.
_UNASSIGNED_PARTITION = "-1"
# librdkafka's logical offset OFFSET_BEGINNING, which ``query_offset`` shows after an
# offset reset to the earliest message (auto.offset.reset=earliest).
_OFFSET_BEGINNING = -2


def consumer_lags_from_stats(stats: Mapping[str, Any]) -> dict[tuple[str, str], int | None]:
    """Extract the lag of each assigned partition from decoded librdkafka statistics.

    Returns ``{(topic, partition): lag}`` where the partition is the decimal
    string librdkafka uses as its key, and the lag is measured by
    :func:`partition_lag`, ``None`` while it is unknown. The internal partition
    -1, partitions with ``"desired": false`` (known from metadata but not
    assigned) and partition entries that are not objects are skipped. With
    librdkafka 2.16, ``assign()`` marks partitions ``"desired": true``, and
    ``unassign()`` drops them from the payload.
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

            lags[(topic, partition)] = partition_lag(partition_stats)

    return lags


def partition_lag(partition_stats: Mapping[str, Any]) -> int | None:
    """Measure how many messages of one partition the consumer has not processed yet.

    The consumer stores a message's offset only after every record the
    message led to is acknowledged, so the stored offset marks the processed
    messages. The lag, in messages, comes from the first case that applies:

    1. 0 when the partition retains no message (``hi_offset == lo_offset``).
    2. ``consumer_lag_stored`` once an offset is stored: the end offset minus
       the stored offset. It is current within one statistics interval and
       does not wait for a commit.
    3. ``consumer_lag`` while no offset is stored but one is committed, for
       example right after an assignment, which clears the stored offset: the
       end offset minus the committed offset.
    4. The end offset minus ``lo_offset`` while neither offset exists and the
       consumer started from the earliest message (``query_offset`` -2), as a
       new group with ``auto.offset.reset=earliest`` does. So a new group that
       processes nothing still shows its backlog.

    librdkafka's end offset is ``ls_offset`` with ``isolation.level=read_committed``
    (its default) and ``hi_offset`` with ``read_uncommitted``. Returns ``None``
    when the first offset that exists gives no lag, for example a stored offset
    while the watermarks are unknown, and when no case applies, for example
    with ``auto.offset.reset=latest`` before the first stored offset.
    """
    low_watermark = _non_negative(partition_stats, "lo_offset")
    high_watermark = _non_negative(partition_stats, "hi_offset")
    if high_watermark is not None and high_watermark == low_watermark:
        return 0

    if _non_negative(partition_stats, "stored_offset") is not None:
        # librdkafka reports -1 here while the end offset is unknown or below the
        # stored offset. The committed offset is older still, so it is no fallback.
        return _non_negative(partition_stats, "consumer_lag_stored")

    if _non_negative(partition_stats, "committed_offset") is not None:
        return _non_negative(partition_stats, "consumer_lag")

    if partition_stats.get("query_offset") == _OFFSET_BEGINNING:
        return _lag_from_low_watermark(partition_stats)

    return None


def _lag_from_low_watermark(partition_stats: Mapping[str, Any]) -> int | None:
    # NOTE: the statistics do not show the isolation level, so this takes the
    # last stable offset as the end, as read_committed does. With read_uncommitted
    # it leaves out the messages of transactions that are still open.
    end_offset = _non_negative(partition_stats, "ls_offset")
    if end_offset is None:
        end_offset = _non_negative(partition_stats, "hi_offset")

    low_watermark = _non_negative(partition_stats, "lo_offset")
    if end_offset is None or low_watermark is None:
        return None

    return max(end_offset - low_watermark, 0)


def _non_negative(partition_stats: Mapping[str, Any], key: str) -> int | None:
    """Return the integer at ``key``, or ``None`` when it is missing, not an integer or negative."""
    value = partition_stats.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None

    return value


def assignment_size_from_stats(stats: Mapping[str, Any]) -> int | None:
    """Return the consumer group's assigned partition count, or ``None`` if the payload lacks it."""
    group = stats.get("cgrp")
    if not isinstance(group, dict):
        return None

    assignment_size = group.get("assignment_size")
    if not isinstance(assignment_size, int) or isinstance(assignment_size, bool):
        return None

    return assignment_size


class BrokerReceive(NamedTuple):
    """The receive times of one broker connection, from one statistics payload.

    ``idle`` is the time since the last receive in seconds, None while
    librdkafka reports none: before the first receive, and whenever the
    connection is not up. ``state_age`` is the time since the connection's
    last state change in seconds, None when absent.
    """

    name: str
    leads_partitions: bool
    idle: float | None
    state_age: float | None
    # Whether the connection's state is UP.
    connected: bool


def broker_receives_from_stats(stats: Mapping[str, Any]) -> list[BrokerReceive]:
    """Read each broker's ``rxidle`` and ``stateage`` (both microseconds) and whether it leads a partition.

    A broker leads a partition for this client when the partition is in its
    ``toppars``. A broker that responds keeps ``rxidle`` below the fetch
    long-poll time (``fetch.wait.max.ms``, 500 ms by default) when it leads
    partitions, and below the heartbeat interval when it coordinates the
    group, even when no message arrives. librdkafka reports ``rxidle`` -1
    for a connection that is not up.
    """
    brokers = stats.get("brokers")
    if not isinstance(brokers, dict):
        return []

    receives = []
    for name, broker in brokers.items():
        if not isinstance(broker, dict):
            continue
        leads_partitions = isinstance(broker.get("toppars"), dict) and bool(broker["toppars"])
        idle, state_age = _microseconds(broker.get("rxidle")), _microseconds(broker.get("stateage"))
        receives.append(BrokerReceive(str(name), leads_partitions, idle, state_age, broker.get("state") == "UP"))
    return receives


def _microseconds(value: Any) -> float | None:
    """Return a non-negative integer count of microseconds in seconds, else None."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return value / 1_000_000
