"""DetectionService: the wait for deliveries at a stop or revocation keeps to one timeout."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from stream.config_loading import load_settings
from stream.health import HealthState
from stream.metrics import Metrics
from stream.ruleset import load_rule_set
from stream.producing import RejectedAlert
from stream.service import DetectionService


class _SlowFlushProducer:
    """The service's producer, with a flush that uses its whole timeout and leaves a record undelivered."""

    def __init__(self, producer: object) -> None:
        self._producer = producer
        self.flush_timeouts: list[float] = []

    def flush(self, timeout: float) -> int:
        self.flush_timeouts.append(timeout)
        time.sleep(timeout)
        return 1

    def __getattr__(self, name: str) -> object:
        return getattr(self._producer, name)


@pytest.mark.kafka
def test_wait_for_deliveries_one_timeout(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    flags = {"bootstrap_servers": kafka_bootstrap, "input_topics": [topics.input], "output_topic": topics.output, "group_id": kafka_group_id}
    metrics = Metrics(CollectorRegistry())
    service = DetectionService(load_settings(flags, {}, None), load_rule_set()[0], metrics, HealthState(ready_gauge=metrics.ready))
    producer = _SlowFlushProducer(service._records.producer)
    service._records.producer = producer  # type: ignore[assignment]
    # As if an alert had been rejected during the first flush, which used the whole timeout.
    service._records.rejected_alerts = [RejectedAlert(_SourceMessage(), "rule-id", "rule", 2_000_000, "MSG_SIZE_TOO_LARGE", 0)]  # type: ignore[arg-type]

    started = time.monotonic()
    try:
        undelivered = service._wait_for_deliveries(0.5)
    finally:
        service._consumer.close()

    # No time is left for the rejected alert's dead letter, so it is not produced and counts as undelivered.
    assert undelivered == 2
    assert producer.flush_timeouts == [0.5]
    assert service._records.rejected_alerts != []
    assert time.monotonic() - started < 0.9


class _FullQueueProducer:
    """A producer whose local queue is full for 3 s: produce raises BufferError, as confluent-kafka's does."""

    def __init__(self) -> None:
        self._full_until = time.monotonic() + 3.0

    def flush(self, timeout: float) -> int:
        time.sleep(min(timeout, 0.2))
        return 1

    def produce(self, *arguments: object, **keywords: object) -> None:
        if time.monotonic() < self._full_until:
            raise BufferError("Local: Queue full")

    def poll(self, timeout: float) -> int:
        time.sleep(timeout)
        return 0


class _SourceMessage:
    """The parts of a consumed message that dead-lettering reads."""

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def headers(self) -> None:
        return None

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return b"{}"


def test_wait_for_deliveries_full_queue_keeps_deadline() -> None:
    # No broker: the clients are built but never connect within the test.
    flags = {"bootstrap_servers": "127.0.0.1:1", "input_topics": ["events"], "output_topic": "alerts", "group_id": "g"}
    metrics = Metrics(CollectorRegistry())
    service = DetectionService(load_settings(flags, {}, None), load_rule_set()[0], metrics, HealthState(ready_gauge=metrics.ready))
    consumer = service._consumer
    service._records.producer = _FullQueueProducer()  # type: ignore[assignment]
    service._records.rejected_alerts = [RejectedAlert(_SourceMessage(), "rule-id", "rule", 2_000_000, "MSG_SIZE_TOO_LARGE", 0)]  # type: ignore[arg-type]

    started = time.monotonic()
    try:
        service._wait_for_deliveries(0.5)
    finally:
        consumer.close()

    assert time.monotonic() - started < 1.0
    assert service._fatal_error is not None
    assert "producing the dead letter of the rejected alert of events/0/7 failed" in service._fatal_error
