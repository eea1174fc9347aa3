"""Delivery guarantees across restarts: kill -9 loses nothing, SIGTERM also duplicates nothing."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from kafka_io import service_arguments, RunningService, numbered_stream, produce, read_topic, run_service, scrape_metrics, wait_for

STREAM_SIZE = 100_000
ALERT_EVERY = 100


def _interrupt_then_finish(bootstrap, input_topic, output_topic, group, tmp_path: Path, sig: int) -> tuple[int, Counter]:
    """Start the service, stop it with ``sig`` mid-stream, finish with --until-end; return its exit code and alert counts."""
    service = RunningService(service_arguments(bootstrap, input_topic, output_topic, group), tmp_path / "first.log")
    consumed_key = ("eql_stream_events_consumed_total", (("topic", input_topic),))
    wait_for(
        lambda: scrape_metrics(service.metrics_url).get(consumed_key, 0) >= STREAM_SIZE // 4,
        timeout=300,
        what="a quarter of the stream consumed",
    )
    first_exit = service.stop(sig)

    finished = run_service(service_arguments(bootstrap, input_topic, output_topic, group, "--until-end"), timeout=600)
    assert finished.returncode == 0, finished.stderr

    alerts = read_topic(bootstrap, output_topic, idle_seconds=5)
    counts = Counter(record.json()["process"]["entity_id"] for record in alerts)
    return first_exit, counts


@pytest.mark.kafka
def test_kill_9_loses_no_alert(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(3)
    input_topic, output_topic = topics.input, topics.output
    payloads, expected = numbered_stream(STREAM_SIZE, alert_every=ALERT_EVERY)
    produce(kafka_bootstrap, input_topic, payloads, partitions=3)

    first_exit, counts = _interrupt_then_finish(
        kafka_bootstrap, input_topic, output_topic, kafka_group_id, tmp_path, signal.SIGKILL
    )

    duplicates = sum(count - 1 for count in counts.values())
    print(f"kill -9 restart: {len(expected)} expected alerts, {duplicates} duplicates")
    assert first_exit == -signal.SIGKILL
    assert expected - set(counts) == set()
    assert set(counts) - expected == set()


@pytest.mark.kafka
def test_sigterm_restart_exactly_once(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(3)
    input_topic, output_topic = topics.input, topics.output
    payloads, expected = numbered_stream(STREAM_SIZE // 2, alert_every=ALERT_EVERY)
    produce(kafka_bootstrap, input_topic, payloads, partitions=3)

    first_exit, counts = _interrupt_then_finish(
        kafka_bootstrap, input_topic, output_topic, kafka_group_id, tmp_path, signal.SIGTERM
    )

    assert first_exit == 0
    assert set(counts) == expected
    assert [entity for entity, count in counts.items() if count > 1] == []
