"""Text helpers with Elasticsearch's exact rules: ASCII case folding and UTF-16 lengths."""

from __future__ import annotations

import json
from collections.abc import Callable

# Python regex source for one character other than a line terminator of Java's regular expressions
# (\n, \r, U+0085, U+2028, U+2029): what "." matches where Elasticsearch evaluates a pattern on a
# function result, in a script.
ANY_BUT_JAVA_LINE_BREAK = "[^\\n\\r\\u0085\\u2028\\u2029]"

_ASCII_LOWER = str.maketrans({chr(code): chr(code + 32) for code in range(ord("A"), ord("Z") + 1)})


def fold_ascii(text: str) -> str:
    """Map the 26 ASCII letters A-Z to a-z and leave every other character as it is.

    This is the case folding of Elasticsearch 8.0 to 9.4 for ``:``, ``in~``,
    ``like~``, ``regex~`` and the ``~`` functions on a field. ``str.lower`` is
    only used for pure-ASCII text, where it is identical and faster.
    """
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_LOWER)


def fold_unicode(text: str) -> str:
    """Fold case per code point with simple (one-to-one) Unicode case folding.

    Used by the ``unicode`` case-folding setting, which models Elasticsearch
    releases after 9.4. Characters whose folding would change the length (such
    as ``ß``) keep their own form, because simple folding maps one code point to one.
    """
    if text.isascii():
        return text.lower()
    folded = []
    for char in text:
        lower = char.casefold()
        if len(lower) != 1:
            lower = char.lower() if len(char.lower()) == 1 else char
        folded.append(lower)
    return "".join(folded)


def folding_function(mode: str) -> Callable[[str], str]:
    """Return the folding function for a case-folding setting (``ascii`` or ``unicode``).

    Raises:
        ValueError: for any other setting.
    """
    if mode == "ascii":
        return fold_ascii
    if mode == "unicode":
        return fold_unicode
    raise ValueError(f"invalid case folding {mode!r}: use 'ascii' or 'unicode'")


def utf16_length(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units (astral characters count 2)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_units(text: str) -> bytes:
    """Return ``text`` encoded as UTF-16 little-endian, for slicing by code unit."""
    return text.encode("utf-16-le", "surrogatepass")


def from_utf16_units(data: bytes) -> str:
    """Decode UTF-16 little-endian code units; a split surrogate pair stays a lone surrogate."""
    return data.decode("utf-16-le", "surrogatepass")


def java_equals_ignore_case(left: str, right: str) -> bool:
    """Compare like Java's ``String.equalsIgnoreCase``: per UTF-16 unit, upper then lower case.

    Elasticsearch uses this for ``:`` without wildcards when the left side is a
    function result rather than a field.
    """
    if left == right:
        return True
    left_units = utf16_units(left)
    right_units = utf16_units(right)
    if len(left_units) != len(right_units):
        return False
    for index in range(0, len(left_units), 2):
        a = chr(int.from_bytes(left_units[index : index + 2], "little"))
        b = chr(int.from_bytes(right_units[index : index + 2], "little"))
        if a == b:
            continue
        upper_a, upper_b = _java_upper(a), _java_upper(b)
        if upper_a == upper_b or upper_a.lower() == upper_b.lower():
            continue
        return False
    return True


def _java_upper(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else char


def eql_literal(value: object) -> str:
    """Return ``value`` as it is written in an EQL query, for error messages.

    ``None`` is ``null``, booleans are ``true`` and ``false``, and strings are
    double-quoted with JSON escapes.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)
