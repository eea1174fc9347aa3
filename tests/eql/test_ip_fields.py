"""IP fields compare as addresses, as Elasticsearch indexes them, not as the text of the event.

Elasticsearch stores every address in 16 bytes, an IPv4 address as its
IPv4-mapped IPv6 form. So ``10.1.2.3`` and ``::ffff:10.1.2.3`` are one value,
and the case and zero compression of IPv6 text do not matter. Ranges follow
the bytes, and an IPv6 block can contain an IPv4 address. As in
Elasticsearch's term query on an IP field, ``==`` and ``in`` read a literal
with ``/`` as an address block, and reject a literal that is no address.
"""

from __future__ import annotations

import re

import pytest

from stream.eql import QueryError, compile_query
from stream.eql.ip import canonical_ip_text, ip_sort_key


def _event(address: object) -> dict[str, object]:
    return {"event": {"category": ["process"]}, "source": {"ip": address}}


IP_MATCH_CASES = [
    pytest.param('source.ip == "10.1.2.3"', "10.1.2.3", True, id="same-ipv4"),
    pytest.param('source.ip == "10.1.2.4"', "10.1.2.3", False, id="other-ipv4"),
    pytest.param('source.ip == "10.1.2.3"', "::ffff:10.1.2.3", True, id="mapped-value-equals-ipv4"),
    pytest.param('source.ip == "::ffff:10.1.2.3"', "10.1.2.3", True, id="mapped-literal-equals-ipv4"),
    pytest.param('source.ip == "2001:db8::1"', "2001:DB8:0:0::1", True, id="ipv6-case-and-zeros"),
    pytest.param('source.ip != "127.0.0.1"', "::ffff:127.0.0.1", False, id="not-equal-mapped-loopback"),
    pytest.param('source.ip in ("192.0.2.9", "2001:db8::1")', "2001:db8:0::1", True, id="in-ipv6-forms"),
    pytest.param('not source.ip in ("2001:db8::1")', "2001:db8:0::1", False, id="not-in-ipv6-forms"),
    pytest.param('source.ip > "9.0.0.0"', "10.0.0.1", True, id="range-by-address-not-text"),
    pytest.param('source.ip < "9.0.0.0"', "10.0.0.1", False, id="range-below"),
    pytest.param('source.ip >= "10.0.0.1"', "::ffff:10.0.0.1", True, id="range-mapped-equal"),
    pytest.param('source.ip > "9.0.0.0"', "::1", False, id="range-ipv6-below-ipv4"),
    pytest.param('source.ip > "9.0.0.0"', "2001:db8::1", True, id="range-ipv6-above-ipv4"),
    pytest.param('cidrMatch(source.ip, "127.0.0.0/8")', "::ffff:127.0.0.1", True, id="cidr-ipv4-block-mapped-value"),
    pytest.param('cidrMatch(source.ip, "::ffff:10.0.0.0/104")', "10.1.2.3", True, id="cidr-mapped-block-ipv4-value"),
    pytest.param('cidrMatch(source.ip, "2001:db8::/32")', "10.1.2.3", False, id="cidr-ipv6-block-ipv4-value"),
    pytest.param('string(source.ip) == "fe80::1"', "FE80:0::1", True, id="string-gives-canonical-form"),
    pytest.param('source.ip == "10.0.0.0/8"', "10.1.2.3", True, id="equal-block-contains"),
    pytest.param('source.ip == "10.0.0.0/8"', "11.1.2.3", False, id="equal-block-outside"),
    pytest.param('source.ip == "10.1.2.3/32"', "::ffff:10.1.2.3", True, id="equal-host-block-mapped-value"),
    pytest.param('source.ip != "127.0.0.0/8"', "127.0.0.1", False, id="not-equal-block"),
    pytest.param('source.ip in ("192.0.2.9", "10.1.0.0/16")', "10.1.200.7", True, id="in-with-block"),
    pytest.param('source.ip in ("192.0.2.9", "10.1.0.0/16")', "10.2.0.1", False, id="in-with-block-outside"),
    pytest.param('source.ip in ("2001:db8::/32")', "2001:db8:5::1", True, id="in-ipv6-block"),
]


@pytest.mark.parametrize(("condition", "address", "expected"), IP_MATCH_CASES)
def test_ip_field_match_table(condition: str, address: str, expected: bool) -> None:
    query = compile_query(f"process where {condition}")

    assert query.matches(_event(address)) is expected


CANONICAL_CASES = [
    pytest.param("10.1.2.3", "10.1.2.3", id="ipv4"),
    pytest.param("::FFFF:10.1.2.3", "10.1.2.3", id="mapped"),
    pytest.param("2001:0DB8:0000::0001", "2001:db8::1", id="ipv6"),
    pytest.param("10.1.2", None, id="short-ipv4"),
    pytest.param("", None, id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL_CASES)
def test_canonical_ip_text_table(text: str, expected: str | None) -> None:
    assert canonical_ip_text(text) == expected


def test_ip_sort_key_orders_ipv4_inside_mapped_range() -> None:
    keys = [ip_sort_key(text) for text in ("::1", "0.0.0.1", "9.0.0.0", "10.0.0.1", "255.255.255.255", "2001:db8::1")]

    assert None not in keys
    assert keys == sorted(keys)


IP_REJECTED_CASES = [
    pytest.param('source.ip > "abc"', "invalid IP address 'abc'", id="range"),
    pytest.param('source.ip == "abc"', "invalid IP address 'abc'", id="equal"),
    pytest.param('source.ip != "abc"', "invalid IP address 'abc'", id="not-equal"),
    pytest.param('source.ip in ("10.0.0.1", "abc")', "invalid IP address 'abc'", id="in"),
    pytest.param('source.ip == "abc/8"', "invalid address block", id="block-of-no-address"),
    pytest.param('source.ip == "10.0.0.0/33"', "invalid address block", id="prefix-beyond-32-bits"),
    pytest.param('source.ip == "::ffff:10.0.0.0/104"', "invalid address block", id="mapped-address-with-ipv6-prefix"),
    pytest.param('source.ip == "::ffff:10.0.0.0/8"', "invalid address block", id="mapped-address-with-ipv4-prefix"),
    pytest.param('source.ip == "10.0.0.0/255.0.0.0"', "invalid address block", id="netmask-instead-of-length"),
    pytest.param('source.ip == "10.0.0.0/"', "invalid address block", id="no-length"),
]


@pytest.mark.parametrize(("condition", "message"), IP_REJECTED_CASES)
def test_ip_field_literal_rejected(condition: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        compile_query(f"process where {condition}")
