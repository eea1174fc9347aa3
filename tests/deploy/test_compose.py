"""Tests of the compose set-up deploy/docker-compose.yml, validated offline (no Docker engine needed)."""

from __future__ import annotations

import re
import subprocess

import yaml
from deploy_support import DEPLOY_DIR, REPOSITORY

from stream.config import ENV_PREFIX, ServiceSettings

COMPOSE_FILE = DEPLOY_DIR / "docker-compose.yml"
KAFKA_IMAGE = re.compile(r"apache/kafka:4\.\d+\.\d+")
EXPECTED_SERVICES = {"kafka", "kafka-topics", "eql-stream", "sample-producer", "prometheus", "grafana"}


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def test_compose_config_is_valid(compose_command: list[str]) -> None:
    result = subprocess.run(
        [*compose_command, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"{' '.join(compose_command)} config failed:\n{result.stderr}{result.stdout}"


def test_compose_has_services() -> None:
    assert set(load_compose()["services"]) == EXPECTED_SERVICES


def test_compose_kafka_images_pinned() -> None:
    services = load_compose()["services"]
    images = {services[name]["image"] for name in ("kafka", "kafka-topics", "sample-producer")}
    assert len(images) == 1, f"the Kafka tools must use the broker's image: {sorted(images)}"
    assert KAFKA_IMAGE.fullmatch(images.pop())
    for name in ("prometheus", "grafana"):
        assert not services[name]["image"].endswith(":latest")
        assert ":" in services[name]["image"], f"{name} image has no tag"


def test_compose_kafka_runs_kraft() -> None:
    environment = load_compose()["services"]["kafka"]["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_topics_match_service_settings() -> None:
    services = load_compose()["services"]
    topics = services["kafka-topics"]["environment"]
    service = services["eql-stream"]["environment"]
    producer_command = services["sample-producer"]["command"][0]

    assert service["EQL_STREAM_INPUT_TOPICS"] == topics["INPUT_TOPIC"]
    assert service["EQL_STREAM_OUTPUT_TOPIC"] == topics["OUTPUT_TOPIC"]
    # kafka-topics creates "$INPUT_TOPIC.dlq", the service's default dead-letter topic.
    assert '"$$INPUT_TOPIC.dlq"' in services["kafka-topics"]["command"][0]
    assert "EQL_STREAM_DLQ_TOPIC" not in service
    assert f"--topic {topics['INPUT_TOPIC']}" in producer_command


def test_compose_service_environment_names_are_settings() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in ServiceSettings.model_fields}
    names = set(load_compose()["services"]["eql-stream"]["environment"])
    assert names <= known, f"unknown settings: {sorted(names - known)}"


def test_compose_service_built_hardened_and_checked() -> None:
    service = load_compose()["services"]["eql-stream"]
    assert (COMPOSE_FILE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
        REPOSITORY / "Dockerfile"
    )
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "127.0.0.1:9464:9464" in service["ports"]
    assert any("/healthz" in part for part in service["healthcheck"]["test"])
    assert service["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"


def test_compose_mounted_files_exist() -> None:
    for name, service in load_compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_FILE.parent / source).exists(), f"{name} mounts missing {source}"


def test_compose_ports_bound_to_loopback() -> None:
    for name, service in load_compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
