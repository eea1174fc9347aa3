"""Service start-up: rule loading messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stream.config_loading import load_settings
from stream.runner import _load_rules


def test_load_rules_logs_lint_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rule = tmp_path / "typo.eql"
    rule.write_text('proces where process.name : "net.exe"\n')
    settings = load_settings({"bootstrap_servers": "127.0.0.1:1", "input_topics": ["events"], "rules": [rule]}, {}, None)

    with caplog.at_level(logging.WARNING, logger="stream.runner"):
        rule_set = _load_rules(settings)

    assert len(rule_set) == 1
    assert "event category 'proces' is not an ECS event.category value" in caplog.text


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(3, "loaded 3 rules (0 failed to load or compile): rule-00, rule-01, rule-02", id="all-names"),
        pytest.param(25, "rule-19, and 5 more (every name at DEBUG level)", id="first-twenty-names"),
    ],
)
def test_load_rules_start_line_names(tmp_path: Path, caplog: pytest.LogCaptureFixture, count: int, expected: str) -> None:
    for number in range(count):
        (tmp_path / f"rule-{number:02d}.eql").write_text(f'process where process.name : "tool{number}.exe"\n')
    settings = load_settings({"bootstrap_servers": "127.0.0.1:1", "input_topics": ["events"], "rules": [tmp_path]}, {}, None)

    with caplog.at_level(logging.INFO, logger="stream.runner"):
        _load_rules(settings)

    assert expected in caplog.text
    assert "rule-20" not in caplog.text.split("loaded")[-1].split("\n")[0]


@pytest.mark.parametrize(
    ("report_problems", "level"),
    [pytest.param(True, logging.ERROR, id="reporting-worker"), pytest.param(False, logging.DEBUG, id="other-workers")],
)
def test_load_rules_error_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, report_problems: bool, level: int
) -> None:
    (tmp_path / "good.eql").write_text('process where process.name : "net.exe"\n')
    (tmp_path / "bad.eql").write_text('process where process.name : "net.exe\n')
    settings = load_settings({"bootstrap_servers": "127.0.0.1:1", "input_topics": ["events"], "rules": [tmp_path]}, {}, None)

    with caplog.at_level(logging.DEBUG, logger="stream.runner"):
        _load_rules(settings, report_problems=report_problems)

    errors = [record for record in caplog.records if record.getMessage().startswith("rule not loaded")]
    assert [record.levelno for record in errors] == [level]
