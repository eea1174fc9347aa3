"""Fixtures for the tests of the deployment kit in deploy/.

The service helpers of tests/service are reused: kafka_io by module name (see
deploy_support) and the ``service_topics_factory`` fixture by loading
tests/service/conftest.py under another module name, because two modules named
``conftest`` cannot both be imported by name.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deploy_support import INSTALL_HINT, SAMPLE_EVENTS, SERVICE_TESTS_DIR
from kafka_io import RunningService, produce, scrape_metrics, service_arguments, wait_for


def _load_service_conftest() -> object:
    spec = importlib.util.spec_from_file_location("service_conftest", SERVICE_TESTS_DIR / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the defining module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


service_topics_factory = _load_service_conftest().service_topics_factory  # type: ignore[attr-defined]



@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool; skips the test when it is not installed."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(f"promtool not found on PATH; {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Path of the prometheus server binary; skips the test when it is not installed."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip(f"prometheus not found on PATH; {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def compose_command() -> list[str]:
    """Command that validates compose files offline: the docker compose plugin, else docker-compose.

    Skips the test when neither runs. ``docker compose config`` needs no daemon.
    """
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"]

    standalone = shutil.which("docker-compose")
    if standalone is not None:
        return [standalone]
    pytest.skip(
        "neither the docker compose plugin nor docker-compose is installed; "
        "install one (Debian: apt-get install -y docker-compose)"
    )


@pytest.fixture
def running_service(
    kafka_bootstrap: str,
    kafka_group_id: str,
    service_topics_factory: Callable[..., object],
    tmp_path: Path,
) -> Iterator[tuple[RunningService, str]]:
    """The service on fresh topics (input with 2 partitions), with the sample events produced to it.

    Yields the running service and its input topic, once it has consumed every sample
    event and exported a consumer lag series, so that every metric family has samples.
    """
    topics = service_topics_factory(partitions=2)
    arguments = service_arguments(kafka_bootstrap, topics.input, topics.output, kafka_group_id)
    service = RunningService(arguments, tmp_path / "service.log")
    try:
        payloads = [line for line in SAMPLE_EVENTS.read_bytes().splitlines() if line.strip()]
        produce(kafka_bootstrap, topics.input, payloads, partitions=2)
        wait_for(
            lambda: _consumed(service) >= len(payloads) and _has_lag_series(service),
            timeout=60,
            what=f"{len(payloads)} sample events consumed and a consumer lag series exported",
        )
        yield service, topics.input
    finally:
        exit_code = service.stop()
        assert exit_code == 0, f"service exited with {exit_code}:\n{service.log()}"


def _consumed(service: RunningService) -> float:
    samples = scrape_metrics(service.metrics_url)
    return sum(value for (name, _), value in samples.items() if name == "eql_stream_events_consumed_total")


def _has_lag_series(service: RunningService) -> bool:
    samples = scrape_metrics(service.metrics_url)
    return any(name == "eql_stream_consumer_lag_messages" for name, _ in samples)
