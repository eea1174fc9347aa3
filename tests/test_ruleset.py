"""RuleSet: loading reports, evaluation errors and field type checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stream.eql import FieldTypeError
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


_PID_RULE = 'process where process.name == "a.exe" and process.pid == 5'
_MATCHING = {"event": {"category": ["process"]}, "process": {"name": "a.exe", "pid": 5}}
# The name test fails first, so the evaluation never reads the bad pid.
_BAD_PID = {"event": {"category": ["process"]}, "process": {"name": "b.exe", "pid": "not a number"}}


@pytest.mark.parametrize(
    "earlier_events",
    [
        pytest.param([], id="first-event"),
        pytest.param([_MATCHING], id="after-a-match"),
        pytest.param([_MATCHING, _MATCHING], id="after-two-matches"),
    ],
)
def test_matching_rules_rejects_unread_bad_value(earlier_events: list[dict]) -> None:
    rule_set, _ = load_rule_set(queries=[_PID_RULE])
    for event in earlier_events:
        assert len(rule_set.matching_rules(event)) == 1

    with pytest.raises(FieldTypeError, match="process.pid"):
        rule_set.matching_rules(_BAD_PID)


def test_rule_set_checks_each_typed_field_once() -> None:
    queries = [_PID_RULE, "process where process.pid > 100", 'process where process.parent.pid == 1 and process.name : "x"']

    rule_set, _ = load_rule_set(queries=queries)

    assert rule_set.typed_fields == ["process.pid", "process.parent.pid"]


_PROBLEM_EVENT = {"event": {"category": ["process"]}, "process": {"pid": [3, 4], "title": "zz"}}


def test_last_problems_names_rule_and_message() -> None:
    rule_set, _ = load_rule_set(queries=["process where divide(process.pid, 0) == 1", 'process where process.title == "zz"'])
    dividing, plain = rule_set.rules

    matched = rule_set.matching_rules(_PROBLEM_EVENT)

    assert matched == [plain]
    assert [(compiled, problem.message) for compiled, problem in rule_set.last_problems] == [
        (dividing, "integer division by zero in divide(3, 0)"),
        (dividing, "integer division by zero in divide(4, 0)"),
    ]


def test_last_problems_drops_repeated_message() -> None:
    rule_set, _ = load_rule_set(queries=["process where divide(1, 0) == 1 or divide(1, 0) == 2"])

    rule_set.matching_rules(_PROBLEM_EVENT)

    assert [problem.message for _, problem in rule_set.last_problems] == ["integer division by zero in divide(1, 0)"]


def test_last_problems_replaced_by_next_call() -> None:
    rule_set, _ = load_rule_set(queries=["process where number(process.title) == 1"])
    rule_set.matching_rules(_PROBLEM_EVENT)
    first = rule_set.last_problems

    rule_set.matching_rules({"event": {"category": ["process"]}, "process": {"title": "1"}})

    assert len(first) == 1
    assert rule_set.last_problems == ()


def test_last_problems_only_evaluated_rules() -> None:
    rule_set, _ = load_rule_set(queries=['process where process.name == "x"', "process where divide(process.pid, 0) == 1"])

    rule_set.matching_rules(_PROBLEM_EVENT, [0])

    assert rule_set.last_problems == ()


def test_rule_without_failing_function_keeps_matcher() -> None:
    rule_set, _ = load_rule_set(queries=['process where length(process.title) == 2 and process.name : "x"'])
    (compiled,) = rule_set.rules

    # No function of this rule can report a problem, so it is evaluated without collecting them.
    assert rule_set._matchers == ((compiled, compiled.query.matches),)


@pytest.mark.parametrize(
    ("indexes", "limit", "expected"),
    [
        pytest.param(None, 20, "command-line query 1, command-line query 2, command-line query 3", id="every-rule"),
        pytest.param([2, 0], 20, "command-line query 3, command-line query 1", id="selected-rules"),
        pytest.param(None, 1, "command-line query 1, and 2 more", id="over-the-limit"),
    ],
)
def test_rule_set_describe_names(indexes: list[int] | None, limit: int, expected: str) -> None:
    rule_set, _ = load_rule_set(queries=['process where process.name : "a"', "process where true", "any where true"])

    assert rule_set.describe_names(indexes, limit) == expected
