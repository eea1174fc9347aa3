"""IP addresses and blocks as Elasticsearch's ``ip`` fields index and compare them."""

from __future__ import annotations

import ipaddress


def canonical_ip_text(text: str) -> str | None:
    """Return the address in ``text`` in the form Elasticsearch gives an indexed IP, or None for a text that is no address.

    Elasticsearch indexes an IPv4 address as the IPv4-mapped IPv6 address,
    so ``10.1.2.3`` and ``::ffff:10.1.2.3`` are one value, and it writes an
    IPv6 address in lower case with zeros compressed (``2001:DB8:0::1`` is
    ``2001:db8::1``). Comparing these texts therefore compares addresses.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


IpTerm = str | ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip_term(text: str) -> IpTerm:
    """Return what ``text`` matches when an IP field is compared with it: one address, or a block.

    Elasticsearch's term query on an IP field reads a text with ``/`` as an
    address block (``10.0.0.0/8`` matches every address in it), and any
    other text as one address, returned here in canonical form (see
    :func:`canonical_ip_text`).

    Raises:
        ValueError: ``text`` is neither an address nor a block. Elasticsearch
            rejects such a query, so the rule cannot run there either.
    """
    if "/" in text:
        return _ip_block(text)
    canonical = canonical_ip_text(text)
    if canonical is None:
        raise ValueError(f"{text!r} is not an IP address")
    return canonical


def _ip_block(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse ``address/length`` as Elasticsearch's ``InetAddresses.parseCidr`` does.

    Raises:
        ValueError: the address or the length is invalid, the length exceeds
            the address's bits, or the address is IPv4-mapped IPv6, whose
            prefix length would be ambiguous.
    """
    address_text, _, length_text = text.partition("/")
    if not length_text.isdecimal() or not length_text.isascii():
        raise ValueError(f"{text!r} has no prefix length in bits after '/'")
    address = ipaddress.ip_address(address_text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"{text!r} is an IPv4-mapped IPv6 address with a prefix length; write the IPv4 block")
    length = int(length_text)
    if length > address.max_prefixlen:
        raise ValueError(f"{text!r} has a prefix longer than the {address.max_prefixlen} bits of its address")
    return ipaddress.ip_network((address, length), strict=False)


def ip_sort_key(text: str) -> bytes | None:
    """Return the 16 bytes by which Elasticsearch orders IP addresses (IPv4 as IPv4-mapped IPv6), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return b"\x00" * 10 + b"\xff\xff" + address.packed
    return address.packed
