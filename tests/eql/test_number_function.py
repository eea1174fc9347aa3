"""EQL's number() parses text as Elasticsearch's Java code does (Long.valueOf, then Double.valueOf)."""

from __future__ import annotations

import math

import pytest

from stream.eql import compile_query
from stream.eql.functions import parse_number

PARSE_CASES = [
    pytest.param("1337", None, 1337, id="long"),
    pytest.param("-12", None, -12, id="negative-long"),
    pytest.param("0x539", None, 1337, id="hex-prefix-chooses-base-16"),
    pytest.param("0x539", 16, 1337, id="hex-prefix-with-base-16"),
    pytest.param("0x539", 10, None, id="hex-prefix-with-base-10-fails"),
    pytest.param("ff", 16, 255, id="base-16-without-prefix"),
    pytest.param("zz", 36, 1295, id="base-36"),
    pytest.param(" 5", 8, None, id="space-in-other-base-fails"),
    pytest.param("1.5", None, 1.5, id="double"),
    pytest.param("1e3", None, 1000.0, id="exponent"),
    pytest.param(" 12 ", None, 12.0, id="spaces-make-a-double"),
    pytest.param("1d", None, 1.0, id="java-double-suffix"),
    pytest.param(".5", None, 0.5, id="leading-dot"),
    pytest.param("9223372036854775808", None, 9.223372036854776e18, id="beyond-long-becomes-double"),
    pytest.param("1_000", None, None, id="underscore-fails"),
    pytest.param("inf", None, None, id="python-inf-fails"),
    pytest.param("abc", None, None, id="letters-fail"),
    pytest.param("", None, None, id="empty-fails"),
]


@pytest.mark.parametrize(("text", "base", "expected"), PARSE_CASES)
def test_parse_number_table(text: str, base: int | None, expected: int | float | None) -> None:
    result = parse_number(text, base)

    assert result == expected
    assert type(result) is type(expected)


def test_parse_number_java_infinity() -> None:
    assert parse_number("Infinity") == math.inf


def test_number_function_in_query() -> None:
    query = compile_query('process where number(process.title) == 1000')

    assert query.matches({"event": {"category": ["process"]}, "process": {"title": "1000"}})
    assert not query.matches({"event": {"category": ["process"]}, "process": {"title": "1_000"}})
