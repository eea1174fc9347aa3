"""Compiled Avro readers: the same documents as fastavro plus the ECS conversion, and errors on bad bytes."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pytest
from fastavro.utils import generate_many
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.codecs.avro_codec import AvroEventDecoder, encode_event
from stream.codecs.avro_reader import MAX_GENERATED_FIELDS, READ_ERRORS, compile_ecs_reader
from stream.codecs.avro_schema import ALERT_SCHEMA, PROCESS_EVENT_SCHEMA, AvroSchema, load_shipped_schema, parse_definition
from stream.errors import DecodeError

RECORDS_PER_SCHEMA = 150

_NODE = {
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ],
}

_EVERY_TYPE = {
    "type": "record",
    "name": "EveryType",
    "namespace": "test.reader",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "share", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "nothing", "type": "null"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["red", "green", "blue"]}},
        {"name": "texts", "type": {"type": "array", "items": "string"}},
        {"name": "optional_texts", "type": {"type": "array", "items": ["null", "string"]}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "late_null", "type": ["string", "null"]},
        {"name": "only_null", "type": ["null"]},
        {"name": "long_text", "type": ["null", "string"], "default": None},
    ],
}

_NESTED = {
    "type": "record",
    "name": "Nested",
    "fields": [
        {"name": "timestamp", "type": ["null", "string"], "default": None, "ecs_name": "@timestamp"},
        {
            "name": "host",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Host",
                    "fields": [
                        {"name": "name", "type": ["null", "string"], "default": None},
                        {"name": "ip", "type": ["null", {"type": "array", "items": "string"}], "default": None},
                    ],
                },
            ],
            "default": None,
        },
        {"name": "always", "type": "Host"},
        {"name": "hosts", "type": {"type": "array", "items": ["null", "Host"]}},
        {"name": "by_name", "type": {"type": "map", "values": ["null", "Host"]}},
        {
            "name": "rule",
            "type": ["null", {"type": "record", "name": "Rule", "fields": [{"name": "name", "type": ["null", "string"]}]}],
            "default": None,
            "ecs_name": "kibana.alert.rule",
            "ecs_flatten": True,
        },
        {"name": "chain", "type": ["null", _NODE], "default": None},
    ],
}


def _schemas() -> list[Any]:
    return [
        pytest.param(load_shipped_schema(PROCESS_EVENT_SCHEMA), id="shipped-process-event"),
        pytest.param(load_shipped_schema(ALERT_SCHEMA), id="shipped-alert"),
        pytest.param(parse_definition(_EVERY_TYPE, source="every type"), id="every-type"),
        pytest.param(parse_definition(_NESTED, source="nested"), id="nested-renamed-flattened-recursive"),
    ]


def _generated_payloads(schema: AvroSchema, seed: int) -> list[bytes]:
    """Return Avro payloads of random records of ``schema``, with its ``ecs_extra`` field left empty."""
    random.seed(seed)
    extra_fields = [field["name"] for field in schema.parsed["fields"] if field.get("ecs_extra")]
    payloads = []
    for record in generate_many(schema.parsed, RECORDS_PER_SCHEMA):
        for name in extra_fields:
            record[name] = None
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema.parsed, record)
        payloads.append(buffer.getvalue())
    return payloads


def _general_path(schema: AvroSchema, payload: bytes) -> dict[str, Any]:
    return schema.converter.to_ecs(fastavro.schemaless_reader(io.BytesIO(payload), schema.parsed, None))


@pytest.mark.parametrize("schema", _schemas())
def test_compiled_reader_matches_general_path(schema: AvroSchema) -> None:
    reader = compile_ecs_reader(schema.parsed)
    assert reader is not None

    for payload in _generated_payloads(schema, seed=len(schema.name)):
        document, end = reader(payload)
        assert end == len(payload)
        # repr shows the key order too, which alerts keep when they copy the event.
        assert repr(document) == repr(_general_path(schema, payload))


def test_compiled_reader_long_values() -> None:
    schema = parse_definition(_EVERY_TYPE, source="every type")
    record = {
        "flag": True, "small": -(2**31), "big": 2**63 - 1, "ratio": 0.5, "share": -1e300, "blob": b"\x00" * 300,
        "text": "é" * 200, "nothing": None, "digest": b"abcd", "colour": "blue", "texts": ["x" * 70] * 3,
        "optional_texts": [None, "y"], "counts": {"k" * 100: -(2**63)}, "late_null": None, "only_null": None,
        "long_text": "z" * 10_000,
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    reader = compile_ecs_reader(schema.parsed)
    assert reader is not None

    document, _ = reader(buffer.getvalue())

    assert repr(document) == repr(_general_path(schema, buffer.getvalue()))


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param(
            {"type": "record", "name": "Timed", "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]},
            id="logical-type",
        ),
        pytest.param(
            {"type": "record", "name": "Either", "fields": [{"name": "value", "type": ["null", "string", "long"]}]},
            id="union-of-two-types",
        ),
        pytest.param(
            {
                "type": "record", "name": "Clash",
                "fields": [{"name": "a", "type": "string", "ecs_name": "b"}, {"name": "b", "type": "string"}],
            },
            id="rename-onto-another-field",
        ),
        pytest.param(
            {"type": "record", "name": "NullObject", "fields": [{"name": "value", "type": [{"type": "null"}, "string"]}]},
            id="null-branch-as-type-object",
        ),
        pytest.param(
            {"type": "record", "name": "Odd", "fields": [{"name": "value", "type": {"type": "fixed", "name": "F", "size": "abc"}}]},
            id="fixed-size-not-a-number",
        ),
        pytest.param(
            {"type": "record", "name": "Odd", "fields": [{"name": "value", "type": {"type": "fixed", "name": "F", "size": -1}}]},
            id="fixed-size-negative",
        ),
        pytest.param(
            {
                "type": "record", "name": "Wide",
                "fields": [{"name": f"f{index}", "type": ["null", "string"]} for index in range(MAX_GENERATED_FIELDS + 1)],
            },
            id="more-fields-than-the-limit",
        ),
    ],
)
def test_compile_ecs_reader_unsupported_schema(definition: dict[str, Any]) -> None:
    schema = parse_definition(definition, source="test")

    assert compile_ecs_reader(schema.parsed) is None


def _deeply_nested(levels: int) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": "record", "name": "Level0", "fields": [{"name": "value", "type": ["null", "string"]}]}
    for level in range(1, levels):
        definition = {"type": "record", "name": f"Level{level}", "fields": [{"name": "inner", "type": ["null", definition]}]}
    return definition


def _doubling(levels: int) -> dict[str, Any]:
    """Return a schema in which each record type contains two records of the type below it."""
    definition: dict[str, Any] = {"type": "record", "name": "Twice0", "fields": [{"name": "value", "type": "string"}]}
    for level in range(1, levels):
        fields = [{"name": "left", "type": definition}, {"name": "right", "type": f"Twice{level - 1}"}]
        definition = {"type": "record", "name": f"Twice{level}", "fields": fields}
    return definition


@pytest.mark.parametrize(
    "definition, record",
    [
        pytest.param(_deeply_nested(80), {"inner": None}, id="nested-beyond-python-block-limit"),
        pytest.param(_doubling(14), None, id="exponential-inline-size"),
    ],
)
def test_decoder_large_schema_uses_fastavro(definition: dict[str, Any], record: Any) -> None:
    schema = parse_definition(definition, source="test")
    if record is None:
        random.seed(1)
        record = next(iter(generate_many(schema.parsed, 1)))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)

    assert compile_ecs_reader(schema.parsed) is None
    assert AvroEventDecoder(schema, writer_schema=schema).decode(buffer.getvalue()) == _general_path(schema, buffer.getvalue())


LOGICAL_TYPE_CASES = [
    pytest.param({"type": "int", "logicalType": "date"}, "int", 19_000, id="date"),
    pytest.param({"type": "long", "logicalType": "timestamp-millis"}, "long", 1_700_000_000_000, id="timestamp-millis"),
    pytest.param({"type": "long", "logicalType": "timestamp-millis"}, "long", 2**62, id="timestamp-beyond-datetime"),
    pytest.param({"type": "string", "logicalType": "uuid"}, "string", "not-a-uuid", id="uuid-with-other-text"),
]


@pytest.mark.parametrize(("writer_type", "reader_type", "value"), LOGICAL_TYPE_CASES)
@pytest.mark.parametrize("reader_has_it", [pytest.param(False, id="writer-only"), pytest.param(True, id="writer-and-reader")])
def test_decoder_ignores_logical_types(writer_type: dict[str, Any], reader_type: str, value: Any, reader_has_it: bool) -> None:
    writer = parse_definition({"type": "record", "name": "Timed", "fields": [{"name": "at", "type": writer_type}]}, source="writer")
    plain = parse_definition({"type": "record", "name": "Timed", "fields": [{"name": "at", "type": reader_type}]}, source="plain")
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, plain.parsed, {"at": value})

    document = AvroEventDecoder(writer if reader_has_it else plain, writer_schema=writer).decode(buffer.getvalue())

    # ECS fields take the underlying Avro type, so the value is the one written, as in JSON.
    assert document == {"at": value}


def test_decoder_rejects_varint_beyond_64_bits() -> None:
    schema = load_shipped_schema(PROCESS_EVENT_SCHEMA)
    payload = encode_event({"process": {"pid": 4242}}, schema)
    # 4242 is the varint a4 42; ten bytes ending in 08 would be a value of 2**66.
    corrupt = payload.replace(b"\xa4\x42", b"\x80" * 9 + b"\x08")

    with pytest.raises(DecodeError) as raised:
        AvroEventDecoder(writer_schema=schema).decode(corrupt)

    assert raised.value.reason == "invalid_avro"


@pytest.mark.parametrize(
    "definition, payload",
    [
        pytest.param(_NODE, b"\x00\x02" * 3000 + b"\x00\x00", id="records-nested-beyond-recursion-limit"),
        pytest.param(
            {"type": "record", "name": "Nulls", "fields": [{"name": "items", "type": {"type": "array", "items": "null"}}]},
            b"\x80" * 8 + b"\x40" + b"\x00",
            id="block-of-2-to-the-62-nulls",
        ),
    ],
)
def test_decoder_rejects_hostile_payload(definition: dict[str, Any], payload: bytes) -> None:
    schema = parse_definition(definition, source="test")

    with pytest.raises(DecodeError) as raised:
        AvroEventDecoder(schema, writer_schema=schema).decode(payload)

    assert raised.value.reason == "invalid_avro"


def _valid_payloads() -> list[bytes]:
    schema = load_shipped_schema(PROCESS_EVENT_SCHEMA)
    event = {
        "@timestamp": "2024-05-13T07:58:02.000Z",
        "event": {"category": ["process"], "type": ["start"]},
        "process": {"name": "net.exe", "pid": 4242, "args": ["net", "session"], "parent": {"name": "cmd.exe"}},
        "user": {"id": "S-1-5-21-1"},
    }
    return [encode_event(event, schema), *_generated_payloads(schema, seed=3)[:5]]


@pytest.mark.parametrize("payload", [pytest.param(payload, id=f"payload{index}") for index, payload in enumerate(_valid_payloads())])
def test_decoder_rejects_every_truncation(payload: bytes) -> None:
    decoder = AvroEventDecoder(writer_schema=load_shipped_schema(PROCESS_EVENT_SCHEMA))

    for length in range(len(payload)):
        with pytest.raises(DecodeError) as raised:
            decoder.decode(payload[:length])
        assert raised.value.reason == "invalid_avro"


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.integers(min_value=0, max_value=255))
def test_compiled_reader_corrupt_bytes_errors(position: int, replacement: int) -> None:
    assert _PROCESS_EVENT_READER is not None
    payload = bytearray(_CORRUPTION_BASE)
    payload[position % len(payload)] = replacement

    try:
        _PROCESS_EVENT_READER(bytes(payload))
    except READ_ERRORS:
        pass


_CORRUPTION_BASE = _valid_payloads()[0]
_PROCESS_EVENT_READER = compile_ecs_reader(load_shipped_schema(PROCESS_EVENT_SCHEMA).parsed)
