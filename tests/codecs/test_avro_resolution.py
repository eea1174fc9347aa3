"""unreadable_fields: the writer fields whose values a reader schema cannot read, found from the schemas alone."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stream.codecs.avro_codec import AvroEventDecoder
from stream.codecs.avro_resolution import unreadable_fields
from stream.codecs.avro_schema import load_shipped_schema, parse_definition


def _record(*fields: dict[str, Any], name: str = "Event") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "test", "fields": list(fields)}


def _parsed(definition: dict[str, Any]) -> dict[str, Any]:
    return parse_definition(definition, source="test").parsed


_NODE = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"], "default": None}]}

RESOLUTION_CASES = [
    pytest.param(
        _record({"name": "a", "type": "string"}), _record({"name": "a", "type": "string"}), [], id="same-schema"
    ),
    pytest.param(
        _record({"name": "a", "type": "int"}), _record({"name": "a", "type": ["null", "long"]}), [], id="int-promoted-to-long"
    ),
    pytest.param(
        _record({"name": "a", "type": "string"}), _record({"name": "a", "type": "bytes"}), [], id="string-read-as-bytes"
    ),
    pytest.param(
        _record({"name": "extra", "type": "int"}),
        _record({"name": "a", "type": ["null", "string"], "default": None}),
        [],
        id="writer-only-field-and-reader-default",
    ),
    pytest.param(
        _record({"name": "a", "type": "string"}),
        _record({"name": "a", "type": ["null", _record({"name": "b", "type": "long"}, name="Inner")]}),
        ["a: the writer's string cannot be read as the reader's union of null, record test.Inner"],
        id="string-where-record-expected",
    ),
    pytest.param(
        _record({"name": "a", "type": ["null", "string", "long"]}),
        _record({"name": "a", "type": ["null", "string"]}),
        ["a: the writer's long cannot be read as the reader's union of null, string"],
        id="writer-union-branch-without-match",
    ),
    pytest.param(
        _record({"name": "x", "type": "string"}),
        _record({"name": "a", "type": "string"}),
        ["a: the reader schema needs the field, and the writer schema has no such field"],
        id="reader-field-without-default-missing",
    ),
    pytest.param(
        _record({"name": "a", "type": {"type": "fixed", "name": "F", "size": 4}}),
        _record({"name": "a", "type": {"type": "fixed", "name": "F", "size": 8}}),
        ["a: the writer's fixed test.F cannot be read as the reader's fixed test.F"],
        id="fixed-of-other-size",
    ),
    pytest.param(
        _record({"name": "a", "type": {"type": "array", "items": "string"}}),
        _record({"name": "a", "type": {"type": "array", "items": "long"}}),
        ["a[]: the writer's string cannot be read as the reader's long"],
        id="array-items",
    ),
    pytest.param(_NODE, _NODE, [], id="recursive-record"),
]


@pytest.mark.parametrize(("writer", "reader", "expected"), RESOLUTION_CASES)
def test_unreadable_fields_table(writer: dict[str, Any], reader: dict[str, Any], expected: list[str]) -> None:
    assert unreadable_fields(_parsed(writer), _parsed(reader)) == expected


def test_decoder_logs_unreadable_fields_once(caplog: pytest.LogCaptureFixture) -> None:
    reader = load_shipped_schema("process_event")
    writer = parse_definition(
        {"type": "record", "name": "ProcessEvent", "namespace": "eql_stream.ecs", "fields": [{"name": "process", "type": "string"}]},
        source="writer.avsc",
    )

    with caplog.at_level(logging.WARNING, logger="stream.codecs.avro_codec"):
        AvroEventDecoder(reader, writer_schema=writer)

    (record,) = caplog.records
    assert "writer schema from writer.avsc" in record.getMessage()
    assert "process: the writer's string cannot be read" in record.getMessage()
