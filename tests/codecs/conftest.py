"""Fixtures of the Avro codec tests: the shipped schemas, the project's corpus and an in-memory registry."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from stream.codecs.avro_schema import ALERT_SCHEMA, PROCESS_EVENT_SCHEMA, AvroSchema, load_shipped_schema
from stream.codecs.registry import make_registry_client

REPOSITORY = Path(__file__).resolve().parents[2]
LABELLED_CORPUS = REPOSITORY / "tests" / "data" / "network-discovery-labelled.jsonl"
# Public sample documents, kept outside the repository; tests that need them skip without them.
SAMPLES_DIR = REPOSITORY.parent / "shared" / "data" / "events" / "samples"

_registry_names = itertools.count()


def load_labelled_events() -> list[dict[str, Any]]:
    """Return the labelled corpus as (event, expected match) documents, label keys included."""
    with LABELLED_CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def strip_labels(document: dict[str, Any]) -> dict[str, Any]:
    """Return the event without the corpus's ``_expect`` and ``_why`` keys."""
    return {key: value for key, value in document.items() if key not in ("_expect", "_why")}


@pytest.fixture(scope="session")
def event_schema() -> AvroSchema:
    return load_shipped_schema(PROCESS_EVENT_SCHEMA)


@pytest.fixture(scope="session")
def alert_schema() -> AvroSchema:
    return load_shipped_schema(ALERT_SCHEMA)


@pytest.fixture
def registry() -> Any:
    """A fresh in-memory Schema Registry client per test."""
    return make_registry_client(f"mock://codec-test-{next(_registry_names)}")
