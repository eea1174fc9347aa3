"""Evaluation problems: errors for which Elasticsearch fails the search, reported while the leaf counts as false."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stream.eql import compile_query, functions
from stream.eql.values import EvaluationProblem, collect_problems, report_problem
from stream.errors import QueryCompileError

_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)


def _collected(function: Callable[[Any], Any], argument: Any) -> tuple[Any, list[EvaluationProblem]]:
    """Return the result of ``function(argument)`` and the problems it reported."""
    problems: list[EvaluationProblem] = []
    result = collect_problems(function, problems.extend)(argument)
    return result, problems


def _call(function: Callable[..., Any], *arguments: Any) -> tuple[Any, list[str]]:
    """Return the result of ``function(*arguments)`` and the messages of the problems it reported."""
    result, problems = _collected(lambda _: function(*arguments), None)
    return result, [problem.message for problem in problems]


FUNCTION_CASES = [
    # Problems: the result is null, and one message names the function and its values.
    pytest.param(functions.divide, (3, 0), None, "integer division by zero in divide(3, 0)", id="divide-by-zero"),
    pytest.param(functions.modulo, (-5, 0), None, "integer division by zero in modulo(-5, 0)", id="modulo-by-zero"),
    pytest.param(
        functions.add, (_LONG_MAX, 1), None,
        f"integer overflow beyond the signed 64-bit range in add({_LONG_MAX}, 1)", id="add-overflow",
    ),
    pytest.param(
        functions.subtract, (_LONG_MIN, 1), None,
        f"integer overflow beyond the signed 64-bit range in subtract({_LONG_MIN}, 1)", id="subtract-overflow",
    ),
    pytest.param(
        functions.multiply, (3, _LONG_MAX), None,
        f"integer overflow beyond the signed 64-bit range in multiply(3, {_LONG_MAX})", id="multiply-overflow",
    ),
    # Elasticsearch divides longs with Java's plain '/', which wraps this quotient without an error.
    pytest.param(functions.divide, (_LONG_MIN, -1), _LONG_MIN, None, id="divide-wraps-like-java"),
    pytest.param(
        functions.parse_number, ("zz",), None,
        'number("zz") cannot parse its text as a decimal integer or a floating-point number', id="number-unparsable",
    ),
    pytest.param(
        functions.parse_number, ("12", 2), None,
        'number("12", 2) cannot parse its text as a base-2 integer in the signed 64-bit range', id="number-bad-digit",
    ),
    pytest.param(
        functions.parse_number, ("0x", None), None,
        'number("0x") cannot parse its text as a base-16 integer in the signed 64-bit range', id="number-bare-prefix",
    ),
    pytest.param(
        functions.parse_number, ("ffffffffffffffffff", 16), None,
        'number("ffffffffffffffffff", 16) cannot parse its text as a base-16 integer in the signed 64-bit range',
        id="number-long-overflow",
    ),
    # Valid cases: a result and no problem.
    pytest.param(functions.divide, (-5, 2), -2, None, id="divide-truncates"),
    pytest.param(functions.divide, (3.0, 0), float("inf"), None, id="divide-float-by-zero"),
    pytest.param(functions.modulo, (-5, 3), -2, None, id="modulo-sign-of-dividend"),
    pytest.param(functions.add, (_LONG_MAX - 1, 1), _LONG_MAX, None, id="add-at-long-max"),
    pytest.param(functions.subtract, (_LONG_MIN + 1, 1), _LONG_MIN, None, id="subtract-at-long-min"),
    pytest.param(functions.multiply, (2.0, float(_LONG_MAX)), 2.0 * _LONG_MAX, None, id="multiply-float-beyond-long"),
    pytest.param(functions.add, (None, 1), None, None, id="add-null"),
    pytest.param(functions.divide, (None, 0), None, None, id="divide-null-by-zero"),
    pytest.param(functions.parse_number, ("0x539",), 1337, None, id="number-hex"),
    pytest.param(functions.parse_number, (" 1.5 ",), 1.5, None, id="number-double-with-spaces"),
    pytest.param(functions.parse_number, ("99999999999999999999",), 1e20, None, id="number-double-beyond-long"),
    pytest.param(functions.parse_number, (None,), None, None, id="number-null"),
]


@pytest.mark.parametrize(("function", "arguments", "expected", "message"), FUNCTION_CASES)
def test_function_problem(function: Callable[..., Any], arguments: tuple[Any, ...], expected: Any, message: str | None) -> None:
    result, messages = _call(function, *arguments)

    assert result == expected
    assert messages == ([] if message is None else [message])


def test_report_problem_outside_collection_dropped() -> None:
    report_problem("integer division by zero in divide(1, 0)")

    result, problems = _collected(lambda value: value, 7)

    assert result == 7
    assert problems == []


def test_collect_problems_nested_keeps_outer() -> None:
    def outer(_: Any) -> list[EvaluationProblem]:
        report_problem("before")
        _, inner_problems = _collected(lambda _: report_problem("inner"), None)
        report_problem("after")
        return inner_problems

    inner_problems, outer_problems = _collected(outer, None)

    assert inner_problems == [EvaluationProblem("inner")]
    assert outer_problems == [EvaluationProblem("before"), EvaluationProblem("after")]


def test_problem_describe_states_consequence() -> None:
    problem = EvaluationProblem("integer division by zero in divide(3, 0)")

    assert problem.describe() == (
        "integer division by zero in divide(3, 0): the condition counts as false here, while Elasticsearch fails the search"
    )


QUERY_CASES = [
    pytest.param("process where divide(process.pid, 0) == 1", ["integer division by zero in divide(3, 0)"], id="divide"),
    pytest.param("process where process.pid % 0 == 1", ["integer division by zero in modulo(3, 0)"], id="modulo-operator"),
    pytest.param(
        "process where process.pid * 9223372036854775807 > 0",
        ["integer overflow beyond the signed 64-bit range in multiply(3, 9223372036854775807)"],
        id="multiply-operator",
    ),
    pytest.param(
        "process where number(process.title) == 1",
        ['number("zz") cannot parse its text as a decimal integer or a floating-point number'],
        id="number",
    ),
    pytest.param(
        "process where -process.parent.pid > 0",
        ["integer overflow beyond the signed 64-bit range in -(-9223372036854775808)"],
        id="unary-minus",
    ),
    pytest.param("process where divide(1, 0) == 1", ["integer division by zero in divide(1, 0)"], id="constant-call"),
    pytest.param("process where divide(process.pid, 1) == 3", [], id="no-problem"),
]


@pytest.mark.parametrize(("query", "expected"), QUERY_CASES)
def test_compiled_query_problem_leaf_false(query: str, expected: list[str]) -> None:
    compiled = compile_query(query)
    event = {"event": {"category": ["process"]}, "process": {"pid": 3, "title": "zz", "parent": {"pid": -(2**63)}}}

    matched, problems = _collected(compiled.matches, event)

    assert matched is (not expected)
    assert [problem.message for problem in problems] == expected


def test_constant_problem_reported_each_evaluation() -> None:
    compiled = compile_query("process where divide(1, 0) == 1")
    event = {"event": {"category": ["process"]}}
    problems: list[EvaluationProblem] = []
    evaluate = collect_problems(compiled.matches, problems.extend)

    evaluate(event)
    evaluate(event)

    assert [problem.message for problem in problems] == ["integer division by zero in divide(1, 0)"] * 2


@pytest.mark.parametrize("base", [pytest.param(1, id="1"), pytest.param(37, id="37"), pytest.param(0, id="0")])
def test_number_base_outside_range_rejected(base: int) -> None:
    with pytest.raises(QueryCompileError) as caught:
        compile_query(f"process where number(process.title, {base}) == 1")

    assert f"invalid base {base} in 'number'" in str(caught.value)
    assert "from 2 to 36" in str(caught.value)


@pytest.mark.parametrize("base", [pytest.param(2, id="2"), pytest.param(36, id="36")])
def test_number_base_in_range_compiles(base: int) -> None:
    compiled = compile_query(f"process where number(process.title, {base}) == 1")

    assert compiled.matches({"event": {"category": ["process"]}, "process": {"title": "1"}})


def test_number_boolean_base_rejected() -> None:
    with pytest.raises(QueryCompileError, match="must be an integer literal"):
        compile_query("process where number(process.title, true) == 1")
