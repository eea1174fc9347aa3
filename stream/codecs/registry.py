"""Confluent Schema Registry framing and schema look-ups.

A framed message is the magic byte 0, the schema id as a 4-byte big-endian
unsigned integer, then the Avro binary encoding of the record. Writer schemas are
fetched by id once and kept for the life of the process, because the registry
never changes the schema behind an id.
"""

from __future__ import annotations

import json
import logging
import struct
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from stream.codecs.avro_schema import AvroSchema, parse_definition
from stream.errors import ConfigError, DecodeError, KafkaServiceError

__all__ = [
    "FRAME_HEADER_SIZE",
    "MAGIC_BYTE",
    "WriterSchemaCache",
    "frame",
    "make_registry_client",
    "register_schema",
    "topic_subject",
    "unframe",
]

logger = logging.getLogger(__name__)

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
FRAME_HEADER_SIZE = _HEADER.size
_MAX_SCHEMA_ID = 2**32 - 1
_NOT_FOUND = 404


def make_registry_client(url: str, **config: Any) -> SchemaRegistryClient:
    """Create a Schema Registry client for ``url``; ``mock://<name>`` gives an in-memory registry.

    ``config`` holds further client settings (such as ``basic.auth.user.info``).
    Every call with the same ``mock://`` URL in one process returns the same
    client, so a producer and the service in one process (as in tests) share
    the registry's contents.

    Raises:
        ConfigError: the URL or a setting is invalid.
    """
    if url.startswith("mock://") and url in _MOCK_CLIENTS:
        return _MOCK_CLIENTS[url]
    try:
        client = SchemaRegistryClient.new_client({"url": url, **config})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid Schema Registry settings for {url!r}: {exc}") from exc
    if url.startswith("mock://"):
        _MOCK_CLIENTS[url] = client
    return client


_MOCK_CLIENTS: dict[str, SchemaRegistryClient] = {}


def topic_subject(topic: str) -> str:
    """Return the subject of a topic's message values under the topic name strategy: ``<topic>-value``."""
    return f"{topic}-value"


def register_schema(client: SchemaRegistryClient, subject: str, schema: AvroSchema) -> int:
    """Register ``schema`` under ``subject`` (or find it, when already registered) and return its id.

    Raises:
        KafkaServiceError: the registry rejected the schema or could not be reached.
    """
    try:
        return int(client.register_schema(subject, Schema(schema.text, "AVRO")))
    except Exception as exc:
        # The client raises SchemaRegistryError for HTTP errors and its HTTP library's
        # own exceptions for transport errors, so no narrower type covers both.
        raise KafkaServiceError(
            f"failed to register Avro schema {schema.name} under subject {subject!r} "
            f"in the Schema Registry: {exc}"
        ) from exc


def frame(schema_id: int, payload: bytes) -> bytes:
    """Prefix an Avro ``payload`` with the magic byte and ``schema_id``."""
    if not 0 <= schema_id <= _MAX_SCHEMA_ID:
        raise ValueError(f"invalid schema id {schema_id}: expected 0 to {_MAX_SCHEMA_ID}")
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(message: bytes) -> tuple[int, memoryview]:
    """Split a framed message into its schema id and its Avro payload (a view, not a copy).

    Raises:
        DecodeError: reason ``invalid_framing`` when the message is shorter than
            the 5-byte header or does not start with the magic byte 0.
    """
    if len(message) < FRAME_HEADER_SIZE:
        raise DecodeError(
            "invalid_framing",
            f"the message has {len(message)} bytes, fewer than the {FRAME_HEADER_SIZE}-byte "
            "Schema Registry header (magic byte and schema id)",
        )
    if message[0] != MAGIC_BYTE:
        raise DecodeError(
            "invalid_framing",
            f"the message starts with byte {message[0]}, not the Schema Registry magic byte "
            f"{MAGIC_BYTE}; is the producer writing plain Avro or JSON?",
        )
    _, schema_id = _HEADER.unpack_from(message)
    return schema_id, memoryview(message)[FRAME_HEADER_SIZE:]


class WriterSchemaCache:
    """Writer schemas fetched from a Schema Registry by id, each parsed once.

    Ids that the registry does not know are remembered too, so that a stream of
    messages with a wrong id sends one request, not one per message.
    """

    __slots__ = ("_client", "_schemas", "_missing")

    def __init__(self, client: SchemaRegistryClient) -> None:
        self._client = client
        self._schemas: dict[int, AvroSchema] = {}
        self._missing: dict[int, str] = {}

    def get(self, schema_id: int) -> AvroSchema:
        """Return the writer schema with id ``schema_id``.

        Raises:
            DecodeError: reason ``schema_not_found`` when the registry has no schema
                with this id, or it is not a valid Avro schema.
            KafkaServiceError: the registry could not be reached or failed.
        """
        schema = self._schemas.get(schema_id)
        if schema is not None:
            return schema
        if schema_id in self._missing:
            raise DecodeError("schema_not_found", self._missing[schema_id])

        try:
            schema = self._fetch(schema_id)
        except DecodeError as exc:
            self._missing[schema_id] = exc.message
            logger.warning("Schema Registry id %d is unusable: %s", schema_id, exc.message)
            raise
        self._schemas[schema_id] = schema
        logger.info("fetched writer schema %s (id %d) from the Schema Registry", schema.name, schema_id)
        return schema

    def _fetch(self, schema_id: int) -> AvroSchema:
        try:
            registered = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == _NOT_FOUND:
                raise DecodeError(
                    "schema_not_found", f"the Schema Registry has no schema with id {schema_id}"
                ) from None
            raise KafkaServiceError(f"Schema Registry request for schema id {schema_id} failed: {exc}") from exc
        except Exception as exc:
            # Transport errors come from the client's HTTP library, whose types vary by version.
            raise KafkaServiceError(f"Schema Registry request for schema id {schema_id} failed: {exc}") from exc

        schema_type = registered.schema_type or "AVRO"
        if schema_type != "AVRO":
            raise DecodeError(
                "schema_not_found", f"schema id {schema_id} is a {schema_type} schema, not an Avro schema"
            )
        try:
            return parse_definition(json.loads(registered.schema_str), source=f"Schema Registry id {schema_id}")
        except (json.JSONDecodeError, ConfigError) as exc:
            raise DecodeError("schema_not_found", f"schema id {schema_id} is not a valid Avro schema: {exc}") from None
