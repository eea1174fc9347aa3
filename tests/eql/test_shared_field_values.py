"""RuleSet evaluation shares field values between rules: the result equals evaluating each rule alone.

Within one ``matching_rules`` call, the generated matchers of all rules read
each field, and fold its values, once (``share_field_values``). These tests
compare that with each query's own ``matches`` on the same events.
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from pathlib import Path
from typing import Any

from testdata import DATA_DIR, load_jsonl
from stream.eql import compile_query
from stream.eql.codegen import share_field_values
from stream.errors import DecodeError
from stream.ruleset import RuleSet, load_rule_set

# Queries that read the same fields with different operators, folding and kinds.
SHARING_QUERIES = [
    'process where process.name : "net.exe"',
    'process where process.name == "net.exe"',
    'process where process.name like~ "NET*.EXE"',
    'process where process.name in~ ("net1.exe", "NETSTAT.EXE")',
    'process where process.name regex~ "net[0-9]?\\\\.exe"',
    'process where startsWith~(process.name, "NET")',
    'process where process.args : ("session", "use") and not process.args == "view"',
    'process where process.args like ("*\\\\\\\\*", "/delete") or process.parent.name : "cmd.exe"',
    'process where process.pid > 1000 and process.name : "*.exe"',
    'process where user.id in ("S-1-5-18", "S-1-5-19") or process.pe.original_file_name : "net*.exe"',
    'any where true',
    # A back-quoted name is the same field as the plain one.
    'process where `process.name` == "net.exe"',
    'process where `process.name` : "NET.EXE"',
]

_PROCESS_QUERY = re.compile(r"^\s*process\s+where\b")


def _outcome(rule_set: RuleSet, event: dict[str, Any], shared: bool) -> Any:
    """Return the ids of the matching rules, or the error's type when the event has a field of an impossible type."""
    try:
        if shared:
            return [compiled.rule.rule_id for compiled in rule_set.matching_rules(event)]
        rule_set.matching_rules(event, [])  # the type checks alone
        return [compiled.rule.rule_id for compiled in rule_set.rules if compiled.query.matches(event)]
    except DecodeError as exc:
        return type(exc).__name__


def _corpus_events() -> list[dict[str, Any]]:
    events = load_jsonl(DATA_DIR / "network-discovery-labelled.jsonl")
    events = [{key: value for key, value in event.items() if not key.startswith("_")} for event in events]
    # The same events with process.name as a dotted key, so both spellings of the field meet.
    dotted = []
    for event in events:
        process = event.get("process")
        if isinstance(process, dict) and "name" in process:
            moved = {**event, "process": {key: value for key, value in process.items() if key != "name"}}
            moved["process.name"] = process["name"]
            dotted.append(moved)
    return events + dotted


def test_sharing_queries_match_as_alone() -> None:
    rule_set, reports = load_rule_set(queries=SHARING_QUERIES)
    assert [report.status for report in reports if report.status != "ok"] == []
    assert len(rule_set) == len(SHARING_QUERIES)

    for event in _corpus_events():
        assert _outcome(rule_set, event, shared=True) == _outcome(rule_set, event, shared=False), event


def test_prebuilt_process_rules_match_as_alone(shared_dir: Path) -> None:
    paths = []
    for path in sorted((shared_dir / "data" / "elastic-rules").rglob("*.toml")):
        rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        if rule.get("language") == "eql" and _PROCESS_QUERY.match(rule.get("query", "")):
            paths.append(path)
    rule_set, _ = load_rule_set(paths)
    events = _corpus_events()
    events += [case["event"] for case in load_jsonl(shared_dir / "data" / "events" / "prebuilt-rule-cases.jsonl")]
    for sample in sorted((shared_dir / "data" / "events" / "samples").glob("*.json")):
        document = json.loads(sample.read_text(encoding="utf-8"))
        events.append(document.get("_source", document))

    assert len(rule_set) > 400
    matched = 0
    for event in events:
        shared = _outcome(rule_set, event, shared=True)
        assert shared == _outcome(rule_set, event, shared=False), event
        matched += len(shared) if isinstance(shared, list) else 0
    assert matched > 0


def test_sharing_block_stays_in_its_thread() -> None:
    # A block open in this thread must not hand its values to an evaluation in another thread.
    query = compile_query('process where process.name : "net.exe"')
    results: list[bool] = []

    with share_field_values():
        assert query.matches({"event": {"category": "process"}, "process": {"name": "net.exe"}})
        worker = threading.Thread(
            target=lambda: results.append(query.matches({"event": {"category": "process"}, "process": {"name": "cmd.exe"}}))
        )
        worker.start()
        worker.join()

    assert results == [False]
