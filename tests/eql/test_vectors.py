"""Conformance: every vector of the project's EQL test data through one harness."""

from __future__ import annotations

import pytest

from testdata import DATA_DIR, load_jsonl
from stream.eql import compile_query

VECTORS = load_jsonl(DATA_DIR / "eql-vectors.jsonl")

# Vectors whose expected result we believe differs from Elasticsearch, with the reason.
# Empty: every vector agrees with the documented behaviour as far as we could check.
DISPUTED: dict[str, str] = {}


def _marks(vector: dict) -> list[pytest.MarkDecorator]:
    reason = DISPUTED.get(vector["id"])
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


@pytest.mark.parametrize(
    "vector", [pytest.param(v, id=v["id"], marks=_marks(v)) for v in VECTORS]
)
def test_vector_matches_expected(vector: dict) -> None:
    compiled = compile_query(vector["query"])

    assert compiled.matches(vector["event"]) is vector["match"], vector["why"]


def test_vectors_file_is_not_empty() -> None:
    assert len(VECTORS) >= 100
