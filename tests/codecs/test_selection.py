"""Batch shape checks: which payloads the prefilter may not skip without decoding them."""

from __future__ import annotations

import pytest

from stream.codecs.selection import _framed_with_known_schema, _not_json_objects, _shorter_than

KNOWN_HEADER = b"\x00\x00\x00\x00\x07"


def _is_known(payload: bytes) -> bool:
    return len(payload) > 5 and payload[:5] == KNOWN_HEADER


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        pytest.param([b'{"a": 1}', b"{}"], [], id="compact-objects"),
        pytest.param([b'{"a": 1}\n', b'{"a": 1} \r\n'], [], id="trailing-whitespace"),
        pytest.param([b"{}", None, b"{}"], [1], id="tombstone"),
        pytest.param([b"[1, 2]", b"{}", b"null"], [0, 2], id="array-and-scalar"),
        pytest.param([b'{"a": ', b""], [0, 1], id="truncated-and-empty"),
        pytest.param([], [], id="empty-batch"),
    ],
)
def test_json_shape_check(payloads: list[bytes | None], expected: list[int]) -> None:
    assert _not_json_objects(payloads) == expected


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        pytest.param([b"\x02abc", b"\x00\x00\x00"], [], id="long-enough-bytes"),
        pytest.param([b"\x02abc", None], [1], id="tombstone"),
        pytest.param([b"\x02abc", b"", b"\x00\x00"], [1, 2], id="empty-and-too-short"),
        pytest.param([None, b""], [0, 1], id="tombstone-and-empty"),
        pytest.param([], [], id="empty-batch"),
    ],
)
def test_plain_avro_shape_check(payloads: list[bytes | None], expected: list[int]) -> None:
    # A record of the writer schema takes at least 3 bytes here.
    assert _shorter_than(3)(payloads) == expected


def test_plain_avro_shape_check_empty_payload() -> None:
    # A schema whose records can be empty still makes an empty message worth a dead letter.
    assert _shorter_than(0)([b"", b"\x00"]) == [0]


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        pytest.param([KNOWN_HEADER + b"\x02a", KNOWN_HEADER + b"\x00"], [], id="one-known-schema"),
        pytest.param([KNOWN_HEADER + b"\x02a", KNOWN_HEADER], [1], id="header-without-body"),
        pytest.param([KNOWN_HEADER + b"\x02a", b"\x00\x00\x00\x00\x08\x02"], [1], id="unknown-schema-id"),
        pytest.param([b"\x00\x00\x00\x00\x08\x02", KNOWN_HEADER + b"\x02a"], [0], id="unknown-schema-id-first"),
        pytest.param([b"{}", None, KNOWN_HEADER + b"\x02"], [0, 1], id="unframed-and-tombstone"),
    ],
)
def test_framed_avro_shape_check(payloads: list[bytes | None], expected: list[int]) -> None:
    assert _framed_with_known_schema(_is_known)(payloads) == expected
