"""Tests of the Grafana dashboard deploy/grafana/eql-stream.json and its provisioning."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import yaml
from deploy_support import DEPLOY_DIR
from kafka_io import RunningService, scrape_metrics
from promql_names import metric_names

DASHBOARD_FILE = DEPLOY_DIR / "grafana" / "eql-stream.json"
PROVISIONING_DIR = DEPLOY_DIR / "grafana" / "provisioning"
ALERTS_FILE = DEPLOY_DIR / "prometheus" / "alerts.yml"

# Series that Prometheus adds to every target itself; the service cannot export them.
PROMETHEUS_SYNTHETIC_NAMES = frozenset({"up"})
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]+?)\s*,")


def load_dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


def graph_panels(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def panel_expressions(dashboard: dict) -> Iterator[tuple[str, str]]:
    """Yield (where, PromQL) for every panel target and every query variable of ``dashboard``."""
    for panel in graph_panels(dashboard):
        for target in panel["targets"]:
            yield f"panel {panel['title']!r} target {target['refId']}", target["expr"]

    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        # label_values(selector, label): only the selector is PromQL.
        match = _LABEL_VALUES.search(variable["query"]["query"])
        assert match, f"variable {variable['name']} does not use label_values(selector, label)"
        yield f"variable {variable['name']}", match.group(1)


def alert_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("up == 0", {"up"}),
        ('rate(a_total{job=~"$job"}[$__rate_interval])', {"a_total"}),
        ("histogram_quantile(0.99, sum by (job, le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("sum by (topic) (lag) / (sum by (topic) (rate(c_total[5m])) > 0)", {"lag", "c_total"}),
        ("a and on (job) b unless ignoring (x) c", {"a", "b", "c"}),
        ('count by (version) (info{label="sum(x)"}) > 1e-9', {"info"}),
        ("rate(s_sum[1m]) / rate(s_count[1m] offset 5m)", {"s_sum", "s_count"}),
        ("sum(m) * on (instance) group_left (version) build_info", {"m", "build_info"}),
    ],
    ids=["comparison", "grafana-variables", "histogram-quantile", "division-by-filter", "set-operators",
         "string-and-exponent", "histogram-sum-count", "group-left"],
)
def test_metric_names_tokenizer(expression: str, expected: set[str]) -> None:
    assert metric_names(expression) == expected


def test_dashboard_panels_have_units_and_thresholds() -> None:
    for panel in graph_panels(load_dashboard()):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"panel {panel['title']!r} has no unit"
        assert defaults["thresholds"]["steps"], f"panel {panel['title']!r} has no threshold steps"
        assert panel["targets"], f"panel {panel['title']!r} has no query"


def test_dashboard_panels_use_datasource_variable() -> None:
    dashboard = load_dashboard()
    for panel in graph_panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", f"panel {panel['title']!r} names a fixed data source"
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


@pytest.mark.parametrize(
    ("required", "unit"),
    [
        ("eql_stream_events_consumed_total", "eps"),
        ("eql_stream_alerts_produced_total", "eps"),
        ("eql_stream_events_dead_lettered_total", "mps"),
        ("eql_stream_consumer_lag_messages", "short"),
        ("eql_stream_alert_latency_seconds_bucket", "s"),
        ("eql_stream_batch_size_messages_bucket", "short"),
        ("process_cpu_seconds_total", "percentunit"),
        ("process_resident_memory_bytes", "bytes"),
        ("eql_stream_rules_loaded", "short"),
        ("eql_stream_produce_errors_total", "recps"),
        ("eql_stream_rule_evaluation_problems_total", "eps"),
    ],
    ids=lambda value: value,
)
def test_dashboard_has_panel_for_metric(required: str, unit: str) -> None:
    units = {
        panel["fieldConfig"]["defaults"]["unit"]
        for panel in graph_panels(load_dashboard())
        if any(required in metric_names(target["expr"]) for target in panel["targets"])
    }
    assert unit in units, f"no panel with unit {unit!r} queries {required}; units found: {sorted(units)}"


def test_dashboard_lag_time_divides_by_consume_rate() -> None:
    titles = {panel["title"]: panel for panel in graph_panels(load_dashboard())}
    panel = titles["Consumer lag as time"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    assert metric_names(panel["targets"][0]["expr"]) == {
        "eql_stream_consumer_lag_messages",
        "eql_stream_events_consumed_total",
    }


def test_dashboard_latency_quantiles() -> None:
    titles = {panel["title"]: panel for panel in graph_panels(load_dashboard())}
    expressions = [target["expr"] for target in titles["Alert latency"]["targets"]]
    assert any(expression.startswith("histogram_quantile(0.5,") for expression in expressions)
    assert any(expression.startswith("histogram_quantile(0.99,") for expression in expressions)


def test_grafana_provisioning_points_at_dashboard() -> None:
    compose = yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
    provider = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "eql-stream.yml").read_text(encoding="utf-8"))
    datasources = yaml.safe_load((PROVISIONING_DIR / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))

    dashboard_folder = provider["providers"][0]["options"]["path"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/eql-stream.json:{dashboard_folder}/eql-stream.json:ro" in mounts
    assert datasources["datasources"][0]["type"] == "prometheus"
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def test_dashboard_and_alert_metrics_are_exported(running_service: tuple[RunningService, str]) -> None:
    service, _ = running_service
    exported = {name for name, _ in scrape_metrics(service.metrics_url)}

    expressions = [*panel_expressions(load_dashboard()), *alert_expressions()]
    assert len(expressions) > 20
    for where, expression in expressions:
        names = metric_names(expression)
        assert names, f"{where}: no metric name found in {expression!r}"
        missing = names - exported - PROMETHEUS_SYNTHETIC_NAMES
        assert not missing, f"{where} queries {sorted(missing)}, which the service does not export"


def test_process_metrics_exported(running_service: tuple[RunningService, str]) -> None:
    service, _ = running_service
    exported = {name for name, _ in scrape_metrics(service.metrics_url)}
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"):
        assert name in exported, f"{name} missing: the service registry lacks prometheus_client's ProcessCollector"
