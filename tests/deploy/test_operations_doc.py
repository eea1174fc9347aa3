"""Tests that docs/operations.md documents every metric the service exports."""

from __future__ import annotations

import pytest
from deploy_support import REPOSITORY
from prometheus_client import CollectorRegistry

from stream.metrics import Metrics

OPERATIONS_DOC = REPOSITORY / "docs" / "operations.md"


def exported_metric_names() -> list[str]:
    """Return the service's metric names as Prometheus shows them, with ``_total`` on counters."""
    registry = CollectorRegistry()
    Metrics(registry)
    names = []
    for family in registry.collect():
        names.append(f"{family.name}_total" if family.type == "counter" else family.name)
    return sorted(names)


@pytest.mark.parametrize("name", exported_metric_names())
def test_operations_doc_describes_metric(name: str) -> None:
    assert f"| `{name}` |" in OPERATIONS_DOC.read_text(encoding="utf-8"), f"{name} has no row in the metrics table"
