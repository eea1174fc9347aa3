"""JSON decoding of events and encoding of alerts, with orjson."""

from __future__ import annotations

from typing import Any

import orjson

from stream.errors import DecodeError

UTF8_BYTE_ORDER_MARK = b"\xef\xbb\xbf"
"""The UTF-8 encoding of U+FEFF, which Windows PowerShell 5.1 (``-Encoding UTF8``) writes at the start of a file."""

_BYTE_ORDER_MARK_MESSAGE = (
    "the message starts with a UTF-8 byte order mark (BOM, bytes EF BB BF), but a JSON message must "
    "not start with one (RFC 8259, section 8.1). Make the producer write UTF-8 without a BOM"
)


def decode_event(payload: bytes | str) -> dict[str, Any]:
    """Decode one JSON document into an event.

    A payload that starts with a UTF-8 byte order mark is rejected, because
    RFC 8259 (section 8.1) forbids a producer to add one. A caller that reads
    files, where Windows tools write one, removes it from the file's start.

    Raises:
        DecodeError: reason ``invalid_utf8`` when the bytes are not UTF-8,
            ``invalid_json`` when the text is not JSON or starts with a byte
            order mark, ``not_an_object`` when the document is valid JSON but
            not an object.
    """
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        # Checked only after a failure, so that a valid message costs nothing more.
        if _starts_with_byte_order_mark(payload):
            raise DecodeError("invalid_json", _BYTE_ORDER_MARK_MESSAGE) from None
        if "UTF-8" in str(exc):
            raise DecodeError("invalid_utf8", f"the message is not valid UTF-8 text: {_utf8_problem(payload, exc)}") from None
        raise DecodeError("invalid_json", f"the message is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise DecodeError(
            "not_an_object",
            f"the message is a JSON {_JSON_TYPE_NAMES.get(type(event), 'value')}, but an event must be a JSON object",
        )
    return event


def _starts_with_byte_order_mark(payload: bytes | str) -> bool:
    if isinstance(payload, str):
        return payload.startswith("\ufeff")
    return bytes(payload[: len(UTF8_BYTE_ORDER_MARK)]) == UTF8_BYTE_ORDER_MARK


# Windows PowerShell 5.1 writes UTF-16 with one of these marks when its output is redirected to a file.
_UTF16_BYTE_ORDER_MARKS = (b"\xff\xfe", b"\xfe\xff")
_UTF16_HINT = ". The text starts with a UTF-16 byte order mark, so it is UTF-16: save or produce it as UTF-8"


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
            hint = _UTF16_HINT if bytes(payload[:2]) in _UTF16_BYTE_ORDER_MARKS else ""
            return f"byte 0x{bad:02x} at offset {problem.start}: {problem.reason}{hint}"
    return str(error)


# Python types of orjson's results, by their JSON names.
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def encode_alert(alert: dict[str, Any]) -> bytes:
    """Encode an alert record as compact JSON (UTF-8)."""
    return orjson.dumps(alert, option=orjson.OPT_NON_STR_KEYS)
