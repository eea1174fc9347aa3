"""`eql-stream run` with Schema Registry framed Avro in and out, on the real broker.

No Schema Registry server can run here, so the service runs in this process
(in a thread) and shares confluent-kafka's in-memory registry (``mock://``)
with the test's producer.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import orjson
import pytest

from kafka_io import labelled_corpus, produce, read_topic, run_service, service_arguments
from stream.codecs.avro_codec import AvroEventDecoder, encode_event
from stream.codecs.avro_schema import load_shipped_schema
from stream.codecs.registry import frame, make_registry_client, register_schema, topic_subject
from stream.config_loading import load_settings
from stream.runner import run_detection_service


def _run_in_thread(settings) -> int:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_detection_service(settings)))
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "the service did not stop with --until-end"
    return result[0]


def _settings(bootstrap: str, topics, group: str, registry_url: str, *, output_format: str = "avro", prefilter: bool = True):
    return load_settings(
        {
            "bootstrap_servers": bootstrap,
            "input_topics": [topics.input],
            "output_topic": topics.output,
            "group_id": group,
            "metrics_host": "127.0.0.1",
            "metrics_port": "0",
            "until_end": True,
            "input_format": "avro",
            "output_format": output_format,
            "schema_registry_url": registry_url,
            "prefilter": prefilter,
        },
        {key: value for key, value in os.environ.items() if not key.startswith("EQL_STREAM_")},
        None,
    )


def _alert_key(alert: dict) -> tuple:
    return (alert["kibana.alert.original_time"], alert["process"]["command_line"], alert["process"]["name"])


@pytest.mark.kafka
def test_run_framed_avro_same_alerts_as_json(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory(2)
    registry_url = f"mock://e2e-{uuid.uuid4().hex}"
    registry = make_registry_client(registry_url)
    event_schema = load_shipped_schema("process_event")
    schema_id = register_schema(registry, topic_subject(topics.input), event_schema)
    corpus = labelled_corpus()
    produce(
        kafka_bootstrap,
        topics.input,
        (encode_event(event, event_schema, schema_id=schema_id) for event, _ in corpus),
        partitions=2,
    )

    exit_code = _run_in_thread(_settings(kafka_bootstrap, topics, kafka_group_id, registry_url))

    assert exit_code == 0
    records = read_topic(kafka_bootstrap, topics.output, expected=43)
    alert_decoder = AvroEventDecoder(load_shipped_schema("alert"), registry=registry)
    alerts = [alert_decoder.decode(record.value) for record in records]
    assert all(record.value[:1] == b"\x00" for record in records)
    expected = sorted(
        (event["@timestamp"], event["process"]["command_line"], event["process"]["name"])
        for event, should_alert in corpus
        if should_alert
    )
    assert sorted(map(_alert_key, alerts)) == expected


AVRO_DEAD_LETTER_CASES = [
    pytest.param(b"\x01\x00\x00\x00\x01garbage", "invalid_framing", id="wrong-magic-byte"),
    pytest.param(b"\x00\x00", "invalid_framing", id="too-short"),
    pytest.param(frame(999_999, b"\x02"), "schema_not_found", id="unknown-schema-id"),
    pytest.param(None, "invalid_avro", id="tombstone"),
]


@pytest.mark.kafka
def test_run_framed_avro_dead_letters(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    registry_url = f"mock://dlq-{uuid.uuid4().hex}"
    registry = make_registry_client(registry_url)
    event_schema = load_shipped_schema("process_event")
    schema_id = register_schema(registry, topic_subject(topics.input), event_schema)
    good = next(event for event, should_alert in labelled_corpus() if should_alert)
    truncated = encode_event(good, event_schema, schema_id=schema_id)[:40]
    payloads = [case.values[0] for case in AVRO_DEAD_LETTER_CASES] + [truncated]
    reasons = [case.values[1] for case in AVRO_DEAD_LETTER_CASES] + ["invalid_avro"]
    produce(kafka_bootstrap, topics.input, [*payloads, encode_event(good, event_schema, schema_id=schema_id)])

    # A truncated body behind a known schema id looks well-formed, so only
    # --no-prefilter guarantees it is decoded and dead-lettered.
    exit_code = _run_in_thread(
        _settings(kafka_bootstrap, topics, kafka_group_id, registry_url, output_format="json", prefilter=False)
    )

    assert exit_code == 0
    dead = read_topic(kafka_bootstrap, topics.dead_letter, expected=len(payloads))
    assert [record.value for record in dead] == payloads
    assert [record.headers["eql_stream.error.reason"].decode() for record in dead] == reasons
    (alert,) = read_topic(kafka_bootstrap, topics.output, expected=1)
    assert orjson.loads(alert.value)["process"]["name"] == good["process"]["name"]


PLAIN_AVRO_DEAD_LETTER_CASES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\x00", id="shorter-than-any-record"),
    pytest.param(None, id="tombstone"),
]


@pytest.mark.kafka
def test_run_plain_avro_dead_letters_short_payloads(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    event_schema = load_shipped_schema("process_event")
    good = next(event for event, should_alert in labelled_corpus() if should_alert)
    payloads = [case.values[0] for case in PLAIN_AVRO_DEAD_LETTER_CASES]
    produce(kafka_bootstrap, topics.input, [*payloads, encode_event(good, event_schema)])
    schema_path = str(Path(__file__).resolve().parents[2] / "schemas" / "process_event.avsc")

    # With the prefilter on: these payloads contain no rule's text, yet none can be a record.
    finished = run_service(
        service_arguments(
            kafka_bootstrap, topics.input, topics.output, kafka_group_id,
            "--until-end", "--input-format", "avro", "--input-schema", schema_path,
        )
    )

    assert finished.returncode == 0, finished.stderr
    dead = read_topic(kafka_bootstrap, topics.dead_letter, expected=len(payloads))
    assert [record.value for record in dead] == payloads
    assert {record.headers["eql_stream.error.reason"] for record in dead} == {b"invalid_avro"}
    (alert,) = read_topic(kafka_bootstrap, topics.output, expected=1)
    assert orjson.loads(alert.value)["process"]["name"] == good["process"]["name"]
