"""Choice of the event decoder and alert encoder from the service settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream.codecs.json_codec import decode_event, encode_alert
from stream.config import ServiceSettings

Decoder = Callable[[bytes], dict[str, Any]]
Encoder = Callable[[dict[str, Any]], bytes]


@dataclass(frozen=True, slots=True)
class Codecs:
    """The service's event decoder, alert encoder and prefilter shape check.

    ``may_skip`` returns whether a payload looks well-formed enough to be
    skipped by the prefilter without decoding. Payloads that fail it are
    decoded, so malformed ones reach the dead-letter topic.
    """

    decode: Decoder
    encode_alert: Encoder
    may_skip: Callable[[bytes], bool]


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
    may_skip: Callable[[bytes], bool] = _looks_like_json_object
    if settings.input_format == "avro":
        from stream.codecs.avro_codec import AvroEventDecoder
        from stream.codecs.avro_schema import load_schema

        if settings.input_schema is not None:
            decoder = AvroEventDecoder(writer_schema=load_schema(settings.input_schema))
            may_skip = _any_payload
        else:
            decoder = AvroEventDecoder(registry=registry)
            may_skip = decoder.has_known_schema
        decode = decoder.decode

    encode: Encoder = encode_alert
    if settings.output_format == "avro":
        from stream.codecs.avro_codec import AvroAlertEncoder
        from stream.codecs.registry import topic_subject

        if registry is not None:
            encode = AvroAlertEncoder(registry=registry, subject=topic_subject(settings.output_topic)).encode
        else:
            encode = AvroAlertEncoder().encode

    return Codecs(decode=decode, encode_alert=encode, may_skip=may_skip)


def _looks_like_json_object(payload: bytes) -> bool:
    return payload[:1] == b"{" and payload.rstrip()[-1:] == b"}"


def _any_payload(payload: bytes) -> bool:
    # Plain Avro has no marker that a cheap test could check.
    return True
