"""Emit Python ``re`` source for a Lucene syntax tree, decimal intervals included."""

from __future__ import annotations

from stream.eql.lucene_regex.codepoints import _CaseVariants, _Range, _complement, _normalize
from stream.eql.lucene_regex.nodes import (
    _AnyChar,
    _AnyString,
    _CharSet,
    _Concat,
    _EmptyLanguage,
    _Interval,
    _Literal,
    _Node,
    _Repeat,
    _Union,
)

# Precedence of an emitted fragment: an atom takes a quantifier as is, a sequence needs a group before a
# quantifier, an alternation needs a group before a quantifier or inside a concatenation.
_ATOM, _SEQUENCE, _ALTERNATION = 0, 1, 2
_NEVER = "(?!)"


def _escape(character: str) -> str:
    """Return ``character`` as a Python regex literal, valid both inside and outside a class."""
    if character.isascii() and character.isalnum():
        return character
    if character.isascii() and character.isprintable():
        return "\\" + character
    if character.isprintable():
        return character
    code_point = ord(character)
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else f"\\U{code_point:08x}"


def _emit_class(ranges: list[_Range]) -> str:
    members = []
    for low, high in _normalize(ranges):
        members.append(_escape(chr(low)) if low == high else f"{_escape(chr(low))}-{_escape(chr(high))}")
    return "[" + "".join(members) + "]"


def _emit_character(character: str, variants: _CaseVariants | None) -> str:
    alternatives = variants(character) if variants else frozenset(character)
    if len(alternatives) == 1:
        return _escape(character)
    return _emit_class([(ord(c), ord(c)) for c in alternatives])


def _emit_char_set(node: _CharSet, variants: _CaseVariants | None) -> str:
    ranges = list(node.ranges)
    for character in node.singles:
        alternatives = variants(character) if variants else frozenset(character)
        ranges.extend((ord(c), ord(c)) for c in alternatives)
    if node.negated:
        ranges = list(_complement(ranges))
    return _emit_class(ranges) if ranges else _NEVER


def _quantifier(low: int, high: int | None) -> str:
    if (low, high) == (0, None):
        return "*"
    if (low, high) == (1, None):
        return "+"
    if (low, high) == (0, 1):
        return "?"
    if high is None:
        return f"{{{low},}}"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _emit(node: _Node, variants: _CaseVariants | None, any_char: str = ".") -> tuple[str, int]:
    """Return the Python source of ``node`` and its precedence (``_ATOM``, ``_SEQUENCE``, ``_ALTERNATION``).

    ``any_char`` is the source that ``.`` (and each character of ``@``) becomes. A node whose
    Lucene 9 automaton is empty emits exactly ``_NEVER``, so that parents can see it.
    """
    if isinstance(node, _Literal):
        if not node.text and variants:
            # Lucene 9 builds a case-insensitive "" (from "()" or '""' standing alone) as the empty language.
            return _NEVER, _SEQUENCE
        source = "".join(_emit_character(c, variants) for c in node.text)
        return source, _ATOM if len(node.text) == 1 else _SEQUENCE
    if isinstance(node, _CharSet):
        source = _emit_char_set(node, variants)
        return source, _SEQUENCE if source == _NEVER else _ATOM
    if isinstance(node, _AnyChar):
        return any_char, _ATOM
    if isinstance(node, _AnyString):
        return any_char + "*", _SEQUENCE
    if isinstance(node, _EmptyLanguage):
        return _NEVER, _SEQUENCE
    if isinstance(node, _Interval):
        return f"(?:{_interval_source(node)})", _ATOM
    if isinstance(node, _Concat):
        return _emit_concat(node, variants, any_char)
    if isinstance(node, _Union):
        return _emit_union(node, variants, any_char)
    return _emit_repeat(node, variants, any_char)


def _emit_concat(node: _Concat, variants: _CaseVariants | None, any_char: str) -> tuple[str, int]:
    pieces = [_emit(part, variants, any_char) for part in node.parts]
    if any(source == _NEVER for source, _ in pieces):
        return _NEVER, _SEQUENCE
    return "".join(_group_if(source, precedence, _ALTERNATION) for source, precedence in pieces), _SEQUENCE


def _emit_union(node: _Union, variants: _CaseVariants | None, any_char: str) -> tuple[str, int]:
    sources = [_emit(branch, variants, any_char)[0] for branch in node.branches]
    possible = [source for source in sources if source != _NEVER]
    if not possible:
        return _NEVER, _SEQUENCE
    return "|".join(possible), _ALTERNATION


def _emit_repeat(node: _Repeat, variants: _CaseVariants | None, any_char: str) -> tuple[str, int]:
    body, precedence = _emit(node.body, variants, any_char)
    if body == _NEVER:
        # Lucene 9 returns the empty language for "*", "+" and "{n,}" of an empty automaton, where
        # "{0,m}" and "?" still accept the empty string.
        return ("", _SEQUENCE) if node.low == 0 and node.high is not None else (_NEVER, _SEQUENCE)

    # Grouping a nested quantifier keeps Lucene's "(x*)?" from reading as Python's lazy "x*?".
    return _group_if(body, precedence, _SEQUENCE) + _quantifier(node.low, node.high), _SEQUENCE


def _group_if(source: str, precedence: int, threshold: int) -> str:
    return f"(?:{source})" if precedence >= threshold else source


# ---------------------------------------------------------------------------------------------------
# Numeric intervals


def _interval_source(node: _Interval) -> str:
    """Return a regex for the decimal strings Lucene's ``Automata.makeDecimalInterval`` accepts."""
    if node.width > 0:
        return _fixed_width_range(str(node.low).zfill(node.width), str(node.high).zfill(node.width))

    # No fixed width: any number of leading zeros, then the number without padding.
    branches = []
    for length in range(len(str(node.low)), len(str(node.high)) + 1):
        shortest = 0 if length == 1 else 10 ** (length - 1)
        low, high = max(node.low, shortest), min(node.high, 10**length - 1)
        branches.append(_fixed_width_range(str(low), str(high)))
    return "0*(?:" + "|".join(branches) + ")"


def _fixed_width_range(low: str, high: str) -> str:
    """Return a regex for the digit strings of ``len(low)`` characters from ``low`` to ``high``.

    The result may be a bare alternation, so callers group it before appending anything.
    """
    prefix_length = 0
    while prefix_length < len(low) and low[prefix_length] == high[prefix_length]:
        prefix_length += 1
    prefix, low, high = low[:prefix_length], low[prefix_length:], high[prefix_length:]
    if not low:
        return prefix

    rest = len(low) - 1
    tail = {0: "", 1: "[0-9]"}.get(rest, f"[0-9]{{{rest}}}")
    if low[1:] == "0" * rest and high[1:] == "9" * rest:
        return f"{prefix}{_digit_class(low[0], high[0])}{tail}"

    branches = [low[0] + _group_alternation(_fixed_width_range(low[1:], "9" * rest))]
    if int(high[0]) - int(low[0]) > 1:
        branches.append(_digit_class(str(int(low[0]) + 1), str(int(high[0]) - 1)) + tail)
    branches.append(high[0] + _group_alternation(_fixed_width_range("0" * rest, high[1:])))
    alternation = "|".join(branches)
    return f"{prefix}(?:{alternation})" if prefix else alternation


def _digit_class(low: str, high: str) -> str:
    return low if low == high else f"[{low}-{high}]"


def _group_alternation(source: str) -> str:
    return f"(?:{source})" if "|" in source else source
