"""The service refuses to start, naming the topic and the flag, when a topic it needs does not exist."""

from __future__ import annotations

import pytest

from kafka_io import run_service, service_arguments


@pytest.mark.kafka
@pytest.mark.parametrize(
    ("missing", "flag"),
    [
        pytest.param("input", "--input-topic", id="input-topic"),
        pytest.param("output", "--output-topic", id="output-topic"),
        pytest.param("dead_letter", "--dlq-topic", id="dead-letter-topic"),
    ],
)
def test_run_missing_topic_exits_1(kafka_bootstrap, kafka_topic_factory, kafka_group_id, missing: str, flag: str) -> None:
    topics = {"input": f"absent-input-{kafka_group_id}", "output": f"absent-output-{kafka_group_id}"}
    if missing != "input":
        topics["input"] = kafka_topic_factory()
        if missing == "output":
            kafka_topic_factory(name=f"{topics['input']}.dlq")
    if missing != "output":
        topics["output"] = kafka_topic_factory()
    absent = topics[missing] if missing != "dead_letter" else f"{topics['input']}.dlq"

    finished = run_service(service_arguments(kafka_bootstrap, topics["input"], topics["output"], kafka_group_id), timeout=60)

    assert finished.returncode == 1
    assert f"topic '{absent}' does not exist" in finished.stdout + finished.stderr
    assert flag in finished.stdout + finished.stderr
