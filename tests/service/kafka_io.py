"""Helpers for service tests: produce test events, read topics back, run the service as a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaError, Producer

REPOSITORY = Path(__file__).resolve().parents[2]
DATA_DIR = REPOSITORY / "tests" / "data"
_METRICS_URL = re.compile(r"metrics endpoint listening on (http://\S+)")


def produce(bootstrap: str, topic: str, payloads: Iterable[bytes | None], *, partitions: int = 1) -> int:
    """Produce raw payloads round-robin over ``partitions``; return how many were sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    count = 0
    for index, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, value=payload, partition=index % partitions)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} test messages were not delivered"
    return count


@dataclass
class Record:
    """A record read back from a topic."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)

    def json(self) -> dict:
        assert self.value is not None
        return orjson.loads(self.value)


def read_topic(bootstrap: str, topic: str, *, expected: int | None = None, idle_seconds: float = 3.0, timeout: float = 120.0) -> list[Record]:
    """Read every record of ``topic`` from the start.

    Stops once ``expected`` records arrived, or when no record came for
    ``idle_seconds`` after the end was reached, or after ``timeout`` seconds.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    last_record = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expected is not None and len(records) >= expected:
                break
            messages = consumer.consume(500, 0.5)
            for message in messages:
                if message.error():
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        raise AssertionError(f"reading {topic} failed: {message.error()}")
                    continue
                headers = {key: value for key, value in (message.headers() or [])}
                records.append(Record(message.key(), message.value(), headers))
                last_record = time.monotonic()
            if expected is None and not messages and time.monotonic() - last_record > idle_seconds:
                break
    finally:
        consumer.close()
    return records


def labelled_corpus() -> list[tuple[dict, bool]]:
    """Return (event, expected) pairs of the labelled corpus, labels removed from the events."""
    pairs = []
    for line in (DATA_DIR / "network-discovery-labelled.jsonl").read_bytes().splitlines():
        if not line.strip():
            continue
        document = orjson.loads(line)
        expected = document.pop("_expect")
        document.pop("_why")
        pairs.append((document, expected))
    return pairs


def service_arguments(bootstrap: str, input_topic: str, output_topic: str, group: str, *extra: str) -> list[str]:
    """Return ``run`` arguments for a test service: metrics on a free local port, commits every second."""
    return [
        "run",
        "--bootstrap-servers", bootstrap,
        "--input-topic", input_topic,
        "--output-topic", output_topic,
        "--group-id", group,
        "--metrics-host", "127.0.0.1",
        "--metrics-port", "0",
        "--commit-interval", "1",
        *extra,
    ]


def service_command(*arguments: str) -> list[str]:
    """Return the command line of ``eql-stream`` with ``arguments``."""
    return [sys.executable, "-m", "stream.cli", *arguments]


def run_service(arguments: Sequence[str], *, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """Run the service to completion (``--until-end``) and return the finished process."""
    return subprocess.run(
        service_command(*arguments), capture_output=True, text=True, timeout=timeout, cwd=REPOSITORY, env=_environment()
    )


class RunningService:
    """The service started in the background, with its metrics URL read from its log."""

    def __init__(self, arguments: Sequence[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            service_command(*arguments), stdout=self._log, stderr=subprocess.STDOUT, cwd=REPOSITORY, env=_environment()
        )
        self.metrics_url = self._wait_for_metrics_url()

    def _wait_for_metrics_url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _METRICS_URL.search(self.log_path.read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(f"service exited early:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"service did not log its metrics URL:\n{self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(REPOSITORY) + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


def numbered_stream(count: int, *, alert_every: int) -> tuple[list[bytes], set[str]]:
    """Return ``count`` JSON events and the entity ids of those that must alert.

    Every ``alert_every``-th event is a copy of a must-alert corpus event, and
    the rest are copies of must-not-alert ones. Each gets a unique
    ``process.entity_id``, so alerts can be traced to their source.
    """
    corpus = labelled_corpus()
    alerting = [event for event, should_alert in corpus if should_alert]
    quiet = [event for event, should_alert in corpus if not should_alert]
    payloads: list[bytes] = []
    expected: set[str] = set()
    for index in range(count):
        must_alert = index % alert_every == 0
        template = alerting[index % len(alerting)] if must_alert else quiet[index % len(quiet)]
        entity_id = f"stream-{index:07d}"
        event = dict(template)
        event["process"] = {**template.get("process", {}), "entity_id": entity_id}
        payloads.append(orjson.dumps(event))
        if must_alert:
            expected.add(entity_id)
    return payloads, expected


def scrape_metrics(url: str) -> dict[tuple[str, tuple], float]:
    """Return every sample of the service's /metrics as {(name, sorted labels): value}."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def wait_for(predicate, *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``predicate`` every half second until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")
