"""Kafka helpers for the throughput benchmark: broker, topics, producing, raw consuming.

The broker comes from ``scripts/kafka-local`` with a private state folder, so a
benchmark run never touches a broker that someone else started. Everything
else talks to the broker through confluent-kafka, the client the service uses.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.procstat import cpu_seconds

__all__ = [
    "BrokerError",
    "PacedProduceResult",
    "RawConsumeResult",
    "consume_raw",
    "create_topics",
    "produce_all",
    "produce_paced",
    "read_create_times",
    "start_local_broker",
    "stop_local_broker",
]

_log = logging.getLogger(__name__)

_KAFKA_LOCAL_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kafka-local"
# Covers a cold Maven download of the broker jars plus the broker start.
_BROKER_START_TIMEOUT_S = 600.0
_BROKER_STOP_TIMEOUT_S = 60.0
_TOPIC_READY_TIMEOUT_S = 30.0

# Settings of the benchmark's own producers. lz4 is also the service's producer default,
# so the consumers under test decompress what a typical pipeline sends them.
_BULK_PRODUCER_CONFIG = {
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "acks": "all",
}
# Delivery reports only for failures: a Python callback per message cost the producer about a
# quarter of its CPU, which the service under test shares.
_PACED_PRODUCER_CONFIG = {"linger.ms": 5, "compression.type": "lz4", "acks": "all", "delivery.report.only.error": True}
_PACED_TICK_S = 0.005


class BrokerError(RuntimeError):
    """The local broker could not be started or stopped, or a topic could not be created."""


# Broker --------------------------------------------------------------------------------------------------------


def start_local_broker(state_dir: Path) -> str:
    """Start a broker with ``scripts/kafka-local start`` and return its bootstrap address.

    ``state_dir`` is private to this run; pass the same folder to :func:`stop_local_broker`.

    Raises:
        BrokerError: the script failed; the message contains its output.
    """
    result = _run_kafka_local("start", state_dir, _BROKER_START_TIMEOUT_S)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BrokerError(
            f"scripts/kafka-local start failed with exit code {result.returncode}: "
            f"{result.stderr.strip()} {result.stdout.strip()}"
        )

    return lines[-1].strip()


def local_broker_pid(state_dir: Path) -> int | None:
    """Return the process id that ``scripts/kafka-local`` recorded in ``state_dir``, or None without a record."""
    try:
        return int(json.loads((state_dir / "broker.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def stop_local_broker(state_dir: Path) -> None:
    """Stop the broker recorded in ``state_dir``; log a failure instead of raising it."""
    result = _run_kafka_local("stop", state_dir, _BROKER_STOP_TIMEOUT_S)
    if result.returncode != 0:
        _log.error("scripts/kafka-local stop failed with exit code %d: %s", result.returncode, result.stderr.strip())


def _run_kafka_local(command: str, state_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    arguments = [sys.executable, str(_KAFKA_LOCAL_SCRIPT), command, "--state-dir", str(state_dir)]
    return subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# Topics --------------------------------------------------------------------------------------------------------


def create_topics(
    bootstrap: str, names: Sequence[str], partitions: int, config: Mapping[str, str] | None = None
) -> None:
    """Create ``names`` with ``partitions`` partitions each and wait until every partition has a leader.

    Raises:
        BrokerError: the broker rejected a topic, or its partitions had no leader after 30 s.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new_topics = [NewTopic(name, partitions, 1, config=dict(config or {})) for name in names]
    for name, future in admin.create_topics(new_topics).items():
        try:
            future.result()
        except KafkaException as exc:
            raise BrokerError(f"cannot create topic {name!r} on {bootstrap}: {exc}") from exc

    for name in names:
        _wait_for_leaders(admin, name, partitions)


def _wait_for_leaders(admin: AdminClient, topic: str, partitions: int) -> None:
    deadline = time.monotonic() + _TOPIC_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if metadata is not None and metadata.error is None:
            leaders = [partition.leader for partition in metadata.partitions.values()]
            if len(leaders) == partitions and all(leader >= 0 for leader in leaders):
                return
        time.sleep(0.1)

    raise BrokerError(f"topic {topic!r} had no leader for every partition after {_TOPIC_READY_TIMEOUT_S:g} s")


# Producing -----------------------------------------------------------------------------------------------------


def produce_all(bootstrap: str, topic: str, values: Iterable[bytes]) -> int:
    """Produce every value to ``topic`` (no key, so partitions fill evenly) and return the count.

    Raises:
        BrokerError: a message was not acknowledged.
    """
    producer = Producer({"bootstrap.servers": bootstrap, **_BULK_PRODUCER_CONFIG})
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None and len(failures) < 5:
            failures.append(str(error))

    count = 0
    for value in values:
        _produce_with_backpressure(producer, topic, value, on_delivery)
        count += 1

    remaining = producer.flush(120)
    if remaining or failures:
        raise BrokerError(f"producing to {topic!r} failed: {remaining} undelivered, errors {failures}")

    return count


def _produce_with_backpressure(
    producer: Producer, topic: str, value: bytes, on_delivery: Callable[[KafkaError | None, Message], None]
) -> None:
    while True:
        try:
            producer.produce(topic, value=value, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            # The local queue is full: serve delivery reports to make room, then retry.
            producer.poll(0.05)


def _produce_batch_with_backpressure(
    producer: Producer, topic: str, values: list[bytes], on_delivery: Callable[[KafkaError | None, Message], None]
) -> None:
    """Queue ``values`` with ``produce_batch``, which costs less CPU per message than one ``produce`` call each.

    ``produce_batch`` marks each message that the full local queue rejected
    with an ``_error`` entry. Those are queued again after serving delivery reports.
    """
    if not hasattr(producer, "produce_batch"):  # confluent-kafka before 2.12
        for value in values:
            _produce_with_backpressure(producer, topic, value, on_delivery)
        return

    pending = [{"value": value} for value in values]
    while pending:
        queued = producer.produce_batch(topic, pending, on_delivery=on_delivery)
        if queued == len(pending):
            return
        pending = [{"value": message["value"]} for message in pending if "_error" in message]
        producer.poll(0.05)


@dataclass
class PacedProduceResult:
    """Messages sent by :func:`produce_paced`; :func:`read_create_times` gives their timestamps."""

    sent: int
    elapsed_s: float

    @property
    def rate_eps(self) -> float:
        """Achieved send rate in messages per second."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def produce_paced(bootstrap: str, topic: str, values: Sequence[bytes], rate_eps: float, duration_s: float) -> PacedProduceResult:
    """Produce to ``topic`` at ``rate_eps`` messages per second for ``duration_s`` seconds.

    Values are taken from ``values`` in order, starting again from the first
    when they run out. Every 5 ms the producer queues the messages that are due
    by then in one ``produce_batch`` call, so the rate is steady at that scale.

    Raises:
        BrokerError: a message was not acknowledged.
    """
    producer = Producer({"bootstrap.servers": bootstrap, **_PACED_PRODUCER_CONFIG})
    result = PacedProduceResult(sent=0, elapsed_s=0.0)
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        # Called for failed messages only (delivery.report.only.error).
        if error is not None:
            failures.append(str(error))

    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < duration_s:
        due = int(elapsed * rate_eps)
        if due > result.sent:
            chunk = [values[index % len(values)] for index in range(result.sent, due)]
            _produce_batch_with_backpressure(producer, topic, chunk, on_delivery)
            result.sent = due
        producer.poll(0)
        time.sleep(_PACED_TICK_S)

    result.elapsed_s = time.monotonic() - started
    remaining = producer.flush(60)
    if remaining or failures:
        raise BrokerError(f"paced producing to {topic!r} failed: {remaining} undelivered, errors {failures[:5]}")

    return result


def read_create_times(bootstrap: str, topic: str, sources: set[tuple[int, int]], timeout_s: float = 120.0) -> dict[tuple[int, int], int]:
    """Read ``topic`` from the start and return the create time (ms since the epoch) of each (partition, offset) in ``sources``.

    Reading stops once every message of ``sources`` was seen, after ``timeout_s``
    seconds, or after 10 s without a message.
    """
    found: dict[tuple[int, int], int] = {}
    if not sources:
        return found

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"create-times-{time.time_ns()}", "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout_s
    idle_since = time.monotonic()
    try:
        while len(found) < len(sources) and time.monotonic() < deadline and time.monotonic() - idle_since < 10.0:
            messages = consumer.consume(1000, 0.5)
            if messages:
                idle_since = time.monotonic()
            for message in messages:
                key = (message.partition(), message.offset())
                if message.error() is None and key in sources:
                    found[key] = message.timestamp()[1]
    finally:
        consumer.close()
    return found


# Raw consuming -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawConsumeResult:
    """Timing of one bare consumer pass.

    ``total_s`` runs from the subscription to the last message, so it includes
    the group join. ``steady_s`` runs from the end of the first non-empty
    batch to the last message, and ``steady_messages`` counts the messages
    read in that time. ``steady_cpu_s`` is this process's CPU time in that
    window (the consumer's librdkafka threads included), and
    ``steady_broker_cpu_s`` the broker's, when its process id was given.
    """

    messages: int
    total_s: float
    steady_messages: int
    steady_s: float
    steady_cpu_s: float = 0.0
    steady_broker_cpu_s: float | None = None


def consume_raw(
    bootstrap: str,
    topic: str,
    group_id: str,
    expected: int,
    broker_pid: int | None = None,
    timeout_s: float = 600.0,
    inspect_batch: Callable[[list[Message]], object] | None = None,
    consumer_settings: Mapping[str, Any] | None = None,
) -> RawConsumeResult:
    """Read ``expected`` messages from the start of ``topic`` with a fresh group and do nothing else.

    This is the ceiling for any consumer in Python on this broker: one
    ``consume(1000, 1.0)`` call per loop and a count of the messages that
    carry no error. ``inspect_batch``, when given, is called with each
    non-empty batch (errors included) after counting it, so a caller can
    measure the ceiling of one step of the work on top of consuming.
    ``consumer_settings`` are added to the consumer's librdkafka configuration.

    Raises:
        BrokerError: fewer than ``expected`` messages arrived within ``timeout_s`` seconds.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **(consumer_settings or {}),
        }
    )
    consumer.subscribe([topic])
    started = time.perf_counter()
    first_at: float | None = None
    first_count = 0
    first_cpu, first_broker_cpu = time.process_time(), _broker_cpu(broker_pid)
    count = 0
    try:
        while count < expected:
            if time.perf_counter() - started > timeout_s:
                raise BrokerError(f"raw consumer read {count} of {expected} messages from {topic!r} in {timeout_s:g} s")
            messages = consumer.consume(1000, 1.0)
            for message in messages:
                if message.error() is None:
                    count += 1
            if inspect_batch is not None and messages:
                inspect_batch(messages)
            if first_at is None and count:
                first_at = time.perf_counter()
                first_count = count
                first_cpu, first_broker_cpu = time.process_time(), _broker_cpu(broker_pid)
        finished = time.perf_counter()
        finished_cpu, finished_broker_cpu = time.process_time(), _broker_cpu(broker_pid)
    finally:
        consumer.close()

    broker_cpu_s = None
    if first_broker_cpu is not None and finished_broker_cpu is not None:
        broker_cpu_s = finished_broker_cpu - first_broker_cpu
    return RawConsumeResult(
        messages=count,
        total_s=finished - started,
        steady_messages=count - first_count,
        steady_s=finished - (first_at or started),
        steady_cpu_s=finished_cpu - first_cpu,
        steady_broker_cpu_s=broker_cpu_s,
    )


def _broker_cpu(broker_pid: int | None) -> float | None:
    return cpu_seconds(broker_pid) if broker_pid is not None else None
