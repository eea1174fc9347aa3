"""The settings that change matching: case folding and the keyword length limit, in run, check and replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.config_loading import load_settings
from stream.errors import ConfigError
from stream.ruleset import load_rule_set

REQUIRED_FLAGS: dict[str, Any] = {"bootstrap_servers": "kafka:9092", "input_topics": ["events"]}
KELVIN_EVENT = {"event": {"category": ["process"]}, "process": {"name": "\u212a.exe", "args": ["abcde"]}}


def test_settings_default_matching_options() -> None:
    options = load_settings(REQUIRED_FLAGS, {}, None).match_options()

    assert options.case_folding == "ascii"
    assert options.schema.default_ignore_above == 1024


def test_settings_matching_options_from_environment() -> None:
    environ = {"EQL_STREAM_CASE_FOLDING": "unicode", "EQL_STREAM_KEYWORD_IGNORE_ABOVE": "4096", "EQL_STREAM_INDEX_MODE": "logsdb"}

    options = load_settings(REQUIRED_FLAGS, environ, None).match_options()

    assert options.case_folding == "unicode"
    assert options.schema.default_ignore_above == 4096
    assert options.schema.unset_ignore_above == 8191


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        pytest.param({"case_folding": "turkish"}, "'ascii' or 'unicode'", id="unknown-folding"),
        pytest.param({"keyword_ignore_above": "0"}, "greater than or equal to 1", id="zero-length"),
        pytest.param({"index_mode": "time_series"}, "'standard' or 'logsdb'", id="unknown-index-mode"),
    ],
)
def test_settings_invalid_matching_option(flags: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REQUIRED_FLAGS, **flags}, {}, None)

    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "query", "alerts"),
    [
        pytest.param([], 'process where process.name : "k.exe"', 0, id="ascii-kelvin-sign-not-folded"),
        pytest.param(["--case-folding", "unicode"], 'process where process.name : "k.exe"', 1, id="unicode-kelvin-sign-folded"),
        pytest.param([], 'process where process.args : "abc*"', 1, id="default-limit-indexes-five"),
        pytest.param(["--keyword-ignore-above", "4"], 'process where process.args : "abc*"', 0, id="limit-four-skips-five"),
    ],
)
def test_replay_matching_flags(tmp_path: Path, flags: list[str], query: str, alerts: int) -> None:
    assert _replay_alert_count(tmp_path, KELVIN_EVENT, query, flags) == alerts


def _replay_alert_count(tmp_path: Path, event: dict[str, Any], query: str, flags: list[str]) -> int:
    """Replay ``event`` with ``query`` and the flags, and return how many alerts it wrote."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(event) + b"\n")

    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", "--query", query, *flags, str(events)],
        capture_output=True, timeout=60, check=False,
    )

    assert finished.returncode == 0, finished.stderr
    return len(finished.stdout.splitlines())


def test_check_rejects_zero_length() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "check", "--keyword-ignore-above", "0"],
        capture_output=True, timeout=60, check=False,
    )

    assert finished.returncode == 2
    assert b"give a whole number of at least 1" in finished.stderr


def test_rule_set_unicode_folding_has_no_literals() -> None:
    # The prefilter searches ASCII-folded literals only, so under Unicode folding it selects every rule.
    rule_set, _ = load_rule_set(queries=['process where process.name : "k.exe"'], options=load_settings(
        {**REQUIRED_FLAGS, "case_folding": "unicode"}, {}, None
    ).match_options())

    assert rule_set.rules[0].query.necessary_literals is None


LONG_VALUES_EVENT = {"event": {"category": ["process"]}, "process": {"command_line": "a" * 9000, "args": ["b" * 2000]}}


@pytest.mark.parametrize(
    ("flags", "query", "alerts"),
    [
        pytest.param([], 'process where process.command_line : "a*"', 1, id="standard-wildcard-unlimited"),
        pytest.param(["--index-mode", "logsdb"], 'process where process.command_line : "a*"', 0, id="logsdb-wildcard-8191"),
        pytest.param(["--index-mode", "logsdb"], 'process where process.args : "b*"', 0, id="logsdb-keyword-keeps-own-limit"),
        pytest.param(["--keyword-ignore-above", "4096"], 'process where process.args : "b*"', 1, id="keyword-limit-raised"),
    ],
)
def test_replay_index_mode(tmp_path: Path, flags: list[str], query: str, alerts: int) -> None:
    assert _replay_alert_count(tmp_path, LONG_VALUES_EVENT, query, flags) == alerts
