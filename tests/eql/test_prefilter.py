"""Raw-bytes prefilter: it never skips a message the matcher would alert on."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.eql import compile_query
from stream.prefilter import Prefilter
from test_property import PROPERTY_SETTINGS, discovery_events, ecs_events, query_texts, shipped_rule_query
from testdata import DATA_DIR, load_jsonl


def _encodings(event: dict[str, Any]) -> list[bytes]:
    """Return the event as different producers would write it."""
    compact = orjson.dumps(event)
    ascii_only = json.dumps(event, ensure_ascii=True).encode()
    escaped_slashes = json.dumps(event, ensure_ascii=False).replace("/", "\\/").encode()
    return [compact, ascii_only, escaped_slashes]


def _prefilter_for(query: str) -> tuple[Any, Prefilter]:
    compiled = compile_query(query)
    return compiled, Prefilter([compiled.necessary_literals])


def _assert_kept_when_matching(query: str, event: dict[str, Any]) -> None:
    compiled, prefilter = _prefilter_for(query)
    if not compiled.matches(event):
        return
    for payload in _encodings(event):
        assert prefilter.may_match(payload), payload


@PROPERTY_SETTINGS
@given(event=st.one_of(ecs_events(), discovery_events()))
def test_prefilter_keeps_shipped_rule_matches(event: dict[str, Any]) -> None:
    _assert_kept_when_matching(shipped_rule_query(), event)


@PROPERTY_SETTINGS
@given(query_text=query_texts, event=ecs_events())
def test_prefilter_keeps_generated_query_matches(query_text: str, event: dict[str, Any]) -> None:
    try:
        compiled, prefilter = _prefilter_for(query_text)
    except Exception:
        return
    if compiled.matches(event):
        for payload in _encodings(event):
            assert prefilter.may_match(payload)


@pytest.mark.parametrize(
    "vector", [pytest.param(v, id=v["id"]) for v in load_jsonl(DATA_DIR / "eql-vectors.jsonl") if v["match"]]
)
def test_prefilter_keeps_matching_vector(vector: dict) -> None:
    _assert_kept_when_matching(vector["query"], vector["event"])


def test_prefilter_keeps_corpus_alerts_and_skips_others() -> None:
    compiled, prefilter = _prefilter_for(shipped_rule_query())
    skipped = 0
    for document in load_jsonl(DATA_DIR / "network-discovery-labelled.jsonl"):
        event = {key: value for key, value in document.items() if not key.startswith("_")}
        payload = orjson.dumps(event)
        if document["_expect"]:
            assert prefilter.may_match(payload), document["_why"]
        elif not prefilter.may_match(payload):
            skipped += 1

    assert prefilter.enabled is True
    assert skipped > 0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b'{"process": {"name": "cmd.exe"}}', False, id="no-literal"),
        pytest.param(b'{"process": {"name": "NET.EXE"}}', True, id="literal-other-case"),
        pytest.param(b'{"process": {"name": "n\\u0065t.exe"}}', True, id="unicode-escape"),
        pytest.param(b'{"process": {"name": "net\\/x"}}', True, id="escaped-slash"),
        pytest.param(b'{"process": {"executable": "C:\\\\users\\\\cmd.exe"}}', False, id="escaped-backslash-then-u"),
        pytest.param(b'{"process": {"name": "C:\\\\\\u006eet.exe"}}', True, id="escaped-backslash-then-escape"),
    ],
)
def test_prefilter_payload_table(payload: bytes, expected: bool) -> None:
    _, prefilter = _prefilter_for('process where process.name : ("net.exe", "net1.exe")')

    assert prefilter.may_match(payload) is expected


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("process where true", id="no-literals"),
        pytest.param('process where not process.name : "a"', id="only-negation-falls-back-to-category"),
        pytest.param('process where process.name == "1000"', id="numeric-text"),
    ],
)
def test_prefilter_disabled_or_permissive(query: str) -> None:
    _, prefilter = _prefilter_for(query)

    assert prefilter.may_match(b'{"event": {"category": ["process"]}, "process": {"name": 1e3}}') is True


def test_prefilter_backslash_literal_escaped_form() -> None:
    _, prefilter = _prefilter_for('process where process.executable : "C:\\\\Windows\\\\*"')

    assert prefilter.may_match(orjson.dumps({"process": {"executable": "c:\\windows\\x.exe"}})) is True
    assert prefilter.may_match(orjson.dumps({"process": {"executable": "d:\\tools\\x.exe"}})) is False


def test_prefilter_with_literal_free_rule_is_disabled() -> None:
    prefilter = Prefilter([frozenset({"net.exe"}), None])

    assert prefilter.enabled is False


@PROPERTY_SETTINGS
@given(query_list=st.lists(query_texts, min_size=2, max_size=4), event=ecs_events())
def test_prefilter_selects_every_matching_rule(query_list: list[str], event: dict[str, Any]) -> None:
    compiled = []
    for query in query_list:
        try:
            compiled.append(compile_query(query))
        except Exception:
            return
    prefilter = Prefilter([rule.necessary_literals for rule in compiled])

    matching = {index for index, rule in enumerate(compiled) if rule.matches(event)}
    for payload in _encodings(event):
        assert matching <= set(prefilter.select(payload))


def test_prefilter_overlapping_literals_select_both_rules() -> None:
    first = compile_query('process where process.name : "*abc*"')
    second = compile_query('process where process.name : "*bcd*"')
    prefilter = Prefilter([first.necessary_literals, second.necessary_literals])

    assert prefilter.select(b'{"process": {"name": "xABCDx"}}') == (0, 1)
    assert prefilter.select(b'{"process": {"name": "xabx"}}') == ()


def test_prefilter_rule_without_literals_always_selected() -> None:
    literal_rule = compile_query('process where process.name : "net.exe"')
    open_rule = compile_query("any where true")
    prefilter = Prefilter([literal_rule.necessary_literals, open_rule.necessary_literals])

    assert prefilter.select(b'{"process": {"name": "cmd.exe"}}') == (1,)
    assert prefilter.select(b'{"process": {"name": "net.exe"}}') == (0, 1)


def _compile_with_shipped_rule(query_list: list[str]) -> list[Any] | None:
    """Return the shipped rule and the generated queries compiled, or None if one does not compile."""
    compiled = []
    for query in [shipped_rule_query(), *query_list]:
        try:
            compiled.append(compile_query(query))
        except Exception:
            return None
    return compiled


@PROPERTY_SETTINGS
@given(
    query_list=st.lists(query_texts, min_size=1, max_size=3),
    events=st.lists(st.one_of(ecs_events(), discovery_events()), min_size=1, max_size=6),
)
def test_prefilter_batch_selects_every_matching_rule(query_list: list[str], events: list[dict[str, Any]]) -> None:
    compiled = _compile_with_shipped_rule(query_list)
    if compiled is None:
        return
    prefilter = Prefilter([rule.necessary_literals for rule in compiled])
    payloads = [payload for event in events for payload in _encodings(event)]
    documents = [event for event in events for _ in _encodings(event)]

    selections = prefilter.select_batch(payloads)

    for index, (payload, event) in enumerate(zip(payloads, documents)):
        matching = {position for position, rule in enumerate(compiled) if rule.matches(event)}
        assert matching <= set(selections.get(index, ()))
        assert set(prefilter.select(payload)) <= set(selections.get(index, ()))


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        pytest.param([b'{"n": "NET.exe"}'], {0: (0,)}, id="one-payload"),
        pytest.param([b"", b'{"n": "net.exe"}', b"", b'{"n": "cmd.exe"}'], {1: (0,), 3: (1,)}, id="empty-payloads-keep-positions"),
        pytest.param([b'{"n": "sh"}', b'{"n": "x"}'], {}, id="nothing-selected"),
        pytest.param([b'{"n": "net.exe"}', b'{"n": "x"}', b'{"n": "cmd.exe net.exe"}'], {0: (0,), 2: (0, 1)}, id="first-and-last"),
        pytest.param([b'{"n": "x\\', b'u0065"}'], {}, id="escape-split-across-payloads-hides-nothing"),
        pytest.param([b'{"n": "x"}', b'{"n": "\\u006eet.exe"}'], {1: (0, 1)}, id="escape-selects-all-rules"),
    ],
)
def test_prefilter_batch_table(payloads: list[bytes], expected: dict[int, tuple[int, ...]]) -> None:
    prefilter = Prefilter([frozenset({"net.exe"}), frozenset({"cmd.exe"})])

    assert prefilter.select_batch(payloads) == expected


@PROPERTY_SETTINGS
@given(
    query_list=st.lists(query_texts, min_size=1, max_size=3),
    events=st.lists(st.one_of(ecs_events(), discovery_events()), min_size=1, max_size=6),
)
def test_prefilter_sound_after_dropping_literals(
    query_list: list[str], events: list[dict[str, Any]]
) -> None:
    compiled = _compile_with_shipped_rule(query_list)
    if compiled is None:
        return
    payloads = [payload for event in events for payload in _encodings(event)]
    documents = [event for event in events for _ in _encodings(event)]
    # The first batch is the whole sample, so the rarest sets are chosen and the common literals
    # dropped before the second.
    prefilter = Prefilter.for_queries(compiled, sample_size=len(payloads))
    prefilter.select_batch(payloads)

    selections = prefilter.select_batch(payloads)

    for index, event in enumerate(documents):
        matching = {position for position, rule in enumerate(compiled) if rule.matches(event)}
        assert matching <= set(selections.get(index, ()))


_COMMON_AND_RARE = [frozenset({"net.exe"}), frozenset({"common"})]


@pytest.mark.parametrize(
    ("sample", "always", "enabled"),
    [
        pytest.param([b"common"] * 9 + [b"net.exe common"], (1,), False, id="literal-in-every-message-dropped"),
        pytest.param([b"common"] * 9 + [b"net.exe"], (1,), False, id="literal-in-90-percent-dropped"),
        pytest.param([b"common"] * 8 + [b"net.exe", b"x"], (), True, id="literal-in-80-percent-kept"),
        pytest.param([b"common common common"] * 2 + [b"x"] * 8, (), True, id="repeats-count-once-per-message"),
    ],
)
def test_prefilter_drops_ubiquitous_literals(sample: list[bytes], always: tuple[int, ...], enabled: bool) -> None:
    prefilter = Prefilter(_COMMON_AND_RARE, sample_size=len(sample))

    prefilter.select_batch(sample)

    assert prefilter.always == always
    assert prefilter.enabled is enabled
    assert prefilter.select_batch([b"x", b"net.exe", b"common"]) == (
        {0: (1,), 1: (0, 1), 2: (1,)} if always else {1: (0,), 2: (1,)}
    )


@pytest.mark.parametrize(
    ("sample", "always"),
    [
        pytest.param([b"common"] * 4 + [b"x"] * 6, (0, 2), id="literal-in-40-percent-dropped"),
        pytest.param([b"common"] * 2 + [b"x"] * 8, (0,), id="literal-in-20-percent-kept"),
    ],
)
def test_prefilter_drops_common_literals_when_all_decoded(sample: list[bytes], always: tuple[int, ...]) -> None:
    # The rule without literals makes every message decoded, so a literal in 30 % of them is dropped too.
    prefilter = Prefilter([None, frozenset({"net.exe"}), frozenset({"common"})], sample_size=len(sample))

    prefilter.select_batch(sample)

    assert prefilter.always == always
    selected = prefilter.select_batch([b"x", b"net.exe"])
    assert selected[0] == always
    assert selected[1] == tuple(sorted({*always, 1}))


def test_prefilter_counts_across_batches() -> None:
    prefilter = Prefilter(_COMMON_AND_RARE, sample_size=6)

    prefilter.select_batch([b"common"] * 3)
    assert prefilter.always == ()
    prefilter.select_batch([b"common"] * 3)

    assert prefilter.always == (1,)


def test_prefilter_stops_counting_after_sample() -> None:
    prefilter = Prefilter(_COMMON_AND_RARE, sample_size=2)
    prefilter.select_batch([b"x", b"y"])

    prefilter.select_batch([b"common"] * 10)

    assert prefilter.always == ()


@pytest.mark.parametrize(
    ("own", "alternative", "always_in_sample"),
    [
        pytest.param(frozenset({"common"}), frozenset({"rare"}), (), id="common-set-replaced"),
        pytest.param(frozenset({"0"}), frozenset({"rare"}), (0,), id="unsearchable-set-replaced"),
    ],
)
def test_prefilter_chooses_rarest_set_after_sample(
    own: frozenset[str], alternative: frozenset[str], always_in_sample: tuple[int, ...]
) -> None:
    prefilter = Prefilter([own], alternatives=[[own, alternative]], sample_size=10)
    assert prefilter.always == always_in_sample

    prefilter.select_batch([b"common 0"] * 10)

    assert prefilter.always == ()
    assert prefilter.select_batch([b"common 0", b"x RARE"]) == {1: (0,)}


def test_prefilter_alternatives_counted_not_selecting() -> None:
    prefilter = Prefilter([frozenset({"net.exe"})], alternatives=[[frozenset({"net.exe"}), frozenset({"rare"})]], sample_size=4)

    assert prefilter.select_batch([b"rare", b"net.exe"]) == {1: (0,)}


def test_prefilter_keeps_own_set_on_a_tie() -> None:
    prefilter = Prefilter([frozenset({"first"})], alternatives=[[frozenset({"second"})]], sample_size=2)

    prefilter.select_batch([b"x", b"y"])

    assert prefilter.select_batch([b"first", b"second"]) == {0: (0,)}


def test_prefilter_drops_rule_with_only_common_sets() -> None:
    # Both sets occur in every message, so the rule is evaluated on every message.
    prefilter = Prefilter(
        [frozenset({"net.exe"}), frozenset({"common"})],
        alternatives=[[], [frozenset({"common"}), frozenset({"other"})]],
        sample_size=4,
    )

    prefilter.select_batch([b"common other"] * 4)

    assert prefilter.always == (1,)
