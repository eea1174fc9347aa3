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
