"""JSON decoding of events and encoding of alerts, with orjson."""

from __future__ import annotations

from typing import Any

import orjson

from stream.errors import DecodeError


def decode_event(payload: bytes | str) -> dict[str, Any]:
    """Decode one JSON document into an event.

    Raises:
        DecodeError: reason ``invalid_utf8`` when the bytes are not UTF-8,
            ``invalid_json`` when the text is not JSON, ``not_an_object`` when
            the document is valid JSON but not an object.
    """
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise DecodeError("invalid_utf8", f"the message is not valid UTF-8 text: {_utf8_problem(payload, exc)}") from None
        raise DecodeError("invalid_json", f"the message is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise DecodeError(
            "not_an_object",
            f"the message is a JSON {_JSON_TYPE_NAMES.get(type(event), 'value')}, but an event must be a JSON object",
        )
    return event


def _utf8_problem(payload: bytes | str, error: orjson.JSONDecodeError) -> str:
    """Describe the first invalid UTF-8 byte of ``payload``, or return orjson's message when Python finds none.

    orjson words a bad byte as a JSON position ("str is not valid UTF-8:
    surrogates not allowed: line 1 column 1"), which hides the byte.
    """
    if isinstance(payload, (bytes, bytearray, memoryview)):
        try:
            bytes(payload).decode("utf-8")
        except UnicodeDecodeError as problem:
            bad = problem.object[problem.start]
            return f"byte 0x{bad:02x} at offset {problem.start}: {problem.reason}"
    return str(error)


# Python types of orjson's results, by their JSON names.
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def encode_alert(alert: dict[str, Any]) -> bytes:
    """Encode an alert record as compact JSON (UTF-8)."""
    return orjson.dumps(alert, option=orjson.OPT_NON_STR_KEYS)
