"""RuleSet: loading reports and evaluation errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stream.errors import RuleEvaluationError
from stream.ruleset import RuleSet, load_rule_set


def _failing_matcher(event: dict) -> bool:
    raise ZeroDivisionError("division by zero")


def test_rule_evaluation_error_names_rule() -> None:
    rule_set, _ = load_rule_set()
    (compiled,) = rule_set.rules
    broken = dataclasses.replace(compiled, query=dataclasses.replace(compiled.query, matches=_failing_matcher))

    with pytest.raises(RuleEvaluationError) as caught:
        RuleSet([broken]).matching_rules({"event": {"category": ["process"]}})

    assert caught.value.rule_id == compiled.rule.rule_id
    assert "ZeroDivisionError" in str(caught.value)


def test_load_rule_set_reports_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.eql"
    bad.write_text("process where (\n")
    good = tmp_path / "good.eql"
    good.write_text('process where process.name : "net.exe"\n')

    rule_set, reports = load_rule_set([tmp_path])

    assert len(rule_set) == 1
    assert sorted(report.status for report in reports) == ["error", "ok"]
    error = next(report for report in reports if report.status == "error")
    assert error.path == str(bad)
    assert "line 1, column 16" in (error.error or "")


@pytest.mark.parametrize("query", [pytest.param("", id="empty"), pytest.param("   \n", id="blank")])
def test_load_rule_set_reports_empty_query(query: str) -> None:
    rule_set, reports = load_rule_set(queries=[query])

    assert len(rule_set) == 0
    assert [report.status for report in reports] == ["error"]
    assert "empty query" in (reports[0].error or "")


def test_load_rule_set_defaults_to_shipped_rule() -> None:
    rule_set, reports = load_rule_set()

    assert rule_set.rule_ids == ["c4e9ed3e-55a2-4309-a012-bc3c78dad10a"]
    assert [report.status for report in reports] == ["ok"]
