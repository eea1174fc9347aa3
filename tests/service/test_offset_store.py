"""DetectionService: offsets of partitions this consumer does not own are logged and dropped, not fatal."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from stream.config_loading import load_settings
from stream.health import HealthState
from stream.metrics import Metrics
from stream.ruleset import load_rule_set
from stream.service import DetectionService


@pytest.mark.kafka
@pytest.mark.parametrize("assigned_before", [pytest.param(False, id="never-assigned"), pytest.param(True, id="unassigned")])
def test_store_offsets_skips_unowned_partition(
    kafka_bootstrap, service_topics_factory, kafka_group_id, caplog: pytest.LogCaptureFixture, assigned_before: bool
) -> None:
    topics = service_topics_factory()
    flags = {"bootstrap_servers": kafka_bootstrap, "input_topics": [topics.input], "output_topic": topics.output, "group_id": kafka_group_id}
    settings = load_settings(flags, {}, None)
    rule_set, _ = load_rule_set()
    metrics = Metrics(CollectorRegistry())
    service = DetectionService(settings, rule_set, metrics, HealthState(ready_gauge=metrics.ready, stall_timeout=60.0))
    consumer = service._consumer
    if assigned_before:
        consumer.assign([TopicPartition(topics.input, 0, 0)])
        consumer.unassign()

    try:
        service._offsets.add((topics.input, 0), 4, 0)
        with caplog.at_level(logging.WARNING, logger="stream.service"):
            service._store_ready_offsets()
    finally:
        consumer.close()

    assert "not assigned to this consumer" in caplog.text
    assert service._fatal_error is None
