"""Choice of the event decoder and alert encoder from the service settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

from stream.codecs.json_codec import decode_event, encode_alert
from stream.config import ServiceSettings

Decoder = Callable[[bytes], dict[str, Any]]
Encoder = Callable[[dict[str, Any]], bytes]
ShapeCheck = Callable[[Sequence[bytes | None]], list[int]]

_FIRST_BYTE = itemgetter(0)
_LAST_BYTE = itemgetter(-1)

# Magic byte and 4-byte schema id in front of a Schema Registry framed payload.
_FRAME_HEADER_SIZE = 5


@dataclass(frozen=True, slots=True)
class Codecs:
    """The service's event decoder, alert encoder and prefilter shape check.

    ``must_decode`` takes a batch of payloads and returns the positions of
    those that do not look well-formed enough to be skipped by the prefilter
    without decoding (``None``, a tombstone, among them). Those are decoded
    whatever the prefilter selects, so malformed ones reach the dead-letter topic.
    """

    decode: Decoder
    encode_alert: Encoder
    must_decode: ShapeCheck


def build_codecs(settings: ServiceSettings) -> Codecs:
    """Return the codecs for ``settings``; Avro schemas are parsed and registered here, once.

    Raises:
        ConfigError: an Avro schema file is invalid.
        KafkaServiceError: the alert schema could not be registered.
    """
    registry = None
    if settings.schema_registry_url:
        from stream.codecs.registry import make_registry_client

        registry = make_registry_client(settings.schema_registry_url, **settings.registry_config())

    decode: Decoder = decode_event
    must_decode: ShapeCheck = _not_json_objects
    if settings.input_format == "avro":
        from stream.codecs.avro_codec import AvroEventDecoder
        from stream.codecs.avro_schema import load_schema

        if settings.input_schema is not None:
            writer_schema = load_schema(settings.input_schema)
            decoder = AvroEventDecoder(writer_schema=writer_schema)
            must_decode = _shorter_than(writer_schema.min_record_size)
        else:
            decoder = AvroEventDecoder(registry=registry)
            must_decode = _framed_with_known_schema(decoder.has_known_schema)
        decode = decoder.decode

    encode: Encoder = encode_alert
    if settings.output_format == "avro":
        from stream.codecs.avro_codec import AvroAlertEncoder
        from stream.codecs.registry import topic_subject

        if registry is not None:
            encode = AvroAlertEncoder(registry=registry, subject=topic_subject(settings.output_topic)).encode
        else:
            encode = AvroAlertEncoder().encode

    return Codecs(decode=decode, encode_alert=encode, must_decode=must_decode)


def check_schema_files(settings: ServiceSettings) -> None:
    """Load the ``--input-schema`` file and check that it resolves to the reader schema, without a registry.

    Lets ``run`` report a bad schema file as an invalid setting before it starts anything.

    Raises:
        ConfigError: the file cannot be read or parsed, or its top-level record
            cannot resolve to the shipped process event schema.
    """
    if settings.input_format != "avro" or settings.input_schema is None:
        return

    from stream.codecs.avro_codec import check_writer_schema
    from stream.codecs.avro_schema import load_schema

    check_writer_schema(load_schema(settings.input_schema))


def _not_json_objects(payloads: Sequence[bytes | None]) -> list[int]:
    """Return the positions of payloads that do not start with ``{`` and end with ``}`` (trailing space allowed)."""
    try:
        # The common batch, where every payload is a compact JSON object, is settled without a
        # Python-level loop: the first and the last bytes of all payloads are gathered in C.
        first_bytes = bytes(map(_FIRST_BYTE, payloads))  # type: ignore[arg-type]
        last_bytes = bytes(map(_LAST_BYTE, payloads))  # type: ignore[arg-type]
        if first_bytes.count(b"{") == len(payloads) and last_bytes.count(b"}") == len(payloads):
            return []
    except (TypeError, IndexError):
        pass  # a tombstone (None) or an empty payload in the batch
    return [index for index, payload in enumerate(payloads) if payload is None or not _looks_like_json_object(payload)]


def _looks_like_json_object(payload: bytes) -> bool:
    return payload[:1] == b"{" and payload.rstrip()[-1:] == b"}"


def _shorter_than(min_size: int) -> ShapeCheck:
    """Return a batch shape check that flags every payload that is None or shorter than ``min_size`` bytes.

    Plain Avro has no marker that a cheap test could check. A payload
    shorter than the smallest record of the writer schema (an empty one,
    for example) cannot be a record, so it is decoded and dead-lettered.
    """

    # An empty payload is decoded even when the schema's records can be empty.
    least = max(min_size, 1)

    def must_decode(payloads: Sequence[bytes | None]) -> list[int]:
        try:
            # The common batch is settled without a Python-level loop.
            if min(map(len, payloads), default=least) >= least:  # type: ignore[arg-type]
                return []
        except TypeError:
            pass  # a tombstone (None) in the batch
        return [index for index, payload in enumerate(payloads) if payload is None or len(payload) < least]

    return must_decode


def _framed_with_known_schema(is_known: Callable[[bytes], bool]) -> ShapeCheck:
    """Return a batch shape check that flags every payload that is None or not framed with a known schema id.

    ``is_known`` returns whether one framed payload names a schema id already read.
    """

    def must_decode(payloads: Sequence[bytes | None]) -> list[int]:
        # The common batch, every payload written with one known schema, is settled without a Python-level loop.
        if payloads and all(payloads) and is_known(payloads[0]):  # type: ignore[arg-type]
            header = payloads[0][:_FRAME_HEADER_SIZE]  # type: ignore[index]
            if min(map(len, payloads)) > _FRAME_HEADER_SIZE and all(map(bytes.startswith, payloads, repeat(header))):
                return []
        return [index for index, payload in enumerate(payloads) if payload is None or not is_known(payload)]

    return must_decode
