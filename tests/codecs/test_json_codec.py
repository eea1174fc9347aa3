"""JSON event decoding: the reason and message of each decoding error."""

from __future__ import annotations

import pytest

from stream.codecs.json_codec import decode_event
from stream.errors import DecodeError


@pytest.mark.parametrize(
    ("payload", "reason", "message"),
    [
        pytest.param(b"\xff\xfe\x00garbage", "invalid_utf8", "byte 0xff at offset 0: invalid start byte", id="bad-start-byte"),
        pytest.param(b'{"a": "\xc3"}', "invalid_utf8", "byte 0xc3 at offset 7: invalid continuation byte", id="cut-character"),
        pytest.param(b'{"a": ', "invalid_json", "line 1 column 7", id="truncated"),
        pytest.param(b"[1, 2]", "not_an_object", "a JSON array", id="array"),
        pytest.param(b"null", "not_an_object", "a JSON null", id="null"),
    ],
)
def test_decode_event_error_names_problem(payload: bytes, reason: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_event(payload)

    assert caught.value.reason == reason
    assert message in caught.value.message


def test_decode_event_returns_object() -> None:
    assert decode_event(b'{"process": {"name": "net.exe"}}') == {"process": {"name": "net.exe"}}
