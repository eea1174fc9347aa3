"""Tests of the rule warnings that ``eql-stream check`` prints: event category and wildcard arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.eql import compile_query, parse_query
from stream.rules import Rule
from stream.rules.lint import ECS_EVENT_CATEGORIES, event_category_warning, rule_warnings, wildcard_argument_warnings
from stream.ruleset import load_rule_set

ELASTIC_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "elastic-rules"


def _rule(query: str, *, override: str | None = None) -> Rule:
    return Rule(rule_id="lint-test", name="Lint Test", query=query, event_category_override=override)


@pytest.mark.parametrize(
    ("query", "override", "expected_fragments"),
    [
        pytest.param('process where process.name : "x"', None, None, id="valid-category"),
        pytest.param('"process" where true', None, None, id="quoted-valid-category"),
        pytest.param("library where dll.name : \"x.dll\"", None, None, id="library-category"),
        pytest.param("any where true", None, None, id="any"),
        pytest.param(
            'proces where process.name : "x"',
            None,
            ["rule 'Lint Test'", "event category 'proces'", "not an ECS event.category value", "did you mean 'process'?"],
            id="typo-with-suggestion",
        ),
        pytest.param(
            "Process where true",
            None,
            ["event category 'Process'", "did you mean 'process'?"],
            id="wrong-case-with-suggestion",
        ),
        pytest.param(
            "widget where true",
            None,
            ["rule 'Lint Test'", "event category 'widget'", "use one of api, authentication,", "or 'any'"],
            id="unknown-word-without-suggestion",
        ),
        pytest.param('info where host.os.type == "windows"', "event.type", None, id="category-override"),
        pytest.param("proces where true", "event.type", None, id="typo-with-category-override"),
    ],
)
def test_event_category_warning_table(query: str, override: str | None, expected_fragments: list[str] | None) -> None:
    rule = _rule(query, override=override)

    warning = event_category_warning(rule, parse_query(query))

    if expected_fragments is None:
        assert warning is None
        return
    assert warning is not None
    for fragment in expected_fragments:
        assert fragment in warning


def test_unknown_category_has_no_suggestion() -> None:
    warning = event_category_warning(_rule("widget where true"), parse_query("widget where true"))

    assert warning is not None
    assert "did you mean" not in warning


def test_rule_warnings_lists_category() -> None:
    rule = _rule("proces where true")

    warnings = rule_warnings(rule, parse_query(rule.query))

    assert len(warnings) == 1
    assert "did you mean 'process'?" in warnings[0]


def test_rule_warnings_empty_when_valid() -> None:
    rule = _rule("network where true")

    assert rule_warnings(rule, parse_query(rule.query)) == []


def test_ecs_categories_are_lower_case() -> None:
    for category in ECS_EVENT_CATEGORIES:
        assert category == category.lower()
        assert category.replace("_", "").isalpha()


# Elastic's prebuilt rules whose stringContains argument Elasticsearch reads as a wildcard pattern.
ELASTIC_RULES_WITH_WILDCARD_ARGUMENTS = [
    "AWS Lambda Function Policy Updated to Allow Cross-Account Invocation",
    "AWS Lambda Function Policy Updated to Allow Public Invocation",
    "AWS RDS DB Instance or Cluster Password Modified",
    "AWS RDS DB Snapshot Shared with Another Account",
    "AWS S3 Bucket Policy Added to Allow Public Access",
]


def test_elastic_corpus_warnings() -> None:
    if not ELASTIC_RULES.is_dir():
        pytest.skip(f"Elastic detection-rules corpus not found at {ELASTIC_RULES}")
    rule_set, _ = load_rule_set(sorted(ELASTIC_RULES.rglob("*.toml")))

    category_warnings = [
        warning for compiled in rule_set.rules if (warning := event_category_warning(compiled.rule, compiled.query.syntax))
    ]
    wildcard_rules = sorted(
        compiled.rule.name for compiled in rule_set.rules if wildcard_argument_warnings(compiled.rule, compiled.query.syntax)
    )

    assert len(rule_set.rules) >= 800
    assert category_warnings == []
    assert wildcard_rules == ELASTIC_RULES_WITH_WILDCARD_ARGUMENTS


WILDCARD_ARGUMENT_CASES = [
    pytest.param('process where stringContains(process.name, "a*b")', ['stringContains(process.name, "a*b")'], id="star"),
    pytest.param('process where endsWith(process.name, "?.exe")', ['endsWith(process.name, "?.exe")'], id="question-mark"),
    pytest.param('process where stringContains(process.name, "a\\\\b")', ['stringContains(process.name, "a\\\\b")'], id="backslash"),
    pytest.param('process where endsWith~(process.name, "")', ['endsWith~(process.name, "")'], id="empty-case-insensitive"),
    pytest.param(
        'process where not (stringContains(process.name, "*") or endsWith(process.args, "x?"))',
        ['stringContains(process.name, "*")', 'endsWith(process.args, "x?")'],
        id="two-inside-not-and-or",
    ),
    pytest.param('process where length(endsWith(process.name, "*")) == 1', ['endsWith(process.name, "*")'], id="nested-in-call"),
    pytest.param('process where stringContains(process.name, "cmd.exe")', [], id="plain-text"),
    pytest.param('process where startsWith(process.name, "a*")', [], id="startswith-not-affected"),
    pytest.param('process where stringContains("a*b", process.name)', [], id="constant-first"),
    pytest.param('process where process.name : "a*b"', [], id="wildcard-operator"),
]


@pytest.mark.parametrize(("query", "expected_calls"), WILDCARD_ARGUMENT_CASES)
def test_wildcard_argument_warning_table(query: str, expected_calls: list[str]) -> None:
    rule = _rule(query)

    warnings = wildcard_argument_warnings(rule, parse_query(query))

    assert len(warnings) == len(expected_calls)
    for warning, call in zip(warnings, expected_calls):
        assert f"rule 'Lint Test': {call} on line 1 of the query" in warning
        assert "Elasticsearch matches the wildcard pattern" in warning


# The rewrite a warning suggests must match what Elasticsearch's wildcard query matches.
SUGGESTED_REGEX_CASES = [
    pytest.param('stringContains(process.title, "principal=\\\\*")', "{a=1, principal=*}", True, id="escaped-star-literal"),
    pytest.param('stringContains(process.title, "principal=\\\\*")', "{principal=abc}", False, id="escaped-star-not-wildcard"),
    pytest.param('stringContains(process.title, "valuesToAdd=[*]")', "x valuesToAdd=[123] y", True, id="star-wildcard-brackets"),
    pytest.param('stringContains(process.title, "valuesToAdd=[*]")', "valuesToAdd=123", False, id="brackets-literal"),
    pytest.param('endsWith(process.title, "?.exe")', "a.exe", True, id="question-mark-one-character"),
    pytest.param('endsWith(process.title, "?.exe")', ".exe", False, id="question-mark-needs-character"),
    pytest.param('endsWith~(process.title, "*.EXE")', "cmd.exe", True, id="case-insensitive-regex"),
    pytest.param('stringContains(process.title, "")', "anything", True, id="empty-matches-all"),
]


@pytest.mark.parametrize(("call", "value", "expected"), SUGGESTED_REGEX_CASES)
def test_wildcard_warning_suggested_regex(call: str, value: str, expected: bool) -> None:
    query = f"process where {call}"
    (warning,) = wildcard_argument_warnings(_rule(query), parse_query(query))
    suggested = warning.split("To match as Elasticsearch does, write ", 1)[1]

    compiled = compile_query(f"process where {suggested}")

    assert compiled.matches({"event": {"category": ["process"]}, "process": {"title": value}}) is expected
