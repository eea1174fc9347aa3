"""Delivery reports of produced records, fed into the offset tracker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from stream.kafka.clients import error_text
from stream.kafka.offsets import OffsetTracker


@dataclass(slots=True)
class DeliveryFailure:
    """One record the broker did not accept, with the source message it came from."""

    topic: str
    source_topic: str
    source_partition: int
    source_offset: int
    # librdkafka's description of the error and its code name, such as "Broker: Broker failed to
    # validate record (INVALID_RECORD)".
    error: str
    # librdkafka's error code (confluent_kafka.KafkaError), or None for an error of another type.
    code: int | None = None


@dataclass(slots=True)
class DeliveryTracker:
    """Builds delivery callbacks that acknowledge records in an :class:`OffsetTracker`.

    The producer calls the callbacks from ``poll``/``flush`` on the calling
    thread, so no lock is needed.
    """

    offsets: OffsetTracker
    failures: list[DeliveryFailure] = field(default_factory=list)
    # Source timestamps (ms) of acknowledged alerts, for the latency histogram.
    acknowledged_alert_timestamps: list[int] = field(default_factory=list)

    def callback(
        self, source_topic: str, source_partition: int, source_offset: int, timestamp_ms: int | None, is_alert: bool
    ) -> Callable[[Any, Any], None]:
        """Return the delivery callback for one record produced for the given source message."""
        key = (source_topic, source_partition)
        # A report that arrives after the partition was revoked or lost must not touch a later assignment.
        generation = self.offsets.generation(key)

        def on_delivery(error: Any, message: Any) -> None:
            if error is not None:
                self.offsets.fail(key, source_offset, generation)
                code = error.code() if isinstance(error, KafkaError) else None
                self.failures.append(
                    DeliveryFailure(message.topic(), source_topic, source_partition, source_offset, error_text(error), code)
                )
                return
            self.offsets.acknowledge(key, source_offset, generation)
            if is_alert and timestamp_ms is not None:
                self.acknowledged_alert_timestamps.append(timestamp_ms)

        return on_delivery

    def take_failures(self) -> list[DeliveryFailure]:
        """Return and forget the failures reported since the last call."""
        failures, self.failures = self.failures, []
        return failures

    def take_alert_timestamps(self) -> list[int]:
        """Return and forget the timestamps of alerts acknowledged since the last call."""
        timestamps, self.acknowledged_alert_timestamps = self.acknowledged_alert_timestamps, []
        return timestamps

