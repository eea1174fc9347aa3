"""Avro event decoding and alert encoding: round trips, bad payloads, evolution, registry framing, files."""

from __future__ import annotations

import copy
import io
import json
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from conftest import SAMPLES_DIR, load_labelled_events, strip_labels
from ecs_projection import expected_round_trip, flatten, leaf_fields
from stream.alerts import AlertBuilder, SourceRef
from stream.codecs.avro_codec import (
    AvroAlertEncoder,
    AvroEventDecoder,
    encode_event,
    is_object_container,
    read_event_file,
    write_event_file,
)
from stream.codecs.avro_schema import AvroSchema, parse_definition
from stream.codecs.registry import frame, register_schema, topic_subject
from stream.eql import compile_query
from stream.errors import ConfigError, DecodeError
from stream.rules.loaders import load_shipped_rules

LABELLED = load_labelled_events()
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.json")) if SAMPLES_DIR.is_dir() else []
ALERT_TIME = datetime(2024, 5, 13, 7, 58, 2, tzinfo=UTC)


def _corpus_params() -> list[Any]:
    return [pytest.param(strip_labels(document), id=f"line{number}") for number, document in enumerate(LABELLED, 1)]


def _find_record(node: Any, name: str) -> dict[str, Any] | None:
    """Return the record definition named ``name`` (short name) inside a schema definition."""
    if isinstance(node, list):
        for branch in node:
            found = _find_record(branch, name)
            if found is not None:
                return found
    elif isinstance(node, dict):
        if node.get("type") == "record" and node["name"].rpartition(".")[2] == name:
            return node
        for child in (node.get("items"), *[field["type"] for field in node.get("fields", [])]):
            found = _find_record(child, name)
            if found is not None:
                return found
    return None


def _plain_decoder(schema: AvroSchema) -> AvroEventDecoder:
    return AvroEventDecoder(schema, writer_schema=schema)


# Round trips


@pytest.mark.parametrize("event", _corpus_params())
def test_corpus_event_round_trip(event_schema: AvroSchema, event: dict[str, Any]) -> None:
    decoded = _plain_decoder(event_schema).decode(encode_event(event, event_schema))

    assert flatten(decoded) == expected_round_trip(event, leaf_fields(event_schema))


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"sample events not found in {SAMPLES_DIR}")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.stem)
def test_sample_event_round_trip(event_schema: AvroSchema, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    event = document.get("_source", document)

    decoded = _plain_decoder(event_schema).decode(encode_event(event, event_schema))

    assert flatten(decoded) == expected_round_trip(event, leaf_fields(event_schema))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"event": {"type": "start"}}, {"event": {"type": ["start"]}}, id="scalar-becomes-array"),
        pytest.param({"process.name": "net.exe"}, {"process": {"name": "net.exe"}}, id="dotted-key"),
        pytest.param(
            {"process": {"name": "net.exe"}, "process.parent.name": "cmd.exe"},
            {"process": {"name": "net.exe", "parent": {"name": "cmd.exe"}}},
            id="nested-and-dotted",
        ),
        pytest.param({"process": {"parent": {}}, "user": None}, {}, id="empty-object-and-null"),
        pytest.param({"process": {"args": []}}, {"process": {"args": []}}, id="empty-array-kept"),
        pytest.param({"@timestamp": "2024-05-13T07:57:17Z"}, {"@timestamp": "2024-05-13T07:57:17Z"}, id="timestamp"),
        pytest.param({"winlog": {"channel": "Security"}}, {}, id="unknown-field-dropped"),
    ],
)
def test_event_shapes_after_round_trip(event_schema: AvroSchema, event: dict[str, Any], expected: dict[str, Any]) -> None:
    decoded = _plain_decoder(event_schema).decode(encode_event(event, event_schema))

    assert decoded == expected


def test_encode_event_rejects_wrong_type(event_schema: AvroSchema) -> None:
    with pytest.raises(ValueError, match=r"process\.pid"):
        encode_event({"process": {"pid": "1234"}}, event_schema)


# Matching


def test_avro_corpus_gives_same_matches_as_json(event_schema: AvroSchema) -> None:
    query = compile_query(load_shipped_rules()[0].query)
    decoder = _plain_decoder(event_schema)
    events = [strip_labels(document) for document in LABELLED]

    json_results = [query.matches(event) for event in events]
    avro_results = [query.matches(decoder.decode(encode_event(event, event_schema))) for event in events]

    assert avro_results == json_results
    assert sum(avro_results) == 43
    assert avro_results == [document["_expect"] for document in LABELLED]


# Malformed payloads

GOOD_EVENT = {"@timestamp": "2024-05-13T07:57:17Z", "process": {"name": "net.exe", "args": ["net", "use"]}}


def _plain_payload(event_schema: AvroSchema) -> bytes:
    return encode_event(GOOD_EVENT, event_schema)


PLAIN_CASES = [
    pytest.param(lambda good: b"", "invalid_avro", id="empty"),
    pytest.param(lambda good: good[:-3], "invalid_avro", id="truncated"),
    pytest.param(lambda good: good + b"\x00", "invalid_avro", id="trailing-byte"),
    pytest.param(lambda good: b"\x08" + good[1:], "invalid_avro", id="union-index-out-of-range"),
    pytest.param(lambda good: b"\x02\x04\xff\xfe" + good[1:], "invalid_avro", id="invalid-utf8"),
    pytest.param(lambda good: b"\x02\x7f" + good[1:], "invalid_avro", id="negative-string-length"),
]


@pytest.mark.parametrize(("make_payload", "reason"), PLAIN_CASES)
def test_plain_decode_malformed_payload(event_schema: AvroSchema, make_payload: Any, reason: str) -> None:
    payload = make_payload(_plain_payload(event_schema))

    with pytest.raises(DecodeError) as raised:
        _plain_decoder(event_schema).decode(payload)

    assert raised.value.reason == reason


PLAIN_HINT_CASES = [
    pytest.param(lambda good: b'{"process": {"name": "net.exe"}}', "--input-format json", id="json-message"),
    pytest.param(lambda good: frame(7, good), "--schema-registry-url", id="registry-framed-message"),
    pytest.param(lambda good: b"\x02\x04\xff\xfe" + good[1:], None, id="damaged-record-no-hint"),
]


@pytest.mark.parametrize(("make_payload", "hint"), PLAIN_HINT_CASES)
def test_plain_decode_hints_other_format(event_schema: AvroSchema, make_payload: Any, hint: str | None) -> None:
    payload = make_payload(_plain_payload(event_schema))

    with pytest.raises(DecodeError) as raised:
        _plain_decoder(event_schema).decode(payload)

    assert raised.value.reason == "invalid_avro"
    assert ("run with" in raised.value.message) is (hint is not None)
    if hint is not None:
        assert hint in raised.value.message


FRAMED_CASES = [
    pytest.param(lambda good, schema_id: b"", "invalid_framing", id="empty"),
    pytest.param(lambda good, schema_id: b"\x00\x00\x00\x01", "invalid_framing", id="short-header"),
    pytest.param(lambda good, schema_id: b"\x01" + frame(schema_id, good)[1:], "invalid_framing", id="wrong-magic"),
    pytest.param(lambda good, schema_id: b'{"process": {}}', "invalid_framing", id="json-message"),
    pytest.param(lambda good, schema_id: frame(schema_id + 1000, good), "schema_not_found", id="unknown-id"),
    pytest.param(lambda good, schema_id: frame(schema_id, good[:-3]), "invalid_avro", id="truncated"),
    pytest.param(lambda good, schema_id: frame(schema_id, good + b"\x00\x00"), "invalid_avro", id="trailing-bytes"),
    pytest.param(lambda good, schema_id: frame(schema_id, b""), "invalid_avro", id="header-only"),
]


@pytest.mark.parametrize(("make_payload", "reason"), FRAMED_CASES)
def test_framed_decode_malformed_payload(event_schema: AvroSchema, registry: Any, make_payload: Any, reason: str) -> None:
    schema_id = register_schema(registry, "events-value", event_schema)
    payload = make_payload(_plain_payload(event_schema), schema_id)

    with pytest.raises(DecodeError) as raised:
        AvroEventDecoder(event_schema, registry=registry).decode(payload)

    assert raised.value.reason == reason


def test_unknown_schema_id_is_remembered(event_schema: AvroSchema, registry: Any) -> None:
    decoder = AvroEventDecoder(event_schema, registry=registry)
    payload = frame(4242, _plain_payload(event_schema))

    for _ in range(2):
        with pytest.raises(DecodeError, match="no schema with id 4242"):
            decoder.decode(payload)


def test_non_record_writer_schema_is_invalid(event_schema: AvroSchema, registry: Any) -> None:
    string_schema = parse_definition("string", source="test")
    schema_id = register_schema(registry, "strings-value", string_schema)
    payload = frame(schema_id, b"\x06abc")

    with pytest.raises(DecodeError) as raised:
        AvroEventDecoder(event_schema, registry=registry).decode(payload)

    assert raised.value.reason == "invalid_avro"


# Schema evolution


def _writer_with_extra_fields(event_schema: AvroSchema) -> tuple[AvroSchema, dict[str, Any]]:
    """A newer writer: a required top-level field and an optional process field that the reader lacks."""
    definition = copy.deepcopy(event_schema.definition)
    definition["fields"].append({"name": "labels_count", "type": "long"})
    process = _find_record(definition, "Process")
    assert process is not None
    process["fields"].append({"name": "vendor_note", "type": ["null", "string"], "default": None})

    record, _ = event_schema.converter.to_avro(GOOD_EVENT)
    record["labels_count"] = 3
    record["process"]["vendor_note"] = "added by a newer producer"
    return parse_definition(definition, source="writer-with-extra-fields"), record


def _writer_without_optional_fields(event_schema: AvroSchema) -> tuple[AvroSchema, dict[str, Any]]:
    """An older writer without ``@timestamp`` and ``process.args``."""
    definition = copy.deepcopy(event_schema.definition)
    definition["fields"] = [field for field in definition["fields"] if field["name"] != "timestamp"]
    process = _find_record(definition, "Process")
    assert process is not None
    process["fields"] = [field for field in process["fields"] if field["name"] != "args"]
    return parse_definition(definition, source="writer-without-fields"), {"process": {"name": "net.exe"}}


EVOLUTION_CASES = [
    pytest.param(_writer_with_extra_fields, GOOD_EVENT, id="writer-has-extra-fields"),
    pytest.param(_writer_without_optional_fields, {"process": {"name": "net.exe"}}, id="writer-lacks-optional-fields"),
]


def _write_plain(schema: AvroSchema, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


@pytest.mark.parametrize(("make_writer", "expected"), EVOLUTION_CASES)
def test_plain_decode_resolves_writer_schema(event_schema: AvroSchema, make_writer: Any, expected: dict[str, Any]) -> None:
    writer, record = make_writer(event_schema)
    payload = _write_plain(writer, record)

    decoded = AvroEventDecoder(event_schema, writer_schema=writer).decode(payload)

    assert decoded == expected


@pytest.mark.parametrize(("make_writer", "expected"), EVOLUTION_CASES)
def test_framed_decode_resolves_writer_schema(
    event_schema: AvroSchema, registry: Any, make_writer: Any, expected: dict[str, Any]
) -> None:
    writer, record = make_writer(event_schema)
    schema_id = register_schema(registry, "evolving-value", writer)

    decoded = AvroEventDecoder(event_schema, registry=registry).decode(frame(schema_id, _write_plain(writer, record)))

    assert decoded == expected


def test_framed_decode_mixes_schema_versions(event_schema: AvroSchema, registry: Any) -> None:
    old_writer, old_record = _writer_without_optional_fields(event_schema)
    old_id = register_schema(registry, "mixed-value", old_writer)
    new_id = register_schema(registry, "mixed-value", event_schema)
    decoder = AvroEventDecoder(event_schema, registry=registry)

    old = decoder.decode(frame(old_id, _write_plain(old_writer, old_record)))
    new = decoder.decode(encode_event(GOOD_EVENT, event_schema, schema_id=new_id))

    assert old_id != new_id
    assert old == {"process": {"name": "net.exe"}}
    assert new == GOOD_EVENT


# Registry framing


def test_framed_event_round_trip(event_schema: AvroSchema, registry: Any) -> None:
    schema_id = register_schema(registry, topic_subject("events"), event_schema)
    payload = encode_event(GOOD_EVENT, event_schema, schema_id=schema_id)

    decoded = AvroEventDecoder(event_schema, registry=registry).decode(payload)

    assert payload[:5] == struct.pack(">bI", 0, schema_id)
    assert decoded == GOOD_EVENT


@pytest.mark.parametrize(
    "arguments",
    [pytest.param({}, id="neither"), pytest.param({"both": True}, id="both")],
)
def test_decoder_needs_one_writer_source(event_schema: AvroSchema, registry: Any, arguments: dict[str, Any]) -> None:
    extra = {"writer_schema": event_schema, "registry": registry} if arguments else {}

    with pytest.raises(ConfigError, match="exactly one"):
        AvroEventDecoder(event_schema, **extra)


# Alerts


def _alerts() -> list[dict[str, Any]]:
    rule = load_shipped_rules()[0]
    query = compile_query(rule.query)
    builder = AlertBuilder(rule)
    events = [strip_labels(document) for document in LABELLED]
    return [
        builder.build(event, SourceRef.kafka("edr-process-events", 0, offset), now=ALERT_TIME)
        for offset, event in enumerate(events)
        if query.matches(event)
    ]


ALERTS = _alerts()


def test_alert_round_trip_plain(alert_schema: AvroSchema) -> None:
    encoder = AvroAlertEncoder(alert_schema)
    decoder = AvroEventDecoder(alert_schema, writer_schema=alert_schema)

    assert len(ALERTS) == 43
    for alert in ALERTS:
        decoded = decoder.decode(encoder.encode(alert))
        assert flatten(decoded) == flatten(alert), alert["kibana.alert.uuid"]


def test_alert_round_trip_framed(alert_schema: AvroSchema, registry: Any) -> None:
    subject = topic_subject("alerts")
    encoder = AvroAlertEncoder(alert_schema, registry=registry, subject=subject)
    payload = encoder.encode(ALERTS[0])

    decoded = AvroEventDecoder(alert_schema, registry=registry).decode(payload)

    assert encoder.schema_id == registry.get_latest_version(subject).schema_id
    assert payload[:5] == struct.pack(">bI", 0, encoder.schema_id)
    assert flatten(decoded) == flatten(ALERTS[0])


def test_alert_fields_outside_schema_kept_as_json(alert_schema: AvroSchema) -> None:
    alert = {**ALERTS[0], "process": {**ALERTS[0]["process"], "pid": "not-a-number"}, "labels": {"team": "soc"}}
    record, leftovers = alert_schema.converter.to_avro(alert)

    decoded = AvroEventDecoder(alert_schema, writer_schema=alert_schema).decode(AvroAlertEncoder(alert_schema).encode(alert))

    assert json.loads(record["extra_json"]) == {"process.pid": "not-a-number", "labels": {"team": "soc"}}
    assert leftovers.mismatched == {"process.pid": "not-a-number"}
    assert decoded["process.pid"] == "not-a-number"
    assert decoded["labels"] == {"team": "soc"}


def test_alert_schema_keys_are_flat(alert_schema: AvroSchema) -> None:
    decoded = AvroEventDecoder(alert_schema, writer_schema=alert_schema).decode(AvroAlertEncoder(alert_schema).encode(ALERTS[0]))

    assert decoded["kibana.alert.rule.name"] == "Windows System Network Connections Discovery"
    assert decoded["kibana.alert.original_event.category"] == ["process"]
    assert "kibana" not in decoded


def test_alert_encoder_needs_subject_with_registry(alert_schema: AvroSchema, registry: Any) -> None:
    with pytest.raises(ConfigError, match="subject"):
        AvroAlertEncoder(alert_schema, registry=registry)


# Object Container Files


def test_event_file_round_trip(event_schema: AvroSchema) -> None:
    events = [strip_labels(document) for document in LABELLED]
    buffer = io.BytesIO()

    written = write_event_file(buffer, events, event_schema)
    buffer.seek(0)
    read = list(read_event_file(buffer, event_schema))

    decoder = _plain_decoder(event_schema)
    assert written == len(events)
    assert is_object_container(buffer.getvalue()[:4])
    assert read == [decoder.decode(encode_event(event, event_schema)) for event in events]


def test_event_file_with_older_writer_schema(event_schema: AvroSchema) -> None:
    writer, record = _writer_without_optional_fields(event_schema)
    buffer = io.BytesIO()
    fastavro.writer(buffer, writer.parsed, [record, record])
    buffer.seek(0)

    assert list(read_event_file(buffer, event_schema)) == [{"process": {"name": "net.exe"}}] * 2


def _zigzag(number: int) -> bytes:
    """Return the Avro varint of a non-negative ``number``."""
    value = number << 1
    encoded = bytearray()
    while value >= 0x80:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def _with_header_schema(data: bytes, definition: dict[str, Any]) -> bytes:
    """Return the Object Container File ``data`` with another schema in its header and the same blocks."""
    old = fastavro.reader(io.BytesIO(data)).metadata["avro.schema"].encode()
    new = json.dumps(definition).encode()
    entry = b"avro.schema" + _zigzag(len(old)) + old
    assert data.count(entry) == 1
    return data.replace(entry, b"avro.schema" + _zigzag(len(new)) + new)


LOGICAL_TYPE_FILE_CASES = [
    pytest.param("sequence", "long", "timestamp-millis", {"event": {"sequence": 30033}}, id="timestamp-millis"),
    pytest.param("sequence", "long", "timestamp-millis", {"event": {"sequence": 2**62}}, id="timestamp-beyond-datetime"),
    pytest.param("id", "string", "uuid", {"event": {"id": "0B9C1A52-0F5E-4D59-9B0E-6A3B5E3F2D11"}}, id="uuid-upper-case"),
    pytest.param("id", "string", "uuid", {"event": {"id": "not-a-uuid"}}, id="uuid-with-other-text"),
]


@pytest.mark.parametrize(("field", "avro_type", "logical_type", "event"), LOGICAL_TYPE_FILE_CASES)
def test_event_file_ignores_logical_types(
    event_schema: AvroSchema, field: str, avro_type: str, logical_type: str, event: dict[str, Any]
) -> None:
    # The shipped schema with a logical type on one field writes the same bytes.
    plain = f'{{"name": "{field}", "type": ["null", "{avro_type}"]'
    typed = f'{{"name": "{field}", "type": ["null", {{"type": "{avro_type}", "logicalType": "{logical_type}"}}]'
    text = json.dumps(event_schema.definition)
    assert plain in text
    buffer = io.BytesIO()
    write_event_file(buffer, [event], event_schema)

    data = _with_header_schema(buffer.getvalue(), json.loads(text.replace(plain, typed)))
    read = list(read_event_file(io.BytesIO(data), event_schema))

    assert read == [event]


def test_event_file_header_with_invalid_schema(event_schema: AvroSchema) -> None:
    buffer = io.BytesIO()
    write_event_file(buffer, [{"process": {"name": "net.exe"}}], event_schema)
    invalid = {"type": "record", "name": "ProcessEvent", "fields": [{"name": "count", "type": "int", "default": "x"}]}

    with pytest.raises(DecodeError, match="invalid Avro schema") as raised:
        list(read_event_file(io.BytesIO(_with_header_schema(buffer.getvalue(), invalid)), event_schema))

    assert raised.value.reason == "invalid_avro"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda data: b"Obj\x02" + data[4:], "invalid_framing", id="wrong-magic"),
        pytest.param(lambda data: data[:10], "invalid_framing", id="truncated-header"),
        pytest.param(lambda data: data[:-40], "invalid_avro", id="truncated-block"),
    ],
)
def test_event_file_damaged(event_schema: AvroSchema, damage: Any, reason: str) -> None:
    buffer = io.BytesIO()
    write_event_file(buffer, [strip_labels(document) for document in LABELLED[:20]], event_schema, codec="null")

    with pytest.raises(DecodeError) as raised:
        list(read_event_file(io.BytesIO(damage(buffer.getvalue())), event_schema))

    assert raised.value.reason == reason


def test_event_file_corrupt_deflate_block(event_schema: AvroSchema) -> None:
    buffer = io.BytesIO()
    write_event_file(buffer, [strip_labels(document) for document in LABELLED], event_schema, codec="deflate")
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle : middle + 40] = b"\xff" * 40

    with pytest.raises(DecodeError, match="corrupt") as raised:
        list(read_event_file(io.BytesIO(bytes(data)), event_schema))

    assert raised.value.reason == "invalid_avro"


def test_event_file_of_other_record_names_schema(event_schema: AvroSchema) -> None:
    other = parse_definition({"type": "record", "name": "my.Event", "fields": [{"name": "a", "type": "string"}]}, source="test")
    buffer = io.BytesIO()
    fastavro.writer(buffer, other.parsed, [{"a": "x"}])

    with pytest.raises(DecodeError, match="does not resolve to eql_stream.ecs.ProcessEvent"):
        list(read_event_file(io.BytesIO(buffer.getvalue()), event_schema))


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        pytest.param("int", "not a record", id="primitive"),
        pytest.param({"type": "record", "name": "Other", "fields": []}, "'Other'", id="other-record"),
        pytest.param({"type": "record", "name": "ProcessEvent", "fields": []}, "'ProcessEvent'", id="name-without-namespace"),
    ],
)
def test_writer_schema_unresolvable_rejected(definition: Any, fragment: str) -> None:
    writer = parse_definition(definition, source="writer.avsc")

    with pytest.raises(ConfigError, match=fragment):
        AvroEventDecoder(writer_schema=writer)


def test_writer_schema_with_reader_alias_accepted() -> None:
    reader = parse_definition(
        {"type": "record", "name": "Event", "namespace": "a", "aliases": ["Old", "b.Older"], "fields": []}, source="reader"
    )

    for name in ("a.Event", "a.Old", "b.Older"):
        writer = parse_definition({"type": "record", "name": name, "fields": []}, source="writer")
        AvroEventDecoder(reader, writer_schema=writer)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        pytest.param(b"Obj\x01\x04", True, id="container"),
        pytest.param(b'{"@timestamp"', False, id="json"),
        pytest.param(b"\x00\x00\x00\x00\x01", False, id="framed"),
        pytest.param(b"Ob", False, id="short"),
    ],
)
def test_is_object_container(prefix: bytes, expected: bool) -> None:
    assert is_object_container(prefix) is expected


def test_event_file_skips_unresolvable_record(event_schema: AvroSchema) -> None:
    # The writer's event.id may also be a long, which the reader's union lacks.
    plain = '{"name": "id", "type": ["null", "string"]'
    text = json.dumps(event_schema.definition)
    assert plain in text
    writer = parse_definition(json.loads(text.replace(plain, '{"name": "id", "type": ["null", "string", "long"]')), source="test")
    events = [{"event": {"id": "first"}}, {"event": {"id": 5}}, {"event": {"id": "third"}}]
    buffer = io.BytesIO()
    write_event_file(buffer, events, writer)

    read = list(read_event_file(io.BytesIO(buffer.getvalue()), event_schema))

    assert read[0] == events[0]
    assert read[2] == events[2]
    assert isinstance(read[1], DecodeError)
    assert read[1].reason == "invalid_avro"
    assert "does not resolve to the reader schema" in read[1].message
