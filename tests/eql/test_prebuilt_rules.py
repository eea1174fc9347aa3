"""Elastic's prebuilt rules: labelled cases per rule, and compilation of the whole corpus.

Both tests read the rules from the shared reference folder beside the
repository and skip when it is absent.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from testdata import SHARED_DIR, load_jsonl
from stream.eql import compile_query
from stream.errors import QueryError, UnsupportedQueryError

CASES_PATH = SHARED_DIR / "data" / "events" / "prebuilt-rule-cases.jsonl"
CASES = load_jsonl(CASES_PATH) if CASES_PATH.is_file() else []

# The share of single-event rules that must compile; the rest are listed in docs/rule-coverage.md.
MINIMUM_COMPILED_SHARE = 0.99


def _rule_query(path: Path) -> str:
    with path.open("rb") as handle:
        return tomllib.load(handle)["rule"]["query"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_prebuilt_rule_case(shared_dir: Path, case: dict) -> None:
    query = _rule_query(shared_dir / "data" / "elastic-rules" / case["rule_path"])
    compiled = compile_query(query, rule=case["rule_path"])

    assert compiled.matches(case["event"]) is case["match"], case["why"]


def test_prebuilt_cases_present(shared_dir: Path) -> None:
    assert len(CASES) == 68


def test_single_event_rules_compile(shared_dir: Path) -> None:
    failures: dict[str, str] = {}
    single_event = 0
    for path in sorted((shared_dir / "data" / "elastic-rules").rglob("*.toml")):
        query = _rule_query(path)
        try:
            compile_query(query, rule=path.name)
        except UnsupportedQueryError:
            continue
        except QueryError as exc:
            failures[str(path)] = str(exc)
        single_event += 1

    compiled_share = (single_event - len(failures)) / single_event
    assert single_event >= 800
    assert compiled_share >= MINIMUM_COMPILED_SHARE, failures
