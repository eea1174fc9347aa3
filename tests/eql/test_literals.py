"""Soundness of ``CompiledQuery.necessary_literals``.

The raw-bytes prefilter skips an event when none of the query's necessary
literals occurs in it, so the set must never exclude a matching event. In
every event the query matches, some value of some field the query reads
must contain at least one of the literals after ASCII lower-casing. These
tests check that on every labelled matching event in the test data and on
Hypothesis-generated ones, and pin the literal sets of a few simple queries.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from reference import ascii_fold, raw_values, text_form
from test_property import PROPERTY_SETTINGS, discovery_events, ecs_events, query_texts, shipped_rule_query

from stream.eql import CompiledQuery, MatchOptions, compile_query
from stream.errors import QueryCompileError

TEST_DATA = Path(__file__).resolve().parents[1] / "data"
VECTORS = TEST_DATA / "eql-vectors.jsonl"
LABELLED_EVENTS = TEST_DATA / "network-discovery-labelled.jsonl"

# The shared data folder sits next to the repository checkout.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
RULE_CASES = SHARED_DATA / "events" / "prebuilt-rule-cases.jsonl"
RULE_FILES = SHARED_DATA / "elastic-rules"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON object on each non-blank line of ``path``."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def folded_field_texts(compiled: CompiledQuery, event: dict[str, Any]) -> list[str]:
    """Return the ASCII-lower-cased text of every scalar value of every field ``compiled`` reads."""
    texts = []
    for name in sorted(compiled.fields):
        for value in raw_values(event, name):
            texts.append(ascii_fold(text_form(value)))
    return texts


def assert_literals_sound(compiled: CompiledQuery, event: dict[str, Any]) -> None:
    """Assert that a matching ``event`` contains, in a field the query reads, one literal of each of its sets.

    The sets are the necessary literals and every alternative set.
    """
    texts = folded_field_texts(compiled, event)
    literal_sets = [compiled.necessary_literals, *compiled.literal_alternatives]
    for literals in literal_sets:
        if literals is None:
            continue
        found = [literal for literal in literals if any(literal in text for text in texts)]
        assert found, (
            f"no literal of the set {sorted(literals)} of {compiled.text!r} occurs in the matching event: "
            f"field values {texts}"
        )


# Labelled matching events ----------------------------------------------------


def matching_vectors() -> list[Any]:
    return [
        pytest.param(vector["query"], vector["event"], id=vector["id"])
        for vector in read_jsonl(VECTORS)
        if vector["match"]
    ]


@pytest.mark.parametrize(("query_text", "event"), matching_vectors())
def test_vector_match_contains_literal(query_text: str, event: dict[str, Any]) -> None:
    assert_literals_sound(compile_query(query_text), event)


def alerting_labelled_events() -> list[Any]:
    cases = []
    for number, document in enumerate(read_jsonl(LABELLED_EVENTS), start=1):
        if document["_expect"]:
            event = {key: value for key, value in document.items() if key not in ("_expect", "_why")}
            cases.append(pytest.param(event, id=f"line-{number}"))
    return cases


@pytest.mark.parametrize("event", alerting_labelled_events())
def test_labelled_alert_contains_literal(event: dict[str, Any]) -> None:
    compiled = compile_query(shipped_rule_query())

    assert compiled.necessary_literals is not None
    assert_literals_sound(compiled, event)


def matching_rule_cases() -> list[Any]:
    if not RULE_CASES.is_file():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"shared rule cases not found at {RULE_CASES}"))]
    return [
        pytest.param(case["rule_path"], case["event"], id=case["id"])
        for case in read_jsonl(RULE_CASES)
        if case["match"]
    ]


@pytest.mark.parametrize(("rule_path", "event"), matching_rule_cases())
def test_prebuilt_rule_match_contains_literal(rule_path: str, event: dict[str, Any]) -> None:
    rule_file = RULE_FILES / rule_path
    if not rule_file.is_file():
        pytest.skip(f"rule file {rule_file} not found")
    with rule_file.open("rb") as handle:
        query_text = tomllib.load(handle)["rule"]["query"]

    assert_literals_sound(compile_query(query_text, rule=rule_path), event)


# Generated matching events ---------------------------------------------------


@PROPERTY_SETTINGS
@given(event=discovery_events())
def test_shipped_rule_generated_match_contains_literal(event: dict[str, Any]) -> None:
    compiled = compile_query(shipped_rule_query())
    if compiled.matches(event):
        assert_literals_sound(compiled, event)


@PROPERTY_SETTINGS
@given(query_text=query_texts, event=ecs_events())
def test_generated_query_match_contains_literal(query_text: str, event: dict[str, Any]) -> None:
    try:
        compiled = compile_query(query_text)
    except QueryCompileError:
        return
    if compiled.matches(event):
        assert_literals_sound(compiled, event)


# Literal sets of simple queries ----------------------------------------------

EXPECTED_LITERALS = [
    pytest.param('process where process.name : "net.exe"', {"net.exe"}, id="colon-plain"),
    pytest.param('process where process.name : "NET.exe"', {"net.exe"}, id="colon-folded"),
    pytest.param('process where process.name == "CMD.EXE"', {"cmd.exe"}, id="equals-folded"),
    pytest.param('process where process.name : ("abc*d", "EF")', {"abc", "ef"}, id="pattern-longest-run"),
    pytest.param('process where process.name like~ "*WHOAMI*"', {"whoami"}, id="like-insensitive"),
    pytest.param('process where process.name in~ ("A", null)', {"a"}, id="in-skips-null"),
    pytest.param('process where startsWith(process.name, "Cmd")', {"cmd"}, id="starts-with"),
    pytest.param(
        'process where process.name : "a.exe" or process.args : "B"', {"a.exe", "b"}, id="or-unites"
    ),
    pytest.param('process where false', set(), id="false-is-empty"),
    pytest.param('process where false and process.name : "x"', set(), id="false-and-anything"),
    pytest.param('process where false or process.name : "x"', {"x"}, id="false-or-leaf"),
    pytest.param('any where true', None, id="any-true"),
    pytest.param('any where process.pid == 4', None, id="any-number-only"),
    pytest.param('any where not process.name : "a"', None, id="any-negation"),
    pytest.param('any where process.name : "a.exe" or process.pid == 3', None, id="any-or-unconstrained"),
    pytest.param('any where process.name : "*"', None, id="any-only-wildcards"),
    pytest.param(
        'process where event.type == "start" and process.parent.name : "node"', {"node"}, id="common-field-loses"
    ),
    pytest.param(
        'process where host.os.type == "windows" and process.name : "sh"', {"sh"}, id="common-field-loses-to-short"
    ),
    pytest.param(
        'process where (event.action : "exec" or process.name : "abcdef") and process.args : "x"',
        {"x"},
        id="union-with-common-is-common",
    ),
    pytest.param('process where event.type == "start"', {"start"}, id="common-field-alone"),
    pytest.param(
        'process where event.type == "start" and host.os.type : "windows"', {"windows"}, id="longest-common-set"
    ),
]


@pytest.mark.parametrize(("query_text", "expected"), EXPECTED_LITERALS)
def test_necessary_literals_of_simple_query(query_text: str, expected: set[str] | None) -> None:
    literals = compile_query(query_text).necessary_literals

    if expected is None:
        assert literals is None
    else:
        assert literals == frozenset(expected)


# Without a constraint from the condition, the category is the only
# necessary text; returning None would also be sound, so both are accepted.
CATEGORY_FALLBACK = [
    pytest.param('process where not process.name : "a"', id="negation"),
    pytest.param('process where process.pid == 4', id="number-only"),
    pytest.param('process where true', id="true"),
    pytest.param('process where process.name != "x"', id="not-equal"),
    pytest.param('process where process.name : "a.exe" or process.pid == 3', id="or-unconstrained"),
]


@pytest.mark.parametrize("query_text", CATEGORY_FALLBACK)
def test_unconstrained_condition_falls_back_to_category(query_text: str) -> None:
    literals = compile_query(query_text).necessary_literals

    assert literals in (None, frozenset({"process"}))


def test_pattern_with_equal_runs_keeps_one_run() -> None:
    literals = compile_query('process where process.name : ("a*b", "cde")').necessary_literals

    assert literals is not None
    assert "cde" in literals
    assert len(literals) == 2
    assert literals - {"cde"} <= {"a", "b"}


ALTERNATIVES = [
    pytest.param(
        'process where host.os.type == "linux" and process.name : "nc"', [{"linux"}, {"nc"}], id="one-set-per-term"
    ),
    pytest.param('process where process.name : "nc"', [], id="not-an-and"),
    pytest.param('process where process.name : ("a", "b") or process.args : "c"', [], id="or-at-the-top"),
    pytest.param(
        'process where process.name : "nc.exe" and not process.args : "-l" and process.pid > 4',
        [{"nc.exe"}],
        id="terms-without-a-set-left-out",
    ),
    pytest.param(
        'process where process.name : "NC" and process.executable : "*nc*"', [{"nc"}], id="equal-sets-once"
    ),
    pytest.param(
        'process where (process.name : "a" or process.name : "b") and user.id : "S-1-5-18"',
        [{"a", "b"}, {"s-1-5-18"}],
        id="or-term-gives-its-union",
    ),
]


@pytest.mark.parametrize(("query_text", "expected"), ALTERNATIVES)
def test_literal_alternatives_of_simple_query(query_text: str, expected: list[set[str]]) -> None:
    alternatives = compile_query(query_text).literal_alternatives

    assert alternatives == tuple(frozenset(literals) for literals in expected)


def test_and_keeps_one_terms_literals() -> None:
    literals = compile_query('process where process.name == "CMD.exe" and process.args : "x"').necessary_literals

    assert literals in (frozenset({"cmd.exe"}), frozenset({"x"}))


def test_unicode_folding_literals_sound() -> None:
    # Under Unicode folding the Kelvin sign matches "k", which ASCII lower-casing does not produce.
    options = MatchOptions(case_folding="unicode")
    compiled = compile_query('process where process.name : "k.exe"', options)
    event = {"event": {"category": ["process"]}, "process": {"name": "\u212a.exe"}}

    assert compiled.matches(event)
    assert_literals_sound(compiled, event)
