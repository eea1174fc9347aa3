"""librdkafka client settings: the admin client's settings and the producer's largest record batch."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from stream.kafka.clients import admin_config, error_text, producer_batch_limit


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({}, 1_000_000, id="librdkafka-defaults"),
        pytest.param({"batch.size": "100000"}, 100_000, id="batch-size"),
        pytest.param({"batch.size": 200_000, "message.max.bytes": "90000"}, 90_000, id="capped-by-message-max-bytes"),
        pytest.param({"batch.size": "1e6"}, None, id="exponent-not-compared"),
        pytest.param({"message.max.bytes": "0x100000"}, None, id="hexadecimal-not-compared"),
        pytest.param({"batch.size": "500000abc"}, None, id="trailing-text-not-compared"),
    ],
)
def test_producer_batch_limit_table(extra: dict[str, Any], expected: int | None) -> None:
    assert producer_batch_limit(extra) == expected


def test_admin_config_keeps_security_drops_client_settings() -> None:
    extra = {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "linger.ms": 5, "fetch.min.bytes": 1, "batch.size": 1000}

    config = admin_config("broker:9093", extra)

    assert config["bootstrap.servers"] == "broker:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "PLAIN"
    assert not {"linger.ms", "fetch.min.bytes", "batch.size"} & set(config)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (KafkaError(KafkaError.INVALID_RECORD), "Broker: Broker failed to validate record (INVALID_RECORD)"),
        (KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT)), "Local: Message timed out (_MSG_TIMED_OUT)"),
        (RuntimeError("no broker"), "no broker"),
        (BufferError(), "BufferError"),
    ],
    ids=["kafka-error", "kafka-exception", "other-error", "error-without-text"],
)
def test_error_text_names_code(error: object, text: str) -> None:
    assert error_text(error) == text
