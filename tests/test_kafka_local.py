"""Tests of scripts/kafka-local and the Kafka fixtures in tests/kafka_broker.py."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from kafka_broker import run_kafka_local

EXIT_NOT_RUNNING = 3


def write_state_of_live_non_broker(state_dir: Path) -> None:
    """Record the pytest process itself, which runs but is not a Kafka broker."""
    state_dir.mkdir()
    run_dir = state_dir / "run"
    state = {
        "pid": os.getpid(),
        "bootstrap": "127.0.0.1:1",
        "broker_port": 1,
        "controller_port": 2,
        "run_dir": str(run_dir),
        "config_file": str(run_dir / "server.properties"),
        "log_file": str(run_dir / "broker.log"),
        "kafka_version": "4.4.0",
        "started_at": 0.0,
    }
    (state_dir / "broker.json").write_text(json.dumps(state))


def write_unreadable_state(state_dir: Path) -> None:
    state_dir.mkdir()
    (state_dir / "broker.json").write_text("{not json")


# Without /proc the script checks only that the pid exists, so it cannot tell the
# pytest process from a broker.
needs_proc = pytest.mark.skipif(
    not Path("/proc/self").exists(), reason="process identity check needs /proc"
)

STATE_CASES = [
    pytest.param(lambda state_dir: None, id="no-state-dir"),
    pytest.param(lambda state_dir: state_dir.mkdir(), id="empty-state-dir"),
    pytest.param(write_state_of_live_non_broker, id="pid-is-not-kafka", marks=needs_proc),
    pytest.param(write_unreadable_state, id="unreadable-state-file"),
]


@pytest.mark.parametrize("prepare_state", STATE_CASES)
def test_status_without_broker_exits_3(
    tmp_path: Path, prepare_state: Callable[[Path], None]
) -> None:
    state_dir = tmp_path / "state"
    prepare_state(state_dir)

    result = run_kafka_local("status", "--state-dir", str(state_dir), timeout=60)

    assert result.returncode == EXIT_NOT_RUNNING, result.stderr
    assert result.stdout.startswith("not running"), result.stdout


@needs_proc
def test_stop_ignores_live_non_broker_pid(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    write_state_of_live_non_broker(state_dir)

    result = run_kafka_local("stop", "--state-dir", str(state_dir), timeout=60)

    # Reaching this line at all shows that stop did not signal the pytest process.
    assert result.returncode == 0, result.stderr
    assert not (state_dir / "broker.json").exists()


def test_stop_without_broker_is_quiet(tmp_path: Path) -> None:
    result = run_kafka_local("stop", "--state-dir", str(tmp_path / "state"), timeout=60)

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.mark.kafka
def test_broker_round_trips_keyed_messages(
    kafka_bootstrap: str,
    kafka_topic_factory: Callable[..., str],
    kafka_group_id: str,
) -> None:
    topic = kafka_topic_factory(partitions=3)
    sent = {f"key-{k}": [f"value-{k}-{i}" for i in range(5)] for k in range(3)}

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for key, values in sent.items():
        for value in values:
            producer.produce(topic, key=key.encode(), value=value.encode())
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": kafka_group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: dict[str, list[str]] = {key: [] for key in sent}
    expected_count = sum(len(values) for values in sent.values())
    count = 0
    deadline = time.monotonic() + 30
    try:
        consumer.subscribe([topic])
        while count < expected_count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received[message.key().decode()].append(message.value().decode())
            count += 1
    finally:
        consumer.close()

    # Messages with one key go to one partition, so their order must survive.
    assert received == sent
