"""`eql-stream run` end to end on a real Kafka broker."""

from __future__ import annotations

import random
import re
import signal
import string
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from kafka_io import service_arguments, RunningService, labelled_corpus, produce, read_topic, run_service, scrape_metrics, wait_for

SHIPPED_RULE_ID = "c4e9ed3e-55a2-4309-a012-bc3c78dad10a"


def _identity(document: dict) -> bytes:
    """What identifies a corpus event inside an alert: its process, user and host objects."""
    return orjson.dumps(
        {key: document.get(key) for key in ("process", "user", "host", "data_stream")}, option=orjson.OPT_SORT_KEYS
    )


@pytest.mark.kafka
def test_run_corpus_one_alert_per_expected_event(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory(3)
    input_topic, output_topic = topics.input, topics.output
    corpus = labelled_corpus()
    produce(kafka_bootstrap, input_topic, (orjson.dumps(event) for event, _ in corpus), partitions=3)

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 0, finished.stderr
    alerts = [record.json() for record in read_topic(kafka_bootstrap, output_topic)]
    expected = sorted(_identity(event) for event, should_alert in corpus if should_alert)
    assert sorted(_identity(alert) for alert in alerts) == expected
    assert all(alert["kibana.alert.rule.rule_id"] == SHIPPED_RULE_ID for alert in alerts)


@pytest.mark.kafka
def test_run_alert_key_and_headers(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    input_topic, output_topic = topics.input, topics.output
    event = next(event for event, should_alert in labelled_corpus() if should_alert)
    produce(kafka_bootstrap, input_topic, [orjson.dumps(event)])

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 0, finished.stderr
    (record,) = read_topic(kafka_bootstrap, output_topic, expected=1)
    alert = record.json()
    assert record.key == alert["kibana.alert.uuid"].encode()
    assert record.headers["eql_stream.rule_id"] == SHIPPED_RULE_ID.encode()
    assert record.headers["eql_stream.source.topic"] == input_topic.encode()
    assert record.headers["eql_stream.source.partition"] == b"0"
    assert record.headers["eql_stream.source.offset"] == b"0"


DEAD_LETTER_CASES = [
    pytest.param(b"\xff\xfe\x00garbage", "invalid_utf8", id="not-utf8"),
    pytest.param(b'{"event": {"category": ', "invalid_json", id="truncated-json"),
    pytest.param(b"not json at all", "invalid_json", id="plain-text"),
    pytest.param(b"[1, 2, 3]", "not_an_object", id="json-array"),
    pytest.param(b'"a string"', "not_an_object", id="json-string"),
    pytest.param(b"42", "not_an_object", id="json-number"),
    pytest.param(None, "invalid_json", id="tombstone"),
    pytest.param(
        b'{"event": {"category": ["process"], "type": ["start"]}, "process": {"name": {"nested": "object"}}}',
        "invalid_field_type",
        id="object-in-keyword-field",
    ),
]


@pytest.mark.kafka
def test_run_dead_letters_each_bad_message(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    input_topic, output_topic = topics.input, topics.output
    good = next(event for event, should_alert in labelled_corpus() if should_alert)
    payloads = [case.values[0] for case in DEAD_LETTER_CASES]
    produce(kafka_bootstrap, input_topic, [*payloads, orjson.dumps(good)])

    # Without the prefilter every message is validated; with it, a well-formed object that
    # cannot match (the impossible-type case) is skipped instead of dead-lettered.
    finished = run_service(
        service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end", "--no-prefilter")
    )

    assert finished.returncode == 0, finished.stderr
    dead = read_topic(kafka_bootstrap, topics.dead_letter, expected=len(payloads))
    assert [record.value for record in dead] == payloads
    assert [record.headers["eql_stream.error.reason"].decode() for record in dead] == [
        case.values[1] for case in DEAD_LETTER_CASES
    ]
    assert [record.headers["eql_stream.source.offset"] for record in dead] == [
        str(offset).encode() for offset in range(len(payloads))
    ]
    assert all(record.headers["eql_stream.error.message"] for record in dead)
    assert len(read_topic(kafka_bootstrap, output_topic, expected=1)) == 1
    assert f"dead-lettered {input_topic}/0/0, reason invalid_utf8" in finished.stderr
    assert f"consumed {len(payloads) + 1} messages since start" in finished.stderr
    assert f"alerts produced: 1, dead-lettered: {len(payloads)})" in finished.stderr


@pytest.mark.kafka
def test_run_json_log_has_dead_letter_fields(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    produce(kafka_bootstrap, topics.input, [b"not json"])

    finished = run_service(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--until-end", "--log-format", "json")
    )

    assert finished.returncode == 0, finished.stderr
    records = [orjson.loads(line) for line in finished.stderr.splitlines() if line.startswith("{")]
    (dead_letter,) = [record for record in records if record["message"].startswith("dead-lettered")]
    assert dead_letter["dead_letter_reason"] == "invalid_json"
    assert dead_letter["source_topic"] == topics.input
    assert dead_letter["source_partition"] == 0
    assert dead_letter["source_offset"] == 0


# An alert is its source event plus about 2 KB of alert fields, so these limits let a dead letter
# (the source event and a few headers) through and reject the alert.
REJECTED_ALERT_CASES = [
    pytest.param("broker", id="output-topic-max-message-bytes"),
    pytest.param("producer", id="producer-message-max-bytes"),
]


@pytest.mark.kafka
@pytest.mark.parametrize("rejected_by", REJECTED_ALERT_CASES)
def test_run_dead_letters_alert_too_large(rejected_by: str, kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    input_topic = kafka_topic_factory()
    dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq")
    event = orjson.dumps(next(event for event, should_alert in labelled_corpus() if should_alert))
    extra = ["--until-end"]
    if rejected_by == "broker":
        output_topic = kafka_topic_factory(config={"max.message.bytes": "200"})
    else:
        output_topic = kafka_topic_factory()
        extra += ["--kafka-config", f"message.max.bytes={len(event) + 1000}"]
    produce(kafka_bootstrap, input_topic, [event, event])

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, *extra))

    assert finished.returncode == 0, finished.stderr
    dead = read_topic(kafka_bootstrap, dead_letter_topic, expected=2)
    assert [record.value for record in dead] == [event, event]
    assert {record.headers["eql_stream.error.reason"] for record in dead} == {b"alert_rejected"}
    message = dead[0].headers["eql_stream.error.message"].decode()
    assert SHIPPED_RULE_ID in message
    assert "'Windows System Network Connections Discovery'" in message
    assert "max.message.bytes" in message
    assert read_topic(kafka_bootstrap, output_topic, idle_seconds=1.0) == []
    # The alerts counter counts acknowledged alerts only, so neither rejected alert is in it.
    assert "alerts produced: 0, dead-lettered: 2)" in finished.stderr

    again = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))
    assert again.returncode == 0, again.stderr
    assert "consumed 0 messages since start" in again.stderr


@pytest.mark.kafka
def test_run_small_alerts_survive_rejected_batch(kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    # The broker checks max.message.bytes against a whole record batch, so small alerts that share a
    # batch with a too-large one are rejected with it. Produced again alone, they fit.
    input_topic = kafka_topic_factory()
    dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq")
    output_topic = kafka_topic_factory(config={"max.message.bytes": "50000"})
    event = next(event for event, should_alert in labelled_corpus() if should_alert)
    padding = "".join(random.Random(9).choices(string.ascii_letters, k=60_000))
    large = orjson.dumps({**event, "labels": {"padding": padding}})
    small = orjson.dumps(event)
    produce(kafka_bootstrap, input_topic, [small] * 3 + [large] + [small] * 3)

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 0, finished.stderr
    alerts = read_topic(kafka_bootstrap, output_topic, expected=6)
    assert sorted(int(record.headers["eql_stream.source.offset"]) for record in alerts) == [0, 1, 2, 4, 5, 6]
    dead = read_topic(kafka_bootstrap, dead_letter_topic, expected=1)
    assert [record.value for record in dead] == [large]
    assert dead[0].headers["eql_stream.error.reason"] == b"alert_rejected"
    # The dead letter blames the large alert's own size, not a batch.
    rejected_size = re.search(r", (\d+) bytes\) was rejected", dead[0].headers["eql_stream.error.message"].decode())
    assert rejected_size is not None
    assert int(rejected_size.group(1)) > 50_000
    assert "alerts produced: 6, dead-lettered: 1)" in finished.stderr
    assert "Producing it again in a batch of its own" in finished.stderr


# A 12,000-byte message that is not JSON. Its random letters keep compression from shrinking it below
# the limits of the cases, which reject its whole dead letter and let a shortened one through.
TOO_LARGE_BAD_MESSAGE = "".join(random.Random(5).choices(string.ascii_letters, k=12_000)).encode()
DEAD_LETTER_TOO_LARGE_CASES = [
    pytest.param("broker", id="dead-letter-topic-max-message-bytes"),
    pytest.param("producer", id="producer-message-max-bytes"),
]


@pytest.mark.kafka
@pytest.mark.parametrize("rejected_by", DEAD_LETTER_TOO_LARGE_CASES)
def test_run_shortens_large_dead_letter(rejected_by: str, kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    input_topic = kafka_topic_factory()
    output_topic = kafka_topic_factory()
    extra = ["--until-end"]
    if rejected_by == "broker":
        dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq", config={"max.message.bytes": "8000"})
    else:
        dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq")
        extra += ["--kafka-config", "message.max.bytes=8000"]
    event = orjson.dumps(next(event for event, should_alert in labelled_corpus() if should_alert))
    produce(kafka_bootstrap, input_topic, [TOO_LARGE_BAD_MESSAGE, event])

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, *extra))

    assert finished.returncode == 0, finished.stderr
    (dead,) = read_topic(kafka_bootstrap, dead_letter_topic, expected=1)
    assert dead.value == TOO_LARGE_BAD_MESSAGE[:1024]
    assert dead.headers["eql_stream.error.reason"] == b"invalid_json"
    assert dead.headers["eql_stream.payload.original_size"] == b"12000"
    assert dead.headers["eql_stream.source.offset"] == b"0"
    assert b"payload cut to its first 1024 of 12000 bytes" in dead.headers["eql_stream.error.message"]
    assert f"the dead letter of {input_topic}/0/0 (12000 bytes of payload) was rejected" in finished.stderr
    assert len(read_topic(kafka_bootstrap, output_topic, expected=1)) == 1

    again = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))
    assert again.returncode == 0, again.stderr
    assert "consumed 0 messages since start" in again.stderr


@pytest.mark.kafka
def test_run_retries_rejected_batch_alone(kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    # Each dead letter fits the topic's limit alone, but a batch of them does not, and the broker
    # checks max.message.bytes against a whole batch.
    input_topic = kafka_topic_factory()
    output_topic = kafka_topic_factory()
    dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq", config={"max.message.bytes": "8000"})
    letters = random.Random(9)
    bad = ["".join(letters.choices(string.ascii_letters, k=1500)).encode() for _ in range(40)]
    produce(kafka_bootstrap, input_topic, bad)

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 0, finished.stderr
    dead = read_topic(kafka_bootstrap, dead_letter_topic, expected=40)
    assert sorted(record.value for record in dead) == sorted(bad)
    assert all("eql_stream.payload.original_size" not in record.headers for record in dead)


@pytest.mark.kafka
def test_run_invalid_dead_letter_not_shortened(kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    # A compacted topic rejects a record without a key as INVALID_RECORD, which no shorter payload fixes.
    input_topic = kafka_topic_factory()
    output_topic = kafka_topic_factory()
    kafka_topic_factory(name=f"{input_topic}.dlq", config={"cleanup.policy": "compact"})
    produce(kafka_bootstrap, input_topic, [b"not json"])

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 1
    assert f"delivery to {input_topic}.dlq failed for source {input_topic}/0/0" in finished.stderr
    assert "Producing it again" not in finished.stderr


@pytest.mark.kafka
def test_run_stops_on_rejected_short_dead_letter(kafka_bootstrap, kafka_topic_factory, kafka_group_id) -> None:
    input_topic = kafka_topic_factory()
    output_topic = kafka_topic_factory()
    kafka_topic_factory(name=f"{input_topic}.dlq", config={"max.message.bytes": "1200"})
    produce(kafka_bootstrap, input_topic, [TOO_LARGE_BAD_MESSAGE])

    finished = run_service(service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id, "--until-end"))

    assert finished.returncode == 1
    assert f"the shortened dead letter of {input_topic}/0/0 was rejected for topic '{input_topic}.dlq' too" in finished.stderr
    assert "Raise that topic's max.message.bytes" in finished.stderr


@pytest.mark.kafka
def test_run_metrics_count_what_was_sent(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(2)
    input_topic, output_topic = topics.input, topics.output
    corpus = labelled_corpus()
    bad = [b"not json", b"[1]"]
    service = RunningService(
        service_arguments(kafka_bootstrap, input_topic, output_topic, kafka_group_id), tmp_path / "service.log"
    )
    try:
        produce(kafka_bootstrap, input_topic, [*(orjson.dumps(event) for event, _ in corpus), *bad], partitions=2)
        consumed_key = ("eql_stream_events_consumed_total", (("topic", input_topic),))
        expected_alerts = sum(1 for _, should_alert in corpus if should_alert)
        latency_key = ("eql_stream_alert_latency_seconds_count", ())
        wait_for(
            lambda: scrape_metrics(service.metrics_url).get(consumed_key) == len(corpus) + len(bad),
            what="all messages consumed",
        )
        # Deliveries are acknowledged after their batch, so latencies arrive a little later.
        wait_for(
            lambda: scrape_metrics(service.metrics_url).get(latency_key) == expected_alerts,
            what="every alert acknowledged",
        )

        samples = scrape_metrics(service.metrics_url)
        assert samples[("eql_stream_alerts_produced_total", (("rule_id", SHIPPED_RULE_ID),))] == expected_alerts
        assert samples[("eql_stream_events_dead_lettered_total", (("reason", "invalid_json"),))] == 1
        assert samples[("eql_stream_events_dead_lettered_total", (("reason", "not_an_object"),))] == 1
        assert samples[("eql_stream_rules_loaded", ())] == 1
        assert samples[("eql_stream_events_prefiltered_total", (("topic", input_topic),))] > 0
        assert samples[("eql_stream_alert_latency_seconds_count", ())] == expected_alerts
        with urllib.request.urlopen(service.metrics_url + "/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()
    assert "stopped: SIGTERM" in service.log()


@pytest.mark.kafka
def test_run_prefilter_still_dead_letters_malformed(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    malformed = [case.values[0] for case in DEAD_LETTER_CASES if case.values[1] != "invalid_field_type"]
    produce(kafka_bootstrap, topics.input, malformed)

    finished = run_service(service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--until-end"))

    assert finished.returncode == 0, finished.stderr
    dead = read_topic(kafka_bootstrap, topics.dead_letter, expected=len(malformed))
    assert [record.value for record in dead] == malformed


@pytest.mark.kafka
def test_run_two_workers_one_alert_per_expected_event(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory(4)
    corpus = labelled_corpus()
    produce(kafka_bootstrap, topics.input, (orjson.dumps(event) for event, _ in corpus), partitions=4)

    finished = run_service(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--until-end", "--workers", "2")
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.count("worker ") >= 2
    alerts = [record.json() for record in read_topic(kafka_bootstrap, topics.output)]
    expected = sorted(_identity(event) for event, should_alert in corpus if should_alert)
    assert sorted(_identity(alert) for alert in alerts) == expected


@pytest.mark.kafka
def test_run_two_workers_share_metrics_endpoint(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(4)
    corpus = labelled_corpus()
    service = _start_two_workers(kafka_bootstrap, topics, kafka_group_id, tmp_path)
    try:
        produce(kafka_bootstrap, topics.input, (orjson.dumps(event) for event, _ in corpus), partitions=4)
        consumed_key = ("eql_stream_events_consumed_total", (("topic", topics.input),))
        wait_for(
            lambda: scrape_metrics(service.metrics_url).get(consumed_key) == len(corpus),
            what="all messages consumed by the two workers",
        )
        # Alerts are counted once the broker acknowledges them, which can be a little after consumption.
        expected_alerts = sum(1 for _, should_alert in corpus if should_alert)
        alerts_key = ("eql_stream_alerts_produced_total", (("rule_id", SHIPPED_RULE_ID),))
        wait_for(
            lambda: scrape_metrics(service.metrics_url).get(alerts_key) == expected_alerts,
            timeout=30,
            what="every alert acknowledged",
        )
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()


@pytest.mark.kafka
def test_run_two_input_topics_alert_from_both(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    first, second = service_topics_factory(2), service_topics_factory(2)
    corpus = labelled_corpus()
    halves = {first.input: corpus[0::2], second.input: corpus[1::2]}
    for topic, events in halves.items():
        produce(kafka_bootstrap, topic, (orjson.dumps(event) for event, _ in events), partitions=2)

    arguments = service_arguments(kafka_bootstrap, first.input, first.output, kafka_group_id, "--until-end")
    finished = run_service([*arguments, "--input-topic", second.input])

    assert finished.returncode == 0, finished.stderr
    records = read_topic(kafka_bootstrap, first.output)
    for topic, events in halves.items():
        from_topic = [record.json() for record in records if record.headers["eql_stream.source.topic"] == topic.encode()]
        expected = sorted(_identity(event) for event, should_alert in events if should_alert)
        assert sorted(_identity(alert) for alert in from_topic) == expected


@pytest.mark.kafka
def test_run_two_workers_ready_only_after_assignment(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(2)
    service = _start_two_workers(kafka_bootstrap, topics, kafka_group_id, tmp_path)
    try:
        statuses = []
        deadline = time.monotonic() + 60
        while not statuses or statuses[-1] != 200:
            statuses.append(_readyz_status(service.metrics_url))
            assert service.process.poll() is None, service.log()
            assert time.monotonic() < deadline, f"not ready after 60 s: {service.log()}"
        log_when_ready = service.log()
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()
    assert "partitions assigned" in log_when_ready
    assert statuses[0] == 503


def _readyz_status(metrics_url: str) -> int:
    try:
        with urllib.request.urlopen(metrics_url + "/readyz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.kafka
def test_run_two_workers_sigterm_during_startup_exits_0(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory(2)
    service = _start_two_workers(kafka_bootstrap, topics, kafka_group_id, tmp_path)

    # The metrics URL is logged before the workers have started, so the signal reaches them early.
    exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0, service.log()


def _start_two_workers(bootstrap: str, topics, group_id: str, tmp_path: Path) -> RunningService:
    """Start ``run --workers 2`` on ``topics`` in the background, logging to ``tmp_path``."""
    arguments = service_arguments(bootstrap, topics.input, topics.output, group_id, "--workers", "2")
    return RunningService(arguments, tmp_path / "service.log")


@pytest.mark.kafka
def test_run_logs_long_wait_for_partitions(kafka_bootstrap, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory()
    # A member that joined first gets the only partition and then stops polling, like a hung
    # process, so the rebalance that the service's join starts cannot finish.
    # After max.poll.interval.ms without a poll it leaves the group by itself, long after this test ends.
    holder = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": kafka_group_id, "max.poll.interval.ms": 60000})
    holder.subscribe([topics.input])
    deadline = time.monotonic() + 60
    while not holder.assignment():
        holder.poll(0.2)
        assert time.monotonic() < deadline, "the holding consumer got no partition within 60 s"

    service = RunningService(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id), tmp_path / "service.log"
    )
    try:
        deadline = time.monotonic() + 40
        while "no partition assigned" not in service.log():
            time.sleep(0.2)
            assert service.process.poll() is None, service.log()
            assert time.monotonic() < deadline, f"no wait line after 40 s: {service.log()}"
    finally:
        exit_code = service.stop(signal.SIGTERM)
        holder.close()

    assert exit_code == 0, service.log()
    assert f"after joining group '{kafka_group_id}'" in service.log()


@pytest.mark.kafka
def test_run_until_end_with_emptied_partition(kafka_bootstrap, kafka_admin, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory(2)
    event = orjson.dumps(next(event for event, should_alert in labelled_corpus() if should_alert))
    produce(kafka_bootstrap, topics.input, [event, event, event, event], partitions=2)
    # Partition 1 then retains no message, as after retention, and a new group has no position in it.
    futures = kafka_admin.delete_records([TopicPartition(topics.input, 1, OFFSET_END)], operation_timeout=30)
    for future in futures.values():
        future.result(timeout=30)

    finished = run_service(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--until-end"), timeout=90
    )

    assert finished.returncode == 0, finished.stderr
    assert "consumed 2 messages since start" in finished.stderr
    assert "which retain 2 messages" in finished.stderr


@pytest.mark.kafka
def test_run_undeliverable_dead_letter_commits_nothing(kafka_bootstrap, service_topics_factory, kafka_group_id) -> None:
    topics = service_topics_factory()
    # Not JSON, and with librdkafka's smallest message.max.bytes even its shortened dead letter
    # (1024 bytes of payload and the headers) is too large to be produced.
    garbage = b"x" * 3000
    produce(kafka_bootstrap, topics.input, [garbage])
    arguments = service_arguments(
        kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--until-end", "--kafka-config", "message.max.bytes=1000"
    )

    finished = run_service(arguments, timeout=90)

    assert finished.returncode == 1, finished.stderr
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": kafka_group_id})
    try:
        (committed,) = consumer.committed([TopicPartition(topics.input, 0)], timeout=30)
    finally:
        consumer.close()
    assert committed.offset < 1


@pytest.mark.kafka
def test_run_stop_with_undelivered_alert_exits_1(kafka_bootstrap, kafka_admin, service_topics_factory, kafka_group_id, tmp_path: Path) -> None:
    topics = service_topics_factory()
    service = RunningService(
        service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id, "--shutdown-timeout", "2"),
        tmp_path / "service.log",
    )
    try:
        wait_for(lambda: "partitions assigned" in service.log(), timeout=60)
        # Without its topic the alert waits in the producer's queue until the stop gives up on it.
        kafka_admin.delete_topics([topics.output], operation_timeout=30)[topics.output].result(timeout=30)
        produce(kafka_bootstrap, topics.input, [orjson.dumps(next(event for event, should_alert in labelled_corpus() if should_alert))])
        wait_for(lambda: _consumed(service.metrics_url) >= 1, timeout=30, what="the event consumed")
    finally:
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 1, service.log()
    assert "1 records were still undelivered at shutdown" in service.log()
    # The revocation inside the consumer's close does not wait for the same record again.
    assert service.log().count("still undelivered after 2 s") == 1


def _consumed(metrics_url: str) -> float:
    samples = scrape_metrics(metrics_url)
    return sum(value for (name, _), value in samples.items() if name == "eql_stream_events_consumed_total")
