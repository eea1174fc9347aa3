"""Pytest fixtures for tests that need a real Apache Kafka broker.

``kafka_bootstrap`` is the broker's bootstrap address for the whole session, taken
from $KAFKA_BOOTSTRAP_SERVERS when that is set. Otherwise the fixture starts a local
single-node broker with ``scripts/kafka-local start``, which needs Java 17+ and Maven,
and stops it when the session ends. If the broker cannot start, the tests that need it
fail with the script's message. Nothing is skipped.

Each test gets its own topics from ``kafka_topic_factory`` and its own consumer group
from ``kafka_group_id``, so tests share the broker without seeing each other's data.
Any test that requests ``kafka_bootstrap``, directly or through another fixture, is
marked ``kafka``, so ``-m "not kafka"`` deselects all of them.

Registered in tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

KAFKA_LOCAL_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kafka-local"
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
# Covers a cold Maven download of the broker jars (43 MB for Kafka 4.4.0) plus the broker start.
START_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 60.0
TOPIC_READY_TIMEOUT_S = 30.0
# Kafka topic names are at most 249 characters of [a-zA-Z0-9._-].
MAX_TOPIC_NAME_PREFIX = 120

log = logging.getLogger(__name__)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the ``kafka`` marker to every test that depends on ``kafka_bootstrap``."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


def run_kafka_local(*arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run scripts/kafka-local with the current interpreter and capture its output."""
    command = [sys.executable, str(KAFKA_LOCAL_SCRIPT), *arguments]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address ("host:port") of the broker the session's tests use."""
    configured = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if configured:
        log.info("using the Kafka broker at %s from $%s", configured, BOOTSTRAP_ENV)
        yield configured
        return

    base_dir = tmp_path_factory.mktemp("kafka")
    state_arguments = ("--state-dir", str(base_dir / "state"))
    result = run_kafka_local(
        "start", *state_arguments, "--data-dir", str(base_dir), timeout=START_TIMEOUT_S
    )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/kafka-local start failed with exit code {result.returncode}:\n"
            f"{result.stderr}{result.stdout}",
            pytrace=False,
        )

    bootstrap = result.stdout.strip().splitlines()[-1]
    log.info("started a local Kafka broker at %s", bootstrap)
    try:
        yield bootstrap
    finally:
        stopped = run_kafka_local("stop", *state_arguments, timeout=STOP_TIMEOUT_S)
        if stopped.returncode != 0:
            log.error(
                "scripts/kafka-local stop failed with exit code %d: %s",
                stopped.returncode,
                stopped.stderr.strip(),
            )


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    """AdminClient connected to the session's broker."""
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


def unique_name(request: pytest.FixtureRequest, kind: str) -> str:
    """Return "<kind>-<test name>-<random hex>" using only characters legal in topic names."""
    test_name = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")
    return f"{kind}-{test_name[:MAX_TOPIC_NAME_PREFIX]}-{uuid.uuid4().hex[:10]}"


def wait_for_topic(admin: AdminClient, topic: str, partitions: int, timeout: float) -> None:
    """Wait until the broker's metadata lists ``topic`` with a leader for every partition.

    Raises TimeoutError after ``timeout`` seconds, naming the last state seen.
    """
    deadline = time.monotonic() + timeout
    last_seen = "no metadata yet"
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        except KafkaException as exc:
            last_seen = f"metadata request failed: {exc}"
            metadata = None

        if metadata is not None and metadata.error is not None:
            last_seen = f"topic error {metadata.error}"
        elif metadata is not None:
            leaders = [partition.leader for partition in metadata.partitions.values()]
            if len(leaders) == partitions and all(leader >= 0 for leader in leaders):
                return
            last_seen = f"{len(leaders)} of {partitions} partitions, leaders {leaders}"
        time.sleep(0.1)

    raise TimeoutError(f"topic {topic!r} was not ready after {timeout:g} s: {last_seen}")


@pytest.fixture
def kafka_topic_factory(
    request: pytest.FixtureRequest, kafka_admin: AdminClient
) -> Iterator[Callable[..., str]]:
    """Factory ``make_topic(partitions=1, config=None, name=None) -> str`` for fresh, ready topics.

    Each call creates a topic (uniquely named unless ``name`` is given) with replication factor 1 and waits until
    every partition has a leader. ``config`` sets topic-level configuration such as
    {"retention.ms": "60000"}. The topics are deleted after the test. A failed deletion
    is logged, not raised.
    """
    created: list[str] = []

    def make_topic(partitions: int = 1, config: dict[str, str] | None = None, name: str | None = None) -> str:
        topic = name or unique_name(request, "test")
        new_topic = NewTopic(
            topic, num_partitions=partitions, replication_factor=1, config=config or {}
        )
        futures = kafka_admin.create_topics([new_topic], operation_timeout=TOPIC_READY_TIMEOUT_S)
        futures[topic].result(timeout=TOPIC_READY_TIMEOUT_S)
        created.append(topic)

        wait_for_topic(kafka_admin, topic, partitions, TOPIC_READY_TIMEOUT_S)
        return topic

    yield make_topic

    if not created:
        return
    futures = kafka_admin.delete_topics(created, operation_timeout=TOPIC_READY_TIMEOUT_S)
    for topic, future in futures.items():
        try:
            future.result(timeout=TOPIC_READY_TIMEOUT_S)
        except Exception as exc:  # Teardown must not fail the test or hide its result.
            log.warning("could not delete test topic %r: %s", topic, exc)


@pytest.fixture
def kafka_group_id(request: pytest.FixtureRequest) -> str:
    """Consumer group id that no other test uses."""
    return unique_name(request, "group")
