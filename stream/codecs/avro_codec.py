"""Avro decoding of events and encoding of alerts, plain or framed for a Schema Registry.

Three wire forms are supported:

- plain: the Avro binary encoding of one record, read with a writer schema given
  by the user (``--input-schema``);
- framed: the Schema Registry form (magic byte 0, 4-byte big-endian schema id,
  then the record), whose writer schema is fetched from the registry by id;
- Object Container Files (``Obj\\x01`` header) for ``replay``, which carry their
  writer schema in the header.

Records are read with the writer schema and resolved to the reader schema (by
default the shipped ``process_event.avsc``), then converted into ECS documents as
:mod:`stream.codecs.avro_names` describes. ``docs/avro.md`` documents the mapping.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, NamedTuple

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException

from stream.codecs.avro_names import Leftovers
from stream.codecs.avro_reader import READ_ERRORS as COMPILED_READ_ERRORS
from stream.codecs.avro_reader import EcsReader
from stream.codecs.avro_resolution import unreadable_fields
from stream.codecs.avro_schema import ALERT_SCHEMA, PROCESS_EVENT_SCHEMA, AvroSchema, load_shipped_schema, parse_definition
from stream.codecs.registry import WriterSchemaCache, frame, register_schema, unframe
from stream.errors import ConfigError, DecodeError

__all__ = [
    "OCF_MAGIC",
    "AvroAlertEncoder",
    "AvroEventDecoder",
    "check_writer_schema",
    "encode_event",
    "is_object_container",
    "read_event_file",
    "write_event_file",
]

logger = logging.getLogger(__name__)

OCF_MAGIC = b"Obj\x01"

# Exceptions fastavro 1.13 raises on bytes that are not a record of the writer schema.
# EOFError means a truncated payload. IndexError and ValueError (UnicodeDecodeError is
# one) mean a corrupt union index, length or text. SchemaResolutionError means a writer
# schema that the reader schema cannot resolve. zlib.error comes from a corrupt block of
# a deflate-compressed Object Container File.
_READ_ERRORS = (EOFError, IndexError, ValueError, OverflowError, SchemaResolutionError, zlib.error)

# A payload of a recursive schema can nest records deeper than Python's recursion limit.
_TOO_DEEP = "the payload nests records of a recursive schema deeper than the decoder can follow"


class AvroEventDecoder:
    """Decoder of Avro messages into ECS event documents.

    Exactly one of ``writer_schema`` (plain Avro) and ``registry`` (Schema Registry
    framing) must be given. ``reader_schema`` defaults to the shipped process event
    schema. Schemas are parsed once: per message, only the read and the conversion run.

    Raises:
        ConfigError: both or neither of ``writer_schema`` and ``registry`` are given,
            or the reader schema's top level is not a record.
    """

    __slots__ = ("_reader", "_convert", "_merge_extra", "_plain", "_registry", "_by_id")

    def __init__(
        self,
        reader_schema: AvroSchema | None = None,
        *,
        writer_schema: AvroSchema | None = None,
        registry: SchemaRegistryClient | None = None,
    ) -> None:
        if (writer_schema is None) == (registry is None):
            raise ConfigError(
                "an Avro event decoder needs exactly one of a writer schema (plain Avro, "
                "--input-schema) and a Schema Registry client (framed Avro, --schema-registry-url)"
            )
        self._reader = reader_schema or load_shipped_schema(PROCESS_EVENT_SCHEMA)
        if writer_schema is not None:
            check_writer_schema(writer_schema, self._reader)
        self._convert = self._reader.converter.to_ecs
        self._merge_extra = self._reader.converter.merge_extra
        self._plain = None if writer_schema is None else self._read_plan(writer_schema)
        self._registry = None if registry is None else WriterSchemaCache(registry)
        self._by_id: dict[int, _ReadPlan] = {}

    @property
    def framed(self) -> bool:
        """Whether messages carry the Schema Registry header."""
        return self._registry is not None

    @property
    def reader_schema(self) -> AvroSchema:
        """The schema whose shape decoded events have."""
        return self._reader

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Decode one message into an ECS document, with null values left out.

        Raises:
            DecodeError: reason ``invalid_framing`` for a framed message without a
                valid header, ``schema_not_found`` for a schema id the registry does
                not know, ``invalid_avro`` for a payload that is truncated, corrupt,
                followed by extra bytes, or not resolvable to the reader schema.
            KafkaServiceError: the Schema Registry could not be reached.
        """
        if self._plain is None:
            schema_id, body = unframe(payload)
            return self._read(body, self._for_schema_id(schema_id))
        try:
            return self._read(payload, self._plain)
        except DecodeError as exc:
            raise self._with_format_hint(exc, payload) from None

    def _with_format_hint(self, error: DecodeError, payload: bytes) -> DecodeError:
        """Return a plain Avro decoding error with a hint at the format the payload is in, if it is another one."""
        assert self._plain is not None
        if error.reason != "invalid_avro":
            return error
        if payload[:1] in (b"{", b"["):
            hint = "the payload starts like JSON: if the producer writes JSON, run with --input-format json"
        elif len(payload) > 5 and payload[0] == 0 and self._decodes(payload[5:]):
            hint = (
                "the payload is a record of the writer schema behind a zero byte and a 4-byte schema id, as a "
                "Schema Registry frames it: run with --schema-registry-url instead of --input-schema"
            )
        else:
            return error
        return DecodeError(error.reason, f"{error.message}; {hint}")

    def _decodes(self, body: bytes) -> bool:
        assert self._plain is not None
        try:
            self._read(body, self._plain)
        except DecodeError:
            return False
        return True

    def _read(self, body: bytes | memoryview, plan: _ReadPlan) -> dict[str, Any]:
        if plan.compiled is not None:
            return self._merge_extra(_read_compiled(body, plan.compiled))
        record = _read_record(body, plan.writer, plan.reader)
        return self._convert(record)

    def decode_records(self, data: bytes, count: int) -> Iterator[dict[str, Any] | DecodeError]:
        """Decode ``count`` records written one after another in ``data`` with the plain writer schema.

        For the blocks of an Object Container File, which carry no framing
        between records. A record that is valid Avro of the writer schema but
        does not resolve to the reader schema (a union branch or an enum symbol
        the reader lacks) comes back as a ``DecodeError`` in its place, and
        the records after it are still read.

        Raises:
            DecodeError: reason ``invalid_avro`` for a record that is truncated or
                corrupt, when ``data`` has bytes after the last record, or when
                the decoder reads framed messages.
        """
        if self._plain is None:
            raise DecodeError("invalid_avro", "a decoder of Schema Registry framed messages cannot read file blocks")
        plan = self._plain
        position = 0
        for _ in range(count):
            if plan.compiled is not None:
                document, position = _read_compiled_at(data, plan.compiled, position)
                yield self._merge_extra(document)
                continue

            buffer = io.BytesIO(data)
            buffer.seek(position)
            try:
                record = _read_from(buffer, plan.writer, plan.reader)
            except DecodeError as exc:
                # Read the record again with the writer schema alone. When that works, the record is
                # valid but does not fit the reader schema, and the next record starts after it.
                buffer.seek(position)
                _read_from(buffer, plan.writer, None)
                position = buffer.tell()
                yield exc
                continue
            position = buffer.tell()
            yield self._convert(record)
        if position != len(data):
            raise DecodeError("invalid_avro", f"a block has {len(data) - position} bytes after its last record")

    def has_known_schema(self, payload: bytes) -> bool:
        """Return whether a framed ``payload`` names a schema id this decoder has already read.

        The prefilter skips only such payloads, so that a message with an
        unknown or invalid schema id is always decoded and dead-lettered.
        """
        return len(payload) > 5 and payload[0] == 0 and int.from_bytes(payload[1:5], "big") in self._by_id

    def _for_schema_id(self, schema_id: int) -> _ReadPlan:
        plan = self._by_id.get(schema_id)
        if plan is None:
            assert self._registry is not None
            plan = self._read_plan(self._registry.get(schema_id))
            self._by_id[schema_id] = plan
        return plan

    def _read_plan(self, writer: AvroSchema) -> _ReadPlan:
        # Values keep their underlying Avro types, as ECS defines the fields, so fastavro reads
        # with the writer's logical types removed (it would apply them: a long with
        # timestamp-millis would become a datetime). When both schemas read and write the
        # same bytes, schema resolution is skipped, and the reader schema's compiled reader
        # (built with its ECS names) reads the records.
        plain_writer = writer.without_logical_types.parsed
        if writer.canonical_form != self._reader.canonical_form:
            _log_unreadable_fields(writer, self._reader)
            return _ReadPlan(plain_writer, self._reader.parsed, None)
        return _ReadPlan(plain_writer, None, self._reader.ecs_reader)


class _ReadPlan(NamedTuple):
    """The way records of one writer schema are read: compiled, or by fastavro with an optional reader schema."""

    writer: dict[str, Any]
    reader: dict[str, Any] | None
    compiled: EcsReader | None


def _log_unreadable_fields(writer: AvroSchema, reader: AvroSchema) -> None:
    """Log, once per writer schema, the fields whose values Avro cannot resolve to ``reader``."""
    problems = unreadable_fields(writer.parsed, reader.parsed)
    if problems:
        logger.warning(
            "writer schema from %s: records with these values cannot be resolved to %s and are rejected as "
            "invalid_avro (fix the writer schema, or the producer): %s",
            writer.source, reader.name, "; ".join(problems),
        )


def check_writer_schema(writer: AvroSchema, reader: AvroSchema | None = None) -> None:
    """Raise unless ``writer``'s top level is a record that Avro can resolve to ``reader``'s.

    Schema resolution matches records by full name, or by one of the reader
    record's aliases. A writer schema that fails this would make every
    message undecodable, so it is a configuration error, not one per
    message. Field types are checked per message, when fastavro resolves them.
    ``reader`` defaults to the shipped process event schema.

    Raises:
        ConfigError: the writer's top level is not a record, or its name
            matches neither the reader's name nor an alias.
    """
    reader = reader or load_shipped_schema(PROCESS_EVENT_SCHEMA)
    accepted = _record_names(reader.definition)
    definition = writer.definition
    if not isinstance(definition, dict) or definition.get("type") not in ("record", "error"):
        raise ConfigError(
            f"{writer.source}: the writer schema's top level is {writer.name!r}, not a record: events are "
            f"records of {reader.name} (see the shipped schemas/process_event.avsc)"
        )
    if writer.name not in accepted:
        raise ConfigError(
            f"{writer.source}: the writer schema's top-level record is {writer.name!r}, but Avro can only resolve "
            f"a record named {' or '.join(sorted(accepted))} to the reader schema: rename the record, or give it "
            "the same name as schemas/process_event.avsc"
        )


def _record_names(definition: Any) -> set[str]:
    """Return the full name and the full alias names of a record definition."""
    if not isinstance(definition, dict):
        return set()
    namespace = definition.get("namespace", "")
    names = [definition.get("name", ""), *definition.get("aliases", [])]
    return {name if "." in name or not namespace else f"{namespace}.{name}" for name in names if name}


def _read_record(body: bytes | memoryview, writer: dict[str, Any], reader: dict[str, Any] | None) -> Any:
    buffer = io.BytesIO(body)
    record = _read_from(buffer, writer, reader)
    if buffer.tell() != len(body):
        raise DecodeError(
            "invalid_avro",
            f"the payload has {len(body) - buffer.tell()} bytes after the end of the Avro record",
        )
    return record


def _read_from(buffer: io.BytesIO, writer: dict[str, Any], reader: dict[str, Any] | None) -> Any:
    """Read one record with fastavro at the buffer's position, which moves past it."""
    try:
        record = fastavro.schemaless_reader(buffer, writer, reader)
    except RecursionError:
        raise DecodeError("invalid_avro", _TOO_DEEP) from None
    except SchemaResolutionError as exc:
        raise DecodeError(
            "invalid_avro", f"the record does not resolve to the reader schema: {_summary(exc)}"
        ) from None
    except _READ_ERRORS as exc:
        raise DecodeError(
            "invalid_avro", f"the payload is not a valid Avro record of the writer schema: {_summary(exc)}"
        ) from None
    if not isinstance(record, dict):
        raise DecodeError("invalid_avro", f"the writer schema's top level is not a record but {type(record).__name__}")
    return record


def _read_compiled(body: bytes | memoryview, read: EcsReader) -> dict[str, Any]:
    payload = bytes(body) if isinstance(body, memoryview) else body
    document, end = _read_compiled_at(payload, read, 0)
    if end != len(payload):
        raise DecodeError("invalid_avro", f"the payload has {len(payload) - end} bytes after the end of the Avro record")
    return document


def _read_compiled_at(payload: bytes, read: EcsReader, position: int) -> tuple[dict[str, Any], int]:
    """Read one record with a compiled reader at ``position``; return it and the offset after it."""
    try:
        return read(payload, position)
    except RecursionError:
        raise DecodeError("invalid_avro", _TOO_DEEP) from None
    except IndexError:
        raise DecodeError(
            "invalid_avro", "the payload ends in the middle of an Avro record of the writer schema: it is truncated, "
            "or was written with another schema"
        ) from None
    except COMPILED_READ_ERRORS as exc:
        raise DecodeError(
            "invalid_avro", f"the payload is not a valid Avro record of the writer schema: {_summary(exc)}"
        ) from None


def _summary(exc: Exception, limit: int = 200) -> str:
    # fastavro's resolution errors contain both schemas in full, too long for a log line or header.
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "..."


class AvroAlertEncoder:
    """Encoder of alert records as Avro, framed for a Schema Registry when one is given.

    ``schema`` defaults to the shipped alert schema. With ``registry``, the schema is
    registered under ``subject`` (for the topic name strategy, ``topic_subject(topic)``)
    when the encoder is created, and every message carries its id.

    Alert values that the schema has no field for, or whose type does not fit, are
    kept as a JSON object in the schema's ``ecs_extra`` field (``extra_json`` in the
    shipped schema). A schema without such a field drops them.

    Raises:
        ConfigError: ``registry`` is given without ``subject``, or the schema's top
            level is not a record.
        KafkaServiceError: the schema could not be registered.
    """

    __slots__ = ("_schema", "_to_avro", "_header", "_schema_id")

    def __init__(
        self,
        schema: AvroSchema | None = None,
        *,
        registry: SchemaRegistryClient | None = None,
        subject: str | None = None,
    ) -> None:
        self._schema = schema or load_shipped_schema(ALERT_SCHEMA)
        self._to_avro = self._schema.converter.to_avro
        self._schema_id: int | None = None
        self._header = b""

        if registry is not None:
            if not subject:
                raise ConfigError("an Avro alert encoder with a Schema Registry needs a subject, such as '<topic>-value'")
            self._schema_id = register_schema(registry, subject, self._schema)
            self._header = frame(self._schema_id, b"")
            logger.info("alert schema %s registered under subject %r with id %d", self._schema.name, subject, self._schema_id)

    @property
    def schema_id(self) -> int | None:
        """The registry id of the alert schema, or None when messages are plain Avro."""
        return self._schema_id

    def encode(self, alert: Mapping[str, Any]) -> bytes:
        """Encode one alert record (as built by ``AlertBuilder.build``)."""
        record, _ = self._to_avro(alert)
        return _write_record(self._schema, record, self._header)


def encode_event(event: Mapping[str, Any], schema: AvroSchema | None = None, *, schema_id: int | None = None) -> bytes:
    """Encode an ECS event as Avro: plain, or framed with ``schema_id`` when it is given.

    ``schema`` defaults to the shipped process event schema. Fields the schema does
    not describe are left out, as the schema defines what the stream carries.

    Raises:
        ValueError: a field of the schema has a value of another type (such as a
            string for a ``long`` field); the message lists the fields.
    """
    schema = schema or load_shipped_schema(PROCESS_EVENT_SCHEMA)
    header = b"" if schema_id is None else frame(schema_id, b"")
    return _write_record(schema, _event_record(event, schema), header)


def is_object_container(prefix: bytes) -> bool:
    """Return whether bytes start with the Avro Object Container File magic ``Obj\\x01``."""
    return prefix[: len(OCF_MAGIC)] == OCF_MAGIC


def read_event_file(handle: IO[bytes], reader_schema: AvroSchema | None = None) -> Iterator[dict[str, Any] | DecodeError]:
    """Read the events of an Avro Object Container File, with the writer schema of its header.

    ``handle`` must be a buffered reader (as ``open(path, "rb")`` returns) or seekable. Events are resolved to ``reader_schema`` (default: the shipped process event
    schema) and returned as ECS documents, one at a time. An event that is
    valid Avro but does not resolve to the reader schema comes back as a
    ``DecodeError`` (reason ``invalid_avro``) in its place, and reading goes on.

    Raises:
        DecodeError: reason ``invalid_framing`` when the file header is not an Avro
            container header, ``invalid_avro`` when a block is corrupt or the
            header's schema does not resolve to the reader schema,
            ``unsupported_codec`` when the blocks need a compression package that
            is not installed. Reading stops at the first such error.
    """
    reader_schema = reader_schema or load_shipped_schema(PROCESS_EVENT_SCHEMA)
    prefix = _peek(handle, len(OCF_MAGIC))
    if not is_object_container(prefix):
        raise DecodeError(
            "invalid_framing", f"the file starts with {prefix!r}, not the Avro Object Container File magic {OCF_MAGIC!r}"
        )

    try:
        blocks = fastavro.block_reader(handle)
        file_name = getattr(handle, "name", None)
        header = f"the header of {file_name}" if isinstance(file_name, str) else "the file's header"
        writer = parse_definition(json.loads(blocks.metadata["avro.schema"]), source=header)
        decoder = AvroEventDecoder(reader_schema, writer_schema=writer)
    except ConfigError as exc:
        raise DecodeError("invalid_avro", f"the file's schema does not resolve to {reader_schema.name}: {exc}") from None
    except SchemaParseException as exc:
        raise DecodeError("invalid_avro", f"the file's header has an invalid Avro schema: {_summary(exc)}") from None
    except _READ_ERRORS + (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise DecodeError("invalid_framing", f"the file is not an Avro Object Container File: {_summary(exc)}") from None

    codec = str(blocks.metadata.get("avro.codec", "null"))
    iterator = iter(blocks)
    for number in itertools.count(1):
        try:
            block = next(iterator)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            raise _block_error(exc, codec) from None
        # The block's records are read as Kafka messages are, so a file gives the same documents.
        try:
            yield from decoder.decode_records(block.bytes_.getvalue(), block.num_records)
        except DecodeError as exc:
            raise DecodeError(
                exc.reason, f"block {number} of the file is corrupt: {exc.message}"
            ) from None


def _block_error(exc: Exception, codec: str) -> DecodeError:
    # fastavro reports a codec it does not know, and names the package that a known one needs when it is missing.
    if isinstance(exc, ValueError) and "Unrecognized codec" in str(exc):
        return DecodeError(
            "unsupported_codec",
            f"the file's blocks are compressed with {codec}, a codec that fastavro does not know: write the file "
            "with the null or deflate codec",
        )
    if isinstance(exc, ValueError) and "you need to install" in str(exc):
        return DecodeError(
            "unsupported_codec",
            f"the file's blocks are compressed with {codec}, and {exc}. Install that package into eql-stream's "
            "environment, or write the file with the null or deflate codec",
        )
    return DecodeError("invalid_avro", f"a block of the Avro file is corrupt: {_summary(exc)}")


def _peek(handle: IO[bytes], size: int) -> bytes:
    """Return the next ``size`` bytes of ``handle`` without consuming them (it must be buffered or seekable)."""
    peek = getattr(handle, "peek", None)
    if peek is not None:
        return bytes(peek(size)[:size])
    start = handle.tell()
    prefix = handle.read(size)
    handle.seek(start)
    return prefix


def write_event_file(
    handle: IO[bytes],
    events: Iterable[Mapping[str, Any]],
    schema: AvroSchema | None = None,
    *,
    codec: str = "deflate",
) -> int:
    """Write ECS events to an Avro Object Container File and return how many were written.

    ``schema`` defaults to the shipped process event schema and is stored in the
    file header. ``codec`` is a block codec that fastavro supports without extra
    packages: ``null`` or ``deflate``.

    Raises:
        ValueError: as :func:`encode_event`, for an event with a value of the wrong type.
    """
    schema = schema or load_shipped_schema(PROCESS_EVENT_SCHEMA)
    count = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal count
        for event in events:
            yield _event_record(event, schema)
            count += 1

    # fastavro writes the parsed schema, ecs_* attributes included, into the file header.
    fastavro.writer(handle, schema.parsed, records(), codec=codec)
    return count


def _event_record(event: Mapping[str, Any], schema: AvroSchema) -> dict[str, Any]:
    record, leftovers = schema.converter.to_avro(event)
    if leftovers.mismatched:
        raise ValueError(_describe_mismatches(leftovers, schema))
    return record


def _describe_mismatches(leftovers: Leftovers, schema: AvroSchema) -> str:
    fields = ", ".join(f"{path}={json.dumps(value, default=repr)[:60]}" for path, value in leftovers.mismatched.items())
    return f"cannot encode the event with schema {schema.name}: these values do not fit their field's type: {fields}"


def _write_record(schema: AvroSchema, record: dict[str, Any], header: bytes) -> bytes:
    buffer = io.BytesIO()
    buffer.write(header)
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()
