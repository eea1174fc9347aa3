"""Property-based comparison of the compiled matcher with the reference evaluator.

Hypothesis builds ECS-like process events (nested objects, dotted keys,
arrays, nulls, case and Unicode look-alikes, values around the 1024 UTF-16
unit keyword limit) and queries from a grammar subset. For each pair, the
compiled matcher and ``reference.reference_matches`` must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings, target
from hypothesis import event as record_event
from hypothesis import strategies as st
from reference import NotCovered, RejectedQuery, reference_matches

from stream.eql import FieldSchema, MatchOptions, compile_query, parse_query
from stream.errors import QueryCompileError

VECTORS = Path(__file__).resolve().parents[1] / "data" / "eql-vectors.jsonl"

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def shipped_rule_query() -> str:
    """Return the query of conformance vector seed-001, the shipped network discovery rule."""
    with VECTORS.open(encoding="utf-8") as lines:
        for line in lines:
            vector = json.loads(line)
            if vector["id"] == "seed-001":
                return vector["query"]
    raise LookupError(f"vector seed-001 not found in {VECTORS}")


# Value alphabets -------------------------------------------------------------

KELVIN = "\u212a"
DOTTED_CAPITAL_I = "\u0130"
LONG_S = "\u017f"
EMOJI = "\U0001f600"

PROCESS_NAMES = [
    "net.exe", "NET.EXE", "Net.Exe", "net1.exe", "NET1.exe", "netstat.exe", "NETSTAT.EXE",
    "nbtstat.exe", "NBTSTAT.EXE", "cmd.exe", "CMD.exe", "k.exe", "K.EXE", f"{KELVIN}.exe",
    f"{DOTTED_CAPITAL_I}.exe", "i.exe", f"nbt{LONG_S}tat.exe", "n\u00e9t.exe", "N\u00c9T.EXE",
    "n\u00c9t.exe", f"{EMOJI}.exe", "net*", "", "net.exe ",
]

# Strings around the keyword limit: n code units is below, at or above 1024.
LONG_VALUES = [
    "a" * 1023,
    "a" * 1024,
    "a" * 1025,
    "\\\\" + "x" * 1022,
    "\\\\" + "x" * 1023,
    "/persistent:" + "y" * 1012,
    "/persistent:" + "y" * 1013,
    EMOJI * 512,
    "x" + EMOJI * 512,
    "-s" + EMOJI * 511,
    "-s" + EMOJI * 511 + "z",
    "USE" + "e" * 1021,
    "-S" + "x" * 1028,
]

ARGUMENTS = [
    "net", "NET", "use", "USE", "Use", "user", "users", "/use", "session", "sessions", "SESSION",
    "config", "/persistent:yes", "/PERSISTENT:YES", "/persistent:", "/persistent", "/delete", "/DELETE",
    "/deleted", "\\\\srv\\share", "\\\\", "\\srv", "C:\\\\share", "-s", "-S", "-sx", "s", "",
    f"u{LONG_S}e", f"U{LONG_S}E", f"{KELVIN}", "k", "*", "?", "a*", "a\\*", "18", "S-1-5-18",
]

USER_IDS = ["S-1-5-18", "s-1-5-18", "S-1-5-18-1", "S-1-5-21-1013", "", "S-1-5-1"]

# A small alphabet for free text, so generated patterns and values overlap often.
SMALL_ALPHABET = f"nNeEtT.xsSkK{KELVIN}{LONG_S}{DOTTED_CAPITAL_I}i\u00e9\u00c9{EMOJI}*?\\/- \"\n"

small_text = st.text(alphabet=SMALL_ALPHABET, max_size=6)


# Events ----------------------------------------------------------------------

ABSENT = object()


def with_absent(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Return ``values`` mostly and, sometimes, the ABSENT marker (the key is left out) or JSON null."""
    return st.one_of(values, values, values, st.just(ABSENT), st.just(None))


process_names = st.one_of(st.sampled_from(PROCESS_NAMES), st.sampled_from(PROCESS_NAMES), small_text)

# JSON numbers and booleans in keyword fields are indexed as their text ("18", "true").
json_scalars = st.sampled_from([18, 0, -1, 3, True, False, 1.5])

argument_tokens = st.one_of(
    st.sampled_from(ARGUMENTS),
    st.sampled_from(ARGUMENTS),
    st.sampled_from(LONG_VALUES),
    small_text,
    json_scalars,
    st.none(),
)

argument_lists = st.one_of(
    st.lists(argument_tokens, max_size=5),
    st.lists(st.one_of(argument_tokens, st.lists(argument_tokens, max_size=3)), max_size=4),
    argument_tokens,
)

# Mostly what Elastic Defend writes, so that rules match often enough to be tested.
categories = st.one_of(
    st.just(["process"]),
    st.just("process"),
    st.sampled_from(["Process", "network", ["process", "network"], ["Process"], [], ["process", None]]),
)

event_types = st.one_of(
    st.just(["start"]),
    st.just("start"),
    st.sampled_from(["Start", ["start", "process_started"], ["end"], ["Start"], [None, "start"]]),
)

numbers = st.one_of(
    st.integers(min_value=-5, max_value=5000),
    st.integers(min_value=-5, max_value=5000).map(str),
    st.sampled_from([0, 1, 2, 3, 4, 4242, "4", "-1", [2, 3], [4, "5"]]),
)

def present_items(**items: Any) -> dict[str, Any]:
    """Return the keyword arguments that are not the ABSENT marker, as an object."""
    return {key: value for key, value in items.items() if value is not ABSENT}


parent_objects = st.one_of(
    st.builds(present_items, name=with_absent(process_names), pid=with_absent(numbers)),
    st.lists(st.builds(present_items, name=process_names, pid=with_absent(numbers)), min_size=1, max_size=3),
    st.builds(lambda names: {"name": names}, st.lists(process_names, max_size=3)),
)

command_lines = st.one_of(st.sampled_from(LONG_VALUES), small_text, st.sampled_from(["net use", "NET USE \\\\srv"]))

EVENT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event.category": categories,
    "event.type": event_types,
    "process.name": process_names,
    "process.args": argument_lists,
    "process.pe.original_file_name": process_names,
    "process.parent": parent_objects,
    "process.command_line": command_lines,
    "user.id": st.one_of(st.sampled_from(USER_IDS), small_text, json_scalars),
    "process.pid": numbers,
    "process.args_count": numbers,
    "process.exit_code": numbers,
}


def put(event: dict[str, Any], path: list[str], value: Any, nested_segments: int) -> None:
    """Store ``value`` under ``path`` with the first ``nested_segments`` segments as objects and the rest as one dotted key.

    Where a segment already contains an array of objects, the value goes into a new object appended to it.
    """
    container = event
    for segment in path[:nested_segments]:
        child = container.setdefault(segment, {})
        if isinstance(child, list):
            child.append({})
            child = child[-1]
        assert isinstance(child, dict)
        container = child
    container[".".join(path[nested_segments:])] = value


@st.composite
def ecs_events(draw: st.DrawFn) -> dict[str, Any]:
    """Draw an ECS-like process event; each field may be absent, null, nested or written with dotted keys."""
    event: dict[str, Any] = {}
    for name, values in EVENT_FIELDS.items():
        value = draw(with_absent(values))
        if value is ABSENT:
            continue
        path = name.split(".")
        # Mostly fully nested, as Elastic Defend writes events; sometimes flattened.
        nested = draw(st.sampled_from([len(path) - 1] * 3 + list(range(len(path)))))
        put(event, path, value, nested)

    # Arrays of objects lose their grouping, so a process object may also arrive split over an array.
    process = event.get("process")
    if isinstance(process, dict) and len(process) > 1 and draw(st.integers(0, 5)) == 0:
        keys = sorted(process)
        cut = draw(st.integers(1, len(keys) - 1))
        event["process"] = [{key: process[key] for key in keys[:cut]}, {key: process[key] for key in keys[cut:]}]
    return event


RULE_PROCESS_NAMES = [
    "net.exe", "NET.EXE", "net1.exe", "NET1.EXE", "netstat.exe", "NetStat.exe", "nbtstat.exe", "NBTSTAT.EXE",
    f"nbt{LONG_S}tat.exe", f"n\u00e9t.exe",
]


@st.composite
def discovery_events(draw: st.DrawFn) -> dict[str, Any]:
    """Draw an event that is often a process start of a tool the network discovery rule looks for."""
    event = draw(ecs_events())
    if draw(st.integers(0, 3)) > 0:
        put(event, ["event", "category"], ["process"], 1)
        put(event, ["event", "type"], ["start"], 1)
    if draw(st.integers(0, 3)) > 0:
        put(event, ["process", "name"], draw(st.sampled_from(RULE_PROCESS_NAMES)), 1)
    if draw(st.booleans()):
        put(event, ["process", "pe", "original_file_name"], draw(st.sampled_from(RULE_PROCESS_NAMES)), 2)
    return event


# Queries ---------------------------------------------------------------------

TEXT_FIELDS = [
    "event.category", "event.type", "process.name", "process.args", "process.pe.original_file_name",
    "process.parent.name", "process.command_line", "user.id",
]
NUMBER_FIELDS = ["process.pid", "process.args_count", "process.exit_code", "process.parent.pid"]

PATTERN_TEXTS = [
    "net.exe", "NET.EXE", "net*", "*.exe", "*.EXE", "n?t.exe", "net?.exe", "\\\\*", "\\*", "a\\*", "*\\*",
    "/persistent:*", "/delete", "-s*", "-S*", "*", "**", "?", "", "use", "USE", "user", "session", "config",
    "S-1-5-18", "s-1-5-18*", "k.exe", "K.EXE", f"{KELVIN}*", "i.exe", "I*", f"{DOTTED_CAPITAL_I}*",
    "nbtstat.exe", "nbts*", "n\u00e9t.exe", "N\u00c9T.EXE", f"{EMOJI}*", f"?.exe", "start", "process", "a*",
]

pattern_texts = st.one_of(st.sampled_from(PATTERN_TEXTS), small_text)


ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n"}


def escaped_string(text: str) -> str:
    """Write ``text`` as a double-quoted EQL string with backslash escapes."""
    return '"' + "".join(ESCAPES.get(char, char) for char in text) + '"'


def unicode_escaped_string(text: str) -> str:
    """Write ``text`` as an EQL string with every non-ASCII character as a ``\\u{...}`` escape."""
    parts = []
    for char in text:
        if char.isascii():
            parts.append(ESCAPES.get(char, char))
        else:
            parts.append(f"\\u{{{ord(char):X}}}")
    return '"' + "".join(parts) + '"'


@st.composite
def string_literals(draw: st.DrawFn, texts: st.SearchStrategy[str] = pattern_texts) -> str:
    """Draw a string literal, written escaped, raw or with Unicode escapes."""
    text = draw(texts)
    form = draw(st.sampled_from(["escaped", "escaped", "raw", "unicode"]))
    if form == "raw" and '"' not in text and "\n" not in text:
        return '"""' + text + '"""'
    if form == "unicode":
        return unicode_escaped_string(text)
    return escaped_string(text)


@st.composite
def field_references(draw: st.DrawFn, names: list[str]) -> str:
    """Draw a field reference, sometimes written as an optional ``?field``."""
    name = draw(st.sampled_from(names))
    return ("?" if draw(st.integers(0, 5)) == 0 else "") + name


def literal_list(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Return a strategy for a single literal or a parenthesised list of them."""
    return st.one_of(items, st.lists(items, min_size=1, max_size=4).map(lambda parts: "(" + ", ".join(parts) + ")"))


COMPARISONS = ["==", "!=", "<", "<=", ">", ">="]
MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@st.composite
def text_comparisons(draw: st.DrawFn) -> str:
    field = draw(field_references(TEXT_FIELDS))
    op = draw(st.sampled_from(COMPARISONS))
    literal = draw(st.one_of(string_literals(), st.integers(-1, 20).map(str), st.sampled_from(["true", "false", "1.5"])))
    if draw(st.booleans()):
        return f"{literal} {MIRRORED[op]} {field}"
    return f"{field} {op} {literal}"


@st.composite
def text_predicates(draw: st.DrawFn) -> str:
    field = draw(field_references(TEXT_FIELDS))
    op = draw(st.sampled_from([":", ":", "like", "like~"]))
    return f"{field} {op} {draw(literal_list(string_literals()))}"


@st.composite
def memberships(draw: st.DrawFn) -> str:
    field = draw(field_references(TEXT_FIELDS))
    op = draw(st.sampled_from(["in", "in~", "not in", "not in~"]))
    items = st.one_of(string_literals(), string_literals(), st.just("null"), st.integers(0, 20).map(str))
    values = draw(st.lists(items, min_size=1, max_size=4))
    return f"{field} {op} ({', '.join(values)})"


@st.composite
def null_tests(draw: st.DrawFn) -> str:
    field = draw(field_references(TEXT_FIELDS + NUMBER_FIELDS))
    return f"{field} {draw(st.sampled_from(['==', '!=']))} null"


@st.composite
def string_functions(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["startsWith", "endsWith", "stringContains", "STARTSWITH", "stringcontains"]))
    tilde = "~" if draw(st.booleans()) else ""
    field = draw(field_references(TEXT_FIELDS))
    return f"{name}{tilde}({field}, {draw(string_literals())})"


@st.composite
def length_comparisons(draw: st.DrawFn) -> str:
    field = draw(field_references(TEXT_FIELDS))
    op = draw(st.sampled_from(COMPARISONS))
    return f"length({field}) {op} {draw(st.sampled_from([0, 1, 3, 6, 7, 1024, 1025]))}"


number_literals = st.one_of(
    st.integers(-5, 5000).map(str),
    st.sampled_from(["4", "4.0", "4.5", "2.5", "-1", "4242", '"4"', '"3"', "1e3"]),
)


@st.composite
def number_comparisons(draw: st.DrawFn) -> str:
    field = draw(field_references(NUMBER_FIELDS))
    if draw(st.integers(0, 3)) == 0:
        op = draw(st.sampled_from(["in", "not in"]))
        values = draw(st.lists(st.one_of(number_literals, st.just("null")), min_size=1, max_size=3))
        return f"{field} {op} ({', '.join(values)})"
    op = draw(st.sampled_from(COMPARISONS))
    literal = draw(number_literals)
    if draw(st.booleans()):
        return f"{literal} {MIRRORED[op]} {field}"
    return f"{field} {op} {literal}"


leaves = st.one_of(
    text_comparisons(),
    text_predicates(),
    text_predicates(),
    memberships(),
    null_tests(),
    string_functions(),
    length_comparisons(),
    number_comparisons(),
    st.sampled_from(["true", "false"]),
)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Return conditions built from ``children`` with and, or, not and parentheses."""
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda terms: " and ".join(terms)),
        st.lists(children, min_size=2, max_size=3).map(lambda terms: " or ".join(terms)),
        children.map(lambda term: f"not ({term})"),
        children.map(lambda term: f"({term})"),
    )


conditions = st.recursive(leaves, combine, max_leaves=6)

query_texts = st.builds(
    lambda category, condition: f"{category} where {condition}",
    st.sampled_from(["process", "process", "any", "Process", '"process"', "network"]),
    conditions,
)


# Tests -----------------------------------------------------------------------


def compare_on(query_text: str, event: dict[str, Any]) -> None:
    """Assert that the compiled matcher and the reference agree on ``event``."""
    compiled = compile_query(query_text)
    expected = reference_matches(parse_query(query_text), event)
    note(f"query: {query_text}")
    note(f"event: {event!r}")
    record_event(f"reference result: {expected}")
    assert compiled.matches(event) == expected


@PROPERTY_SETTINGS
@given(event=discovery_events())
def test_shipped_rule_agrees_with_reference(event: dict[str, Any]) -> None:
    compare_on(shipped_rule_query(), event)


def compare_generated(query_text: str, event: dict[str, Any], ignore_above: int = 1024) -> None:
    """Assert that the compiler and the reference agree on ``event``, or both reject ``query_text``."""
    options = MatchOptions(schema=FieldSchema(default_ignore_above=ignore_above))
    try:
        compiled = compile_query(query_text, options)
    except QueryCompileError as error:
        # The compiler may only reject what the spec rejects; the reference encodes those rules.
        with pytest.raises(RejectedQuery):
            reference_matches(parse_query(query_text), event, ignore_above=ignore_above)
        note(f"rejected as documented: {error.message}")
        assume(False)
        return

    try:
        expected = reference_matches(parse_query(query_text), event, ignore_above=ignore_above)
    except RejectedQuery as error:
        pytest.fail(f"compiler accepts {query_text!r}, which the spec rejects: {error}")
    except NotCovered as error:
        pytest.fail(f"the generator produced {query_text!r}, outside the reference's subset: {error}")

    note(f"query: {query_text}")
    note(f"event: {event!r}")
    record_event(f"reference result: {expected}")
    assert compiled.matches(event) == expected


@PROPERTY_SETTINGS
@given(query_text=query_texts, event=ecs_events())
def test_generated_query_agrees_with_reference(query_text: str, event: dict[str, Any]) -> None:
    compare_generated(query_text, event)


@PROPERTY_SETTINGS
@given(query_text=query_texts, event=ecs_events())
def test_generated_query_agrees_with_small_limit(query_text: str, event: dict[str, Any]) -> None:
    # An 8-unit keyword limit puts many short generated values on both sides of the limit
    # and keeps "process" and "start" visible.
    compare_generated(query_text, event, ignore_above=8)


# Disagreements with the spec -------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="spec 1.3: fields outside the schema are keyword fields without a length limit, "
    "but the compiler compares them by JSON type",
)
@pytest.mark.parametrize(
    ("query_text", "event"),
    [
        pytest.param("any where custom.tag == 18", {"custom": {"tag": "018"}}, id="equal-number-literal"),
        pytest.param("any where custom.tag < 5", {"custom": {"tag": 18}}, id="order-number-value"),
    ],
)
def test_unknown_field_compares_as_keyword(query_text: str, event: dict[str, Any]) -> None:
    expected = reference_matches(parse_query(query_text), event)

    assert compile_query(query_text).matches(event) == expected


def test_colon_on_numeric_field_rejected() -> None:
    with pytest.raises(QueryCompileError):
        compile_query('process where process.pid : "4"')
