"""The consumer lag gauge of a running service on a real Kafka broker."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kafka_io import RunningService, numbered_stream, produce, scrape_metrics, service_arguments, wait_for

# The service's statistics.interval.ms in seconds. The gauge changes only when statistics arrive.
STATISTICS_INTERVAL_S = 5.0
EVENT_COUNT = 1000


def _lags(service: RunningService, topic: str) -> dict[str, float]:
    """Return the exported lag of each partition of ``topic``, keyed by partition id."""
    lags = {}
    for (name, labels), value in scrape_metrics(service.metrics_url).items():
        label_map = dict(labels)
        if name == "eql_stream_consumer_lag_messages" and label_map.get("topic") == topic:
            lags[label_map["partition"]] = value
    return lags


@pytest.mark.kafka
def test_lag_reaches_zero_before_commit(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(2)
    # A commit interval far longer than the test proves that the gauge does not wait for a commit.
    arguments = service_arguments(
        kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--commit-interval", "600"
    )
    service = RunningService(arguments, tmp_path / "service.log")
    try:
        wait_for(
            lambda: _lags(service, topics.input) == {"0": 0.0, "1": 0.0},
            timeout=60,
            what="a lag of 0 on both empty input partitions",
        )

        payloads, _ = numbered_stream(EVENT_COUNT, alert_every=50)
        produce(kafka_bootstrap, topics.input, payloads, partitions=2)
        consumed_key = ("eql_stream_events_consumed_total", (("topic", topics.input),))
        wait_for(
            lambda: scrape_metrics(service.metrics_url).get(consumed_key) == EVENT_COUNT,
            what=f"{EVENT_COUNT} events consumed",
        )

        # Offsets are stored once the alerts are acknowledged, shortly after the batch, and
        # the next statistics follow within one interval, so two intervals leave a margin.
        wait_for(
            lambda: _lags(service, topics.input) == {"0": 0.0, "1": 0.0},
            timeout=2 * STATISTICS_INTERVAL_S,
            what="a lag of 0 on both partitions after every event was processed",
        )
        samples = scrape_metrics(service.metrics_url)
        assert samples[("eql_stream_offset_commits_total", (("result", "ok"),))] == 0
        assert samples[("eql_stream_last_offset_commit_timestamp_seconds", ())] == 0
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()
