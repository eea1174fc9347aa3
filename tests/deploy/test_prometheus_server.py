"""A real Prometheus server (Debian's prometheus binary) scraping a running service."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deploy_support import DEPLOY_DIR, SAMPLE_EVENTS
from kafka_io import RunningService, produce, wait_for

QUERY = "eql_stream_events_consumed_total"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query_api(base_url: str, path: str, **parameters: str) -> dict:
    """Return the ``data`` of a Prometheus HTTP API response; fail on an error status."""
    url = f"{base_url}{path}?{urllib.parse.urlencode(parameters)}" if parameters else f"{base_url}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def consumed_total(base_url: str) -> float:
    """Return the sum of eql_stream_events_consumed_total that Prometheus stores, 0 before the first scrape."""
    try:
        result = query_api(base_url, "/api/v1/query", query=QUERY)["result"]
    except OSError:
        return 0.0  # Prometheus is still starting.
    return sum(float(series["value"][1]) for series in result)


@pytest.fixture
def prometheus_server(
    prometheus_binary: str, running_service: tuple[RunningService, str], tmp_path: Path
) -> Iterator[str]:
    """Prometheus on a free 127.0.0.1 port scraping the running service every second, with alerts.yml loaded."""
    service, _ = running_service
    target = urllib.parse.urlsplit(service.metrics_url).netloc
    rules_file = tmp_path / "alerts.yml"
    rules_file.write_bytes((DEPLOY_DIR / "prometheus" / "alerts.yml").read_bytes())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_file)],
        "scrape_configs": [{"job_name": "eql-stream", "static_configs": [{"targets": [target]}]}],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")

    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_prometheus_scrapes_consumed_events(
    prometheus_server: str, running_service: tuple[RunningService, str], kafka_bootstrap: str
) -> None:
    _, input_topic = running_service
    wait_for(lambda: consumed_total(prometheus_server) > 0, timeout=30, what="first scrape of consumed events")
    before = consumed_total(prometheus_server)

    payloads = [line for line in SAMPLE_EVENTS.read_bytes().splitlines() if line.strip()]
    produce(kafka_bootstrap, input_topic, payloads, partitions=2)

    wait_for(
        lambda: consumed_total(prometheus_server) >= before + len(payloads),
        timeout=30,
        what=f"{QUERY} in Prometheus rising by {len(payloads)}",
    )


def test_prometheus_loads_alert_rules(prometheus_server: str) -> None:
    def loaded_rules() -> list[dict]:
        try:
            groups = query_api(prometheus_server, "/api/v1/rules")["groups"]
        except OSError:
            return []  # Prometheus is still starting.
        return [rule for group in groups for rule in group["rules"]]

    # EqlStreamAbsent is pending until the first scrape, so wait for every rule to settle.
    def settled() -> bool:
        rules = loaded_rules()
        return bool(rules) and all(rule["health"] == "ok" and rule["state"] == "inactive" for rule in rules)

    try:
        wait_for(settled, timeout=30, what="every alert rule evaluated and inactive")
    except AssertionError:
        pass  # The checks below name the rule that did not settle.

    rules = loaded_rules()
    expected = yaml.safe_load((DEPLOY_DIR / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    assert len(rules) == sum(len(group["rules"]) for group in expected["groups"])
    for rule in rules:
        assert rule["health"] == "ok", f"rule {rule['name']} failed to evaluate: {rule.get('lastError')}"
        assert rule["state"] == "inactive", f"rule {rule['name']} is {rule['state']} on a healthy service"


def test_prometheus_dashboard_names_rules(prometheus_server: str, running_service: tuple[RunningService, str]) -> None:
    # The dashboard's alerts-per-rule query, with its variables filled in as Grafana would.
    dashboard = json.loads((DEPLOY_DIR / "grafana" / "eql-stream.json").read_text(encoding="utf-8"))
    (panel,) = [panel for panel in dashboard["panels"] if panel["title"] == "Alerts per second by rule"]
    expression = panel["targets"][0]["expr"].replace("$job", ".*").replace("$instance", ".*").replace("$__rate_interval", "1m")

    def rule_names() -> set[str]:
        try:
            result = query_api(prometheus_server, "/api/v1/query", query=expression)["result"]
        except OSError:
            return set()  # Prometheus is still starting.
        return {series["metric"].get("rule_name", "") for series in result}

    wait_for(lambda: bool(rule_names()), timeout=60, what="a result of the dashboard's alerts-per-rule query")
    assert rule_names() == {"Windows System Network Connections Discovery"}
