"""Tracking of produced records until the broker acknowledges them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DeliveryFailure:
    """One record the broker did not accept, with the source message it came from."""

    topic: str
    source_topic: str
    source_partition: int
    source_offset: int
    error: str


@dataclass(slots=True)
class DeliveryTracker:
    """Counts the records of one batch and collects delivery failures.

    The producer calls :meth:`on_delivery` from ``poll``/``flush`` on the
    calling thread, so no lock is needed.
    """

    pending: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)
    # Timestamps (ms) of the source messages of acknowledged alerts, for the latency histogram.
    acknowledged_alert_timestamps: list[int] = field(default_factory=list)

    def callback(self, source_topic: str, source_partition: int, source_offset: int, timestamp_ms: int | None, is_alert: bool):  # type: ignore[no-untyped-def]
        """Return the delivery callback for one record."""
        self.pending += 1

        def on_delivery(error: Any, message: Any) -> None:
            self.pending -= 1
            if error is not None:
                self.failures.append(
                    DeliveryFailure(message.topic(), source_topic, source_partition, source_offset, str(error))
                )
            elif is_alert and timestamp_ms is not None:
                self.acknowledged_alert_timestamps.append(timestamp_ms)

        return on_delivery

    def reset(self) -> None:
        """Forget the previous batch."""
        self.pending = 0
        self.failures.clear()
        self.acknowledged_alert_timestamps.clear()
