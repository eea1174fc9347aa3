"""Long fields index what Elasticsearch's coerce makes of a value: fractions truncated toward zero."""

from __future__ import annotations

import pytest

from stream.eql import compile_query
from stream.eql.fields import FieldTypeError
from stream.eql.mapping import FieldKind, builtin_field_spec


def _event(pid: object) -> dict[str, object]:
    return {"event": {"category": ["process"]}, "process": {"pid": pid}}


LONG_MATCH_CASES = [
    pytest.param("process.pid == 4", 4.7, True, id="fraction-truncated"),
    pytest.param("process.pid == 4", "4.7", True, id="fraction-in-text-truncated"),
    pytest.param("process.pid == -4", -4.7, True, id="negative-toward-zero"),
    pytest.param("process.pid > 4", 4.7, False, id="range-sees-truncated-value"),
    pytest.param("process.pid == 4.7", 4.7, False, id="fractional-literal-matches-nothing"),
    pytest.param("process.pid == 4", 4, True, id="whole-number"),
    pytest.param("process.pid == 4", "4", True, id="whole-number-text"),
]


@pytest.mark.parametrize(("condition", "pid", "expected"), LONG_MATCH_CASES)
def test_long_field_match_table(condition: str, pid: object, expected: bool) -> None:
    query = compile_query(f"process where {condition}")

    assert query.matches(_event(pid)) is expected


@pytest.mark.parametrize("pid", [pytest.param(2.0**63, id="beyond-long"), pytest.param("nan", id="nan-text")])
def test_long_field_rejects_unindexable_value(pid: object) -> None:
    query = compile_query("process where process.pid == 4")

    with pytest.raises(FieldTypeError):
        query.matches(_event(pid))


SPEC_CASES = [
    pytest.param("process.pid", True, id="pid-long"),
    pytest.param("destination.port", True, id="port-long"),
    pytest.param("process.pe.entropy", False, id="entropy-floating"),
    pytest.param("event.risk_score", False, id="risk-score-floating"),
]


@pytest.mark.parametrize(("name", "integer"), SPEC_CASES)
def test_builtin_number_spec_integer(name: str, integer: bool) -> None:
    spec = builtin_field_spec(name)

    assert spec.kind is FieldKind.NUMBER
    assert spec.integer is integer
