"""The service warns at start when the output topic accepts smaller record batches than its producer builds."""

from __future__ import annotations

import pytest

from kafka_io import run_service, service_arguments

WARNING_TEXT = "accepts record batches of up to"


@pytest.mark.kafka
@pytest.mark.parametrize(
    ("topic_config", "kafka_config", "warned"),
    [
        pytest.param({}, [], False, id="broker-default-limit"),
        pytest.param({"max.message.bytes": "100000"}, [], True, id="limit-below-batch-size"),
        pytest.param({"max.message.bytes": "100000"}, ["--kafka-config", "batch.size=100000"], False, id="batch-size-lowered"),
        pytest.param({"max.message.bytes": "100000"}, ["--kafka-config", "message.max.bytes=90000"], False, id="message-max-bytes-lowered"),
    ],
)
def test_run_output_limit_warning(
    kafka_bootstrap, kafka_topic_factory, kafka_group_id, topic_config: dict[str, str], kafka_config: list[str], warned: bool
) -> None:
    input_topic = kafka_topic_factory()
    kafka_topic_factory(name=f"{input_topic}.dlq")
    output_topic = kafka_topic_factory(config=topic_config)

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end", *kafka_config))

    assert finished.returncode == 0, finished.stderr
    assert (WARNING_TEXT in finished.stderr) is warned
    if warned:
        assert f"output topic '{output_topic}' accepts record batches of up to 100000 bytes" in finished.stderr
        assert "--kafka-config batch.size=100000" in finished.stderr
