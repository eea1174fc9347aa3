"""Tests of the Prometheus configuration and alert rules in deploy/prometheus/."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from deploy_support import DEPLOY_DIR, REPOSITORY

PROMETHEUS_DIR = DEPLOY_DIR / "prometheus"
ALERTS_FILE = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS_FILE = PROMETHEUS_DIR / "alerts_test.yml"
OPERATIONS_DOC = REPOSITORY / "docs" / "operations.md"
SEVERITIES = {"critical", "warning"}
RUNBOOK_PREFIX = "docs/operations.md#"


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def markdown_anchors(text: str) -> set[str]:
    """Return the anchors that GitHub-style Markdown gives the headings of ``text``."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def run_promtool(promtool: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *arguments], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS_DIR)


def test_promtool_check_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", ALERTS_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", ALERT_TESTS_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config(promtool: str) -> None:
    result = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_rule_has_metadata(rule: dict) -> None:
    assert rule.get("for"), "no 'for' duration"
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()
    assert 'job="eql-stream"' in rule["expr"], "the rule does not select job eql-stream"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_runbook_anchor_exists(rule: dict) -> None:
    runbook = rule["annotations"]["runbook_url"]
    assert runbook.startswith(RUNBOOK_PREFIX)
    anchor = runbook.removeprefix(RUNBOOK_PREFIX)
    assert anchor == rule["alert"].lower()
    assert anchor in markdown_anchors(OPERATIONS_DOC.read_text(encoding="utf-8")), f"no heading for #{anchor}"


def test_alert_tests_cover_every_alert() -> None:
    tests = yaml.safe_load(ALERT_TESTS_FILE.read_text(encoding="utf-8"))["tests"]
    names = {rule["alert"] for rule in alert_rules()}

    firing = {
        case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]
    }
    assert firing == names, f"alerts without a firing test: {sorted(names - firing)}"

    healthy = [test for test in tests if all(not case["exp_alerts"] for case in test["alert_rule_test"])]
    assert healthy, "no test where no alert fires"
    quiet = {case["alertname"] for case in healthy[-1]["alert_rule_test"]}
    assert quiet == names, f"alerts not checked on healthy series: {sorted(names - quiet)}"


def test_prometheus_config_scrapes_service() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["eql-stream"]["static_configs"][0]["targets"] == ["eql-stream:9464"]
    assert config["rule_files"] == [ALERTS_FILE.name]
