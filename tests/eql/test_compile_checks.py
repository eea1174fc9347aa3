"""Compile-time checks that mirror Elasticsearch's, and predicates on function results.

Elasticsearch rejects a query that passes a wrong-typed or ``null`` argument
to a function, or names a text field. eql-stream rejects the same queries
when it compiles them, so a rule that compiles here also runs there.
"""

from __future__ import annotations

from typing import Any

import pytest

from stream.eql import compile_query
from stream.errors import QueryCompileError, QueryError, QuerySyntaxError, UnsupportedQueryError

REJECTED = [
    pytest.param('process where startsWith(process.pid, "4")', "argument 1 of 'startsWith' must be text", QueryCompileError, id="text-function-on-number"),
    pytest.param('process where length(process.code_signature.trusted) == 4', "is a boolean field", QueryCompileError, id="text-function-on-boolean"),
    pytest.param('network where startsWith(source.ip, "10.")', "'source.ip' is an IP field", QueryCompileError, id="text-function-on-ip"),
    pytest.param('process where startsWith(process.name, 1)', "but 1 is a number", QueryCompileError, id="number-literal-as-text"),
    pytest.param('process where startsWith(length(process.name), "1")', "'length' returns a number", QueryCompileError, id="function-result-as-text"),
    pytest.param('process where add(process.title, 1) == 5', "argument 1 of 'add' must be a number", QueryCompileError, id="arithmetic-on-text"),
    pytest.param('process where substring(process.name, "a") == "x"', 'but "a" is a string', QueryCompileError, id="position-as-text"),
    pytest.param('process where indexOf(process.name, "a", "b") == 0', "argument 3 of 'indexOf'", QueryCompileError, id="start-as-text"),
    pytest.param('process where not startsWith(process.name, null)', "null cannot be argument 2 of 'startsWith'", QueryCompileError, id="null-pattern"),
    pytest.param('process where length(null) == 0', "null cannot be argument 1 of 'length'", QueryCompileError, id="null-source"),
    pytest.param('process where between(process.name, "a", null) == "b"', "argument 3 of 'between'", QueryCompileError, id="null-delimiter"),
    pytest.param('process where process.name.text : "a"', "match 'process.name' instead", QueryCompileError, id="text-multi-field"),
    pytest.param('process where process.parent.command_line.text : "*a*"', "text multi-field of 'process.parent.command_line'", QueryCompileError, id="parent-text-multi-field"),
    pytest.param('process where user.name.text : "admin"', "match 'user.name' instead", QueryCompileError, id="ecs-text-multi-field"),
    pytest.param('any where message : "x"', "field 'message' is a text field", QueryCompileError, id="match-only-text-field"),
    pytest.param('process where process.name : null', "but null is not a string", QueryCompileError, id="null-message-uses-eql-spelling"),
    pytest.param('process where process.pid == "zz"', 'but "zz" is not a number', QueryCompileError, id="string-message-uses-eql-quotes"),
    pytest.param('process where process.name.caseless == "cmd.exe"', "match 'process.name' with ':' or 'in~'", UnsupportedQueryError, id="caseless-sub-field-unsupported"),
    pytest.param('process where `a..b` == "x"', "has an empty segment", QuerySyntaxError, id="back-quoted-empty-segment"),
    pytest.param('process where `process.name.` == "x"', "has an empty segment", QuerySyntaxError, id="back-quoted-trailing-dot"),
    pytest.param('process where `` == "x"', "cannot be empty", QuerySyntaxError, id="back-quoted-empty-name"),
]


@pytest.mark.parametrize(("query", "words", "error_type"), REJECTED)
def test_compile_rejects_query(query: str, words: str, error_type: type[QueryError]) -> None:
    with pytest.raises(error_type) as caught:
        compile_query(query)

    assert words in str(caught.value)


ACCEPTED = [
    pytest.param('process where concat(process.pid, ":", process.name) == "4:a"', id="concat-takes-any-type"),
    pytest.param('process where startsWith(string(process.pid), "4")', id="string-converts-number"),
    pytest.param('process where add(process.pid, length(process.name)) == 5', id="arithmetic-on-numbers"),
    pytest.param('process where substring(process.name, 0, length(process.name)) == "a"', id="positions-from-functions"),
    pytest.param('process where startsWith(?process.unknown_field, "a")', id="dynamic-field-any-type"),
    pytest.param('process where process.io.text : "x"', id="wildcard-field-named-text"),
    pytest.param('process where custom.caseless : "x"', id="custom-field-named-caseless"),
    pytest.param('process where custom.text : "x"', id="custom-field-named-text"),
    pytest.param('process where process.name == null', id="null-in-comparison"),
    pytest.param('process where concat(process.name, null) == "a"', id="null-in-concat"),
    pytest.param('process where add(process.pid, null) == 1', id="null-in-arithmetic"),
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_compile_accepts_query(query: str) -> None:
    assert compile_query(query).matches is not None


def _event(**process: Any) -> dict[str, Any]:
    return {"event": {"category": ["process"]}, "process": process}


# On a function result Elasticsearch evaluates the predicate in a script, where "." and "*" stop at
# the line terminators of Java's regular expressions. On a field they match any character.
FUNCTION_RESULT_CASES = [
    pytest.param('substring(process.command_line, 0) regex~ "a.b"', "a\nb", False, id="regex-ci-dot-newline"),
    pytest.param('substring(process.command_line, 0) regex "a.b"', "a\rb", False, id="regex-dot-carriage-return"),
    pytest.param('substring(process.command_line, 0) regex "a.b"', "a\u2028b", False, id="regex-dot-line-separator"),
    pytest.param('substring(process.command_line, 0) regex "a.b"', "axb", True, id="regex-dot-other-character"),
    pytest.param('substring(process.command_line, 0) regex "a[^x]b"', "a\nb", True, id="regex-negated-class-newline"),
    pytest.param('substring(process.command_line, 0) : "a*b"', "a\u0085b", False, id="wildcard-next-line"),
    pytest.param('substring(process.command_line, 0) like~ "A?B"', "a\nb", False, id="like-ci-question-mark"),
    pytest.param('process.command_line regex "a.b"', "a\nb", True, id="field-regex-dot-newline"),
    pytest.param('process.command_line : "a*b"', "a\r\nb", True, id="field-wildcard-newline"),
]


@pytest.mark.parametrize(("condition", "command_line", "expected"), FUNCTION_RESULT_CASES)
def test_predicate_line_breaks(condition: str, command_line: str, expected: bool) -> None:
    compiled = compile_query(f"process where {condition}")

    assert compiled.matches(_event(command_line=command_line)) is expected


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"event": {"category": "process"}, "process": {"name": "a"}, "my-field": {"x": "b"}}, id="nested-objects"),
        pytest.param({"event": {"category": "process"}, "process.name": "a", "my-field.x": "b"}, id="dotted-keys"),
    ],
)
def test_back_quoted_dotted_name_is_field_path(event: dict[str, Any]) -> None:
    compiled = compile_query('process where `process.name` == "a" and `my-field.x` : "b"')

    assert compiled.matches(event) is True


def test_regex_hint_doubles_backslash_for_quoted_string() -> None:
    with pytest.raises(UnsupportedQueryError) as caught:
        compile_query('process where process.name regex "a&b"')

    assert "Write \\& if a literal '&' was meant" in str(caught.value)
    assert "write each backslash twice" in str(caught.value)
