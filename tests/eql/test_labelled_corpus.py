"""The labelled network-discovery corpus through the shipped rule's query."""

from __future__ import annotations

from collections import Counter

import pytest

from testdata import DATA_DIR, load_jsonl
from stream.eql import compile_query

CORPUS = load_jsonl(DATA_DIR / "network-discovery-labelled.jsonl")
SHIPPED_QUERY = next(v["query"] for v in load_jsonl(DATA_DIR / "eql-vectors.jsonl") if v["id"] == "seed-001")


def _strip_labels(document: dict) -> dict:
    return {key: value for key, value in document.items() if key not in ("_expect", "_why")}


@pytest.fixture(scope="module")
def compiled():
    return compile_query(SHIPPED_QUERY)


@pytest.mark.parametrize(
    "document", [pytest.param(d, id=f"line{n + 1}") for n, d in enumerate(CORPUS)]
)
def test_corpus_event_label(compiled, document: dict) -> None:
    event = _strip_labels(document)

    assert compiled.matches(event) is document["_expect"], document["_why"]


def test_corpus_label_counts() -> None:
    counts = Counter(document["_expect"] for document in CORPUS)

    assert counts[True] == 43
    assert counts[False] == 170
