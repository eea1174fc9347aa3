"""Tests of the rule warnings that ``eql-stream check`` prints.

They cover the event category, misspelt fields, wildcard and empty arguments
of ``stringContains`` and ``endsWith``, and regular expressions that need review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.eql import compile_query, parse_query
from stream.rules import Rule
from stream.rules.lint import (
    ECS_EVENT_CATEGORIES,
    event_category_warning,
    known_field_names,
    misspelt_field_warnings,
    regex_review_warnings,
    rule_warnings,
    wildcard_argument_warnings,
)
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

# Elastic's prebuilt rules whose regex patterns use a Perl shorthand class (\s or \w).
ELASTIC_RULES_WITH_REGEX_TO_REVIEW = [
    "Masquerading Space After Filename",
    "Potential Exploitation of an Unquoted Service Path Vulnerability",
    "Process Started from Process ID (PID) File",
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

    field_warnings = [
        warning for compiled in rule_set.rules for warning in misspelt_field_warnings(compiled.rule, compiled.query.syntax)
    ]
    regex_rules = sorted(
        compiled.rule.name for compiled in rule_set.rules if regex_review_warnings(compiled.rule, compiled.query.syntax)
    )

    assert len(rule_set.rules) >= 800
    assert category_warnings == []
    assert wildcard_rules == ELASTIC_RULES_WITH_WILDCARD_ARGUMENTS
    assert field_warnings == []
    assert regex_rules == ELASTIC_RULES_WITH_REGEX_TO_REVIEW


WILDCARD_ARGUMENT_CASES = [
    pytest.param('process where stringContains(process.name, "a*b")', ['stringContains(process.name, "a*b")'], id="star"),
    pytest.param('process where endsWith(process.name, "?.exe")', ['endsWith(process.name, "?.exe")'], id="question-mark"),
    pytest.param('process where stringContains(process.name, "a\\\\b")', ['stringContains(process.name, "a\\\\b")'], id="backslash"),
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
]


@pytest.mark.parametrize(("call", "value", "expected"), SUGGESTED_REGEX_CASES)
def test_wildcard_warning_suggested_regex(call: str, value: str, expected: bool) -> None:
    query = f"process where {call}"
    (warning,) = wildcard_argument_warnings(_rule(query), parse_query(query))
    suggested = warning.split("To match as Elasticsearch does, write ", 1)[1]

    compiled = compile_query(f"process where {suggested}")

    assert compiled.matches({"event": {"category": ["process"]}, "process": {"title": value}}) is expected


MISSPELT_FIELD_CASES = [
    pytest.param('process where process.nmae : "x"', "process.nmae", "process.name", id="swapped-letters"),
    pytest.param('process where proces.name : "x"', "proces.name", "process.name", id="namespace-missing-letter"),
    pytest.param('process where process.parnet.name : "x"', "process.parnet.name", "process.parent.name", id="middle-segment"),
    pytest.param('process where process.comand_line : "x"', "process.comand_line", "process.command_line", id="long-leaf"),
    pytest.param('process where process.Name : "x"', "process.Name", "process.name", id="wrong-case"),
    pytest.param('process where process.PARENT.Name : "x"', "process.PARENT.Name", "process.parent.name", id="wrong-case-two-segments"),
    pytest.param('process where process.pdi == 1', "process.pdi", "process.pid", id="three-letter-leaf"),
    pytest.param('process where event.categroy : "x"', "event.categroy", "event.category", id="event-field"),
    pytest.param(
        'process where process.pe.original_filename : "x"',
        "process.pe.original_filename",
        "process.pe.original_file_name",
        id="missing-underscore",
    ),
    pytest.param('process where @timestmap : "x"', "@timestmap", "@timestamp", id="ecs-name-of-renamed-avro-field"),
    pytest.param('any where url.ful : "x"', "url.ful", "url.full", id="wildcard-field-of-fields-module"),
    pytest.param('process where startsWith(process.exectuable, "C:")', "process.exectuable", "process.executable", id="in-function"),
    pytest.param('process where not process.args_cont > 2', "process.args_cont", "process.args_count", id="under-not"),
    pytest.param('process where process.name : "x"', None, None, id="schema-field"),
    pytest.param('process where ?process.nmae : "x"', None, None, id="optional-field"),
    pytest.param("process where process.pgid == 1", None, None, id="typed-by-leaf-name"),
    pytest.param('process where process.parent.command_line : "x"', None, None, id="wildcard-by-suffix"),
    pytest.param('file where file.name : "x"', None, None, id="other-namespace"),
    pytest.param('library where dll.code_signature.status : "x"', None, None, id="elastic-dll-field"),
    pytest.param('iam where group.id : "x"', None, None, id="short-leaf"),
    pytest.param('any where user.full_name : "x"', None, None, id="other-first-letter-ecs-field"),
    pytest.param('host where host.os.codename : "x"', None, None, id="longer-ecs-leaf"),
    pytest.param('process where process.pe.pehash : "x"', None, None, id="ecs-hash-field"),
    pytest.param('process where process.hash.sha384 : "x"', None, None, id="below-cutoff"),
    pytest.param('process where rpocess.name : "x"', None, None, id="first-letter-typo-not-caught"),
    pytest.param('process where process.parentname : "x"', None, None, id="missing-dot-not-caught"),
]


@pytest.mark.parametrize(("query", "field", "suggestion"), MISSPELT_FIELD_CASES)
def test_misspelt_field_warning_table(query: str, field: str | None, suggestion: str | None) -> None:
    warnings = misspelt_field_warnings(_rule(query), parse_query(query))

    if field is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.startswith(f"rule 'Lint Test': field {field!r} on line 1 of the query is not in the shipped process event schema")
    assert f"Did you mean {suggestion!r}?" in warning
    assert warning.endswith(f"If the name is right, write ?{field}")


def test_misspelt_field_warned_once_per_name() -> None:
    query = 'process where process.nmae : "a" or process.nmae : "b" or process.parnet.name : "c"'

    warnings = misspelt_field_warnings(_rule(query), parse_query(query))

    assert len(warnings) == 2
    assert "'process.nmae'" in warnings[0]
    assert "'process.parnet.name'" in warnings[1]


def test_misspelt_field_names_its_line() -> None:
    query = 'process where\n  process.name : "a" and\n  process.nmae : "b"'

    (warning,) = misspelt_field_warnings(_rule(query), parse_query(query))

    assert "on line 3 of the query" in warning


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("@timestamp", True, id="ecs-name"),
        pytest.param("timestamp", False, id="avro-name"),
        pytest.param("process.parent.pe.original_file_name", True, id="nested-record"),
        pytest.param("process.code_signature.trusted", True, id="named-type-reference"),
        pytest.param("host.ip", True, id="array-field"),
        pytest.param("url.full", True, id="wildcard-field"),
        pytest.param("process.parent", False, id="record-is-not-a-leaf"),
    ],
)
def test_known_field_names_table(name: str, expected: bool) -> None:
    assert (name in known_field_names()) is expected


def _portable_form(warning: str) -> str:
    return warning.split("Portable form: ", 1)[1]


REGEX_REVIEW_CASES = [
    pytest.param('"\\\\d+"', ["'\\d'", "Perl class", "Elasticsearch version"], 'process.name regex "[0-9]+"', id="digit-class"),
    pytest.param('"\\\\D"', ["'\\D'"], 'process.name regex "[^0-9]"', id="non-digit-class"),
    pytest.param('"a\\\\sb"', ["'\\s'"], 'process.name regex "a[ \\t\\n\\r]b"', id="space-class"),
    pytest.param('"\\\\S+"', ["'\\S'"], 'process.name regex "[^ \\t\\n\\r]+"', id="non-space-class"),
    pytest.param('"\\\\w+\\\\W"', ["'\\w' and '\\W'", "Perl classes"], 'process.name regex "[a-zA-Z0-9_]+[^a-zA-Z0-9_]"', id="word-classes"),
    pytest.param('"[\\\\d_]x"', ["'\\d'"], 'process.name regex "[0-9_]x"', id="class-inside-class"),
    pytest.param('"[\\\\S]"', ["'\\S'"], None, id="negated-class-inside-class"),
    pytest.param('"^abc"', ["'^' is a literal character in Lucene, not an anchor", "whole value"], 'process.name regex "abc.*"', id="start-anchor"),
    pytest.param('"abc$"', ["'$' is a literal character"], 'process.name regex ".*abc"', id="end-anchor"),
    pytest.param('"^abc$"', ["'^' and '$' are literal characters"], 'process.name regex "abc"', id="both-anchors"),
    pytest.param('"a^b"', ["'^' is a literal character"], None, id="anchor-inside"),
    pytest.param('"^\\\\d$"', ["'^' and '$' are literal characters", "'\\d'"], 'process.name regex "[0-9]"', id="anchors-and-class"),
    pytest.param('"(?i)abc"', ["'(?i)'", "use regex~"], 'process.name regex~ "abc"', id="inline-flag"),
    pytest.param('"(?:ab)+"', ["'(?:'"], 'process.name regex "(ab)+"', id="non-capturing-group"),
    pytest.param('"(?=a)b"', ["'(?='"], None, id="look-ahead"),
    pytest.param('"user@host"', ["unescaped '@' as an operator", "matches any string"], 'process.name regex "user\\\\@host"', id="at-sign"),
    pytest.param('"a#b"', ["'#' matches no string"], 'process.name regex "a\\\\#b"', id="hash"),
    pytest.param('"v<1-3>"', ["'<' and '>' as operators", "numeric interval"], 'process.name regex "v\\\\<1-3\\\\>"', id="interval"),
    pytest.param('"a>b"', ["'>' as an operator"], 'process.name regex "a\\\\>b"', id="closing-angle"),
    pytest.param('"[0-9]+\\\\.exe"', None, None, id="lucene-pattern"),
    pytest.param('"a\\\\^b\\\\$"', None, None, id="escaped-anchors"),
    pytest.param('"a\\\\@b\\\\#\\\\<\\\\>"', None, None, id="escaped-operators"),
    pytest.param('"[^a]b"', None, None, id="negated-class"),
    pytest.param('"[a^$@#<>]"', None, None, id="literals-in-class"),
    pytest.param('"[]^]"', None, None, id="bracket-first-in-class"),
    pytest.param('"\\"^a$@\\""', None, None, id="quoted-sequence"),
    pytest.param('"""\\d"""', ["'\\d'"], 'process.name regex "[0-9]"', id="raw-string"),
]


@pytest.mark.parametrize(("pattern", "reasons", "portable"), REGEX_REVIEW_CASES)
def test_regex_review_warning_table(pattern: str, reasons: list[str] | None, portable: str | None) -> None:
    query = f"process where process.name regex {pattern}"

    warnings = regex_review_warnings(_rule(query), parse_query(query))

    if reasons is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.startswith("rule 'Lint Test': process.name regex ")
    assert "on line 1 of the query needs review" in warning
    for reason in reasons:
        assert reason in warning
    if portable is None:
        assert warning.endswith("Rewrite those constructs in Lucene syntax")
    else:
        assert _portable_form(warning) == portable


def test_regex_review_each_pattern_of_list() -> None:
    query = 'process where process.name regex~ ("a", "^b", "\\\\dc")'

    warnings = regex_review_warnings(_rule(query), parse_query(query))

    assert len(warnings) == 2
    assert 'regex~ "^b"' in warnings[0]
    assert 'regex~ "\\\\dc"' in warnings[1]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('process where process.name : "^a*"', id="wildcard-match"),
        pytest.param('process where process.name like "^a*"', id="like"),
        pytest.param('process where process.name == "^a$"', id="equality"),
    ],
)
def test_regex_review_ignores_other_operators(query: str) -> None:
    assert regex_review_warnings(_rule(query), parse_query(query)) == []


def test_regex_review_names_function_operand() -> None:
    query = 'process where substring(process.name, 0) regex "^a"'

    (warning,) = regex_review_warnings(_rule(query), parse_query(query))

    assert "substring(...) regex \"^a\"" in warning


# The portable form must match what the Perl author meant, given that a Lucene pattern matches the whole value.
PORTABLE_FORM_CASES = [
    pytest.param('"\\\\d+"', "2024", True, id="digits"),
    pytest.param('"\\\\d+"', "20a4", False, id="digits-reject-letter"),
    pytest.param('"a\\\\sb"', "a\tb", True, id="space-class-tab"),
    pytest.param('"a\\\\sb"', "a\u00a0b", False, id="space-class-ascii-only"),
    pytest.param('"^cmd\\\\.exe$"', "cmd.exe", True, id="anchors-removed"),
    pytest.param('"(?i)cmd"', "CMD", True, id="flag-becomes-regex-tilde"),
    pytest.param('"user@example"', "user@example", True, id="escaped-at-literal"),
    pytest.param('"user@example"', "user-x-example", False, id="escaped-at-not-any-string"),
    pytest.param('"v<1-3>"', "v<1-3>", True, id="escaped-interval-literal"),
    pytest.param('"v<1-3>"', "v2", False, id="escaped-interval-not-number"),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), PORTABLE_FORM_CASES)
def test_regex_review_portable_form_matches(pattern: str, value: str, expected: bool) -> None:
    query = f"process where process.name regex {pattern}"
    (warning,) = regex_review_warnings(_rule(query), parse_query(query))

    compiled = compile_query(f"process where {_portable_form(warning)}")

    assert compiled.matches({"event": {"category": ["process"]}, "process": {"name": value}}) is expected


EMPTY_ARGUMENT_CASES = [
    pytest.param('stringContains(process.name, "")', "every non-empty value of process.name", id="stringcontains"),
    pytest.param('stringContains~(process.name, "")', "every non-empty value of process.name", id="stringcontains-case-insensitive"),
    pytest.param('endsWith(process.args, "")', "every value of process.args", id="endswith"),
    pytest.param('endsWith~(process.name, "")', "every value of process.name", id="endswith-case-insensitive"),
]


@pytest.mark.parametrize(("call", "here"), EMPTY_ARGUMENT_CASES)
def test_empty_argument_warning_table(call: str, here: str) -> None:
    query = f"process where {call}"

    (warning,) = wildcard_argument_warnings(_rule(query), parse_query(query))

    assert warning.startswith(f"rule 'Lint Test': {call} on line 1 of the query has an empty text")
    assert f"true here for {here}" in warning
    assert "result in Elasticsearch is uncertain" in warning
    assert "regex" not in warning
    assert "wildcard pattern" not in warning


@pytest.mark.parametrize(
    ("query", "value", "expected"),
    [
        pytest.param('process where stringContains(process.name, "")', "cmd.exe", True, id="value"),
        pytest.param('process where stringContains(process.name, "")', None, False, id="absent"),
    ],
)
def test_empty_argument_suggested_test_compiles(query: str, value: str | None, expected: bool) -> None:
    (warning,) = wildcard_argument_warnings(_rule(query), parse_query(query))
    suggested = warning.split("or write ", 1)[1].removesuffix(" to require a value")

    compiled = compile_query(f"process where {suggested}")

    event: dict[str, object] = {"event": {"category": ["process"]}, "process": {"name": value}}
    assert compiled.matches(event) is expected


def test_rule_warnings_order() -> None:
    rule = _rule('proces where process.nmae regex "^a" and stringContains(process.name, "")')

    warnings = rule_warnings(rule, parse_query(rule.query))

    assert len(warnings) == 4
    assert "event category 'proces'" in warnings[0]
    assert "field 'process.nmae'" in warnings[1]
    assert "has an empty text" in warnings[2]
    assert "needs review" in warnings[3]
