"""JSON event decoding: the reason and message of each decoding error."""

from __future__ import annotations

import pytest

from stream.codecs.json_codec import decode_event
from stream.errors import DecodeError


@pytest.mark.parametrize(
    ("payload", "reason", "message"),
    [
        pytest.param(b"\xff\xfe\x00garbage", "invalid_utf8", "byte 0xff at offset 0: invalid start byte", id="bad-start-byte"),
        pytest.param(b"\xff\xfe{\x00}\x00", "invalid_utf8", "it is UTF-16: save or produce it as UTF-8", id="utf16-little-endian"),
        pytest.param(b"\xfe\xff\x00{\x00}", "invalid_utf8", "it is UTF-16: save or produce it as UTF-8", id="utf16-big-endian"),
        pytest.param(b"\xc3garbage", "invalid_utf8", "invalid continuation byte", id="no-utf16-hint"),
        pytest.param(b'{"a": "\xc3"}', "invalid_utf8", "byte 0xc3 at offset 7: invalid continuation byte", id="cut-character"),
        pytest.param(b'{"a": ', "invalid_json", "line 1 column 7", id="truncated"),
        pytest.param(b"[1, 2]", "not_an_object", "a JSON array", id="array"),
        pytest.param(b"null", "not_an_object", "a JSON null", id="null"),
        pytest.param(b'\xef\xbb\xbf{"a": 1}', "invalid_json", "must not start with one (RFC 8259", id="byte-order-mark"),
        pytest.param('\ufeff{"a": 1}', "invalid_json", "must not start with one (RFC 8259", id="byte-order-mark-text"),
        pytest.param(b"\xef\xbb\xbf[1, 2]", "invalid_json", "byte order mark", id="byte-order-mark-before-array"),
        pytest.param(b'{"a": 1}\xef\xbb\xbf', "invalid_json", "unexpected content after document", id="byte-order-mark-at-end"),
    ],
)
def test_decode_event_error_names_problem(payload: bytes | str, reason: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_event(payload)

    assert caught.value.reason == reason
    assert message in caught.value.message


def test_decode_event_returns_object() -> None:
    assert decode_event(b'{"process": {"name": "net.exe"}}') == {"process": {"name": "net.exe"}}


def test_decode_event_byte_order_mark_message_names_fix() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_event(b'\xef\xbb\xbf{"a": 1}')

    assert "starts with a UTF-8 byte order mark (BOM, bytes EF BB BF)" in caught.value.message
    assert "write UTF-8 without a BOM" in caught.value.message
    # A byte order mark is valid UTF-8, so the message must not call it invalid UTF-8.
    assert "not valid UTF-8" not in caught.value.message


def test_decode_event_byte_order_mark_inside_string_kept() -> None:
    assert decode_event(b'{"a": "\xef\xbb\xbfx"}') == {"a": "\ufeffx"}
