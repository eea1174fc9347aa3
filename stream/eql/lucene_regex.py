"""Translate Lucene regular expressions, as EQL ``regex`` and ``regex~`` use them, into Python ``re``.

Elasticsearch evaluates ``field regex "p"`` as a ``regexp`` query: a Lucene ``RegExp`` that must match the
whole value. EQL builds the query with ``regexpQuery(field, p)`` and, for ``regex~``, adds
``caseInsensitive(true)``, which sets Lucene's ``ASCII_CASE_INSENSITIVE`` match flag. The syntax flags are
the query default, ``RegexpFlag.ALL``: ``RegExp.ALL`` in Elasticsearch 8.x, ``RegExp.ALL |
DEPRECATED_COMPLEMENT`` in 9.x. So every optional operator is enabled.

Sources checked: ``org.apache.lucene.util.automaton.RegExp`` of Lucene 9 (the parser with the predefined
classes ``\\d \\s \\w``, bundled with Elasticsearch 8.x) and of Lucene 10, Elasticsearch's ``RegexpFlag``
and the EQL ``RegexQuery``. The parser below mirrors the Lucene 9 grammar, and its results were compared
with lucene-core 9.12.0 on generated patterns and values. Lucene's rules, quirks included:

- Operators are ``| & ? * + {n} {n,} {n,m} ~ ( ) [ ] . # @ " < >`` and ``\\``. A repetition operator, ``)``,
  ``|`` or ``&`` in the place of an operand is a literal character (``*a`` matches ``*a``), and ``]``, ``}``
  and ``>`` outside their constructs are literals. ``a|`` and ``(a|)`` are invalid.
- ``\\`` makes the next character literal. ``\\d \\D \\s \\S \\w \\W`` are the ASCII classes ``[0-9]``,
  ``[ \\t\\n\\r]`` and ``[a-zA-Z_0-9]`` and their complements. A backslash before any other ASCII letter is
  invalid, so ``\\n`` and ``\\t`` are errors rather than control characters.
- ``"..."`` is a literal string without escapes. ``.`` is any code point, newlines included. ``@`` is any
  string and ``#`` matches nothing. ``<n-m>`` is a decimal interval. When ``n`` and ``m`` are written with
  the same number of characters, the value has exactly that many digits (zero-padded). Otherwise any
  number of leading zeros is accepted.
- In a class only ``\\``, ``-`` after a character, ``^`` first and ``]`` after the first member are special.
  ``[]a]`` lists ``]`` and ``a``, and ``[a-]`` is an invalid range from ``a`` to ``]``.
- ``regex~`` folds literal characters and characters listed singly in a class. Ranges and the predefined
  classes are not folded, and only ASCII letters fold (Lucene 9 leaves code points above 128 alone).
- Lucene 9 builds some empty languages oddly. ``*``, ``+`` and ``{n,}`` of a part that matches nothing
  also match nothing, so ``#*`` rejects the empty string. Under ``regex~``, an empty ``()`` or ``""`` that
  is not joined to a neighbouring literal matches nothing.

Decisions:

- ``~`` (complement) and ``&`` (intersection) have no equivalent in Python ``re``. They raise
  :class:`LuceneRegexError` with ``unsupported=True`` and the advice to escape them if they were meant
  literally. A named automaton ``<name>`` raises an ordinary error because Elasticsearch provides none.
- ``{n,m}`` with ``n > m`` raises, as Lucene 9.12 and 10 do. Older Lucene 9 parsers do not check it.
- With ``unicode_case=True``, ``regex~`` folds by simple Unicode case folding per code point, the behaviour
  of the releases that fold Unicode. Ranges still are not folded.

NOTE: Python's ``re`` backtracks where Lucene runs a deterministic automaton, so nested repetitions such as
``(a*)*b`` can take time exponential in the value length. Patterns in Elastic's prebuilt rules are simple.
NOTE: Elasticsearch also rejects patterns longer than ``index.max_regex_length`` (1000 by default) and
patterns whose automaton exceeds ``max_determinized_states`` (10000 by default). This module checks neither.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "LuceneRegexError",
    "compile_lucene_regex",
    "necessary_substrings",
    "translate_lucene_regex",
]

_MAX_CODE_POINT = 0x10FFFF
_JAVA_INT_MAX = 2**31 - 1
_ASCII_DIGITS = "0123456789"
_PREDEFINED_CLASSES = "dDsSwW"
# Lucene 9 rejects a backslash before these letters: every ASCII letter that names no predefined class.
_INVALID_ESCAPE_LETTERS = frozenset("abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ")
# Largest finite language tracked exactly when deriving necessary substrings.
_EXACT_LIMIT = 64

_Range = tuple[int, int]


class LuceneRegexError(ValueError):
    """An invalid Lucene regular expression, or one that uses an operator eql-stream does not support.

    ``pattern`` is the Lucene pattern and ``position`` the 0-based code point index of the offending
    character, or ``None`` when the error concerns the whole pattern. ``unsupported`` is true when
    Elasticsearch accepts the pattern but Python ``re`` cannot express it (complement ``~`` and
    intersection ``&``).
    """

    def __init__(
        self, message: str, *, pattern: str, position: int | None, unsupported: bool = False
    ) -> None:
        self.message = message
        self.pattern = pattern
        self.position = position
        self.unsupported = unsupported
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"Lucene regular expression {pattern!r}{where}: {message}")


# ---------------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class _Literal:
    """A fixed sequence of code points: single characters and ``"..."`` strings (folded by ``regex~``)."""

    text: str


@dataclass(frozen=True)
class _CharSet:
    """One code point from a class. ``singles`` fold under ``regex~``, ``ranges`` never do."""

    singles: tuple[str, ...]
    ranges: tuple[_Range, ...]
    negated: bool = False


@dataclass(frozen=True)
class _AnyChar:
    """``.``: any single code point."""


@dataclass(frozen=True)
class _AnyString:
    """``@``: any string, the empty string included."""


@dataclass(frozen=True)
class _EmptyLanguage:
    """``#``: matches no string at all."""


@dataclass(frozen=True)
class _Interval:
    """``<low-high>``: decimal numbers in the closed interval. ``width`` 0 means no fixed width."""

    low: int
    high: int
    width: int


@dataclass(frozen=True)
class _Concat:
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Union:
    branches: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    """``body`` repeated ``low`` to ``high`` times. ``high`` is ``None`` when unbounded."""

    body: _Node
    low: int
    high: int | None


_Node = _Literal | _CharSet | _AnyChar | _AnyString | _EmptyLanguage | _Interval | _Concat | _Union | _Repeat


# ---------------------------------------------------------------------------------------------------
# Parser


def _predefined_ranges(letter: str) -> tuple[_Range, ...]:
    """Return the code point ranges of the Lucene class ``\\<letter>``."""
    positive: dict[str, tuple[_Range, ...]] = {
        "d": ((0x30, 0x39),),
        "s": ((0x09, 0x0A), (0x0D, 0x0D), (0x20, 0x20)),
        "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    }
    ranges = positive[letter.lower()]
    return _complement(ranges) if letter.isupper() else ranges


class _Parser:
    """Recursive-descent parser of one Lucene pattern, following the structure of Lucene 9's ``RegExp``."""

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._pos = 0

    def parse(self) -> _Node:
        if not self._pattern:
            return _Literal("")

        node = self._parse_union()
        if self._more():
            # Only a ')' without a matching '(' stops the top-level union before the end.
            raise self._error("unbalanced ')'. Remove it, or write \\) for a literal parenthesis", self._pos)
        return node

    # -- helpers ------------------------------------------------------------------------------------

    def _error(self, message: str, position: int | None, *, unsupported: bool = False) -> LuceneRegexError:
        return LuceneRegexError(message, pattern=self._pattern, position=position, unsupported=unsupported)

    def _more(self) -> bool:
        return self._pos < len(self._pattern)

    def _peek(self, characters: str) -> bool:
        return self._more() and self._pattern[self._pos] in characters

    def _accept(self, character: str) -> bool:
        if self._peek(character):
            self._pos += 1
            return True
        return False

    def _next(self) -> str:
        if not self._more():
            raise self._error(
                "unexpected end of pattern: an operand is missing. Escape the last operator with \\ "
                "if it was meant literally",
                self._pos,
            )
        character = self._pattern[self._pos]
        self._pos += 1
        return character

    # -- expressions --------------------------------------------------------------------------------

    def _parse_union(self) -> _Node:
        branches = [self._parse_intersection()]
        while self._accept("|"):
            branches.append(self._parse_intersection())
        return branches[0] if len(branches) == 1 else _Union(tuple(branches))

    def _parse_intersection(self) -> _Node:
        node = self._parse_concat()
        if self._peek("&"):
            raise self._error(
                "intersection '&' is not supported by eql-stream yet. Write \\& if a literal '&' was meant",
                self._pos,
                unsupported=True,
            )
        return node

    def _parse_concat(self) -> _Node:
        parts = [self._parse_repeat()]
        while self._more() and not self._peek(")|&"):
            parts.append(self._parse_repeat())
        return _merge_literals(parts)

    def _parse_repeat(self) -> _Node:
        node = self._parse_complement()
        while self._peek("?*+{"):
            operator_pos = self._pos
            operator = self._next()
            if operator == "?":
                node = _Repeat(node, 0, 1)
            elif operator == "*":
                node = _Repeat(node, 0, None)
            elif operator == "+":
                node = _Repeat(node, 1, None)
            else:
                node = self._parse_bounds(node, operator_pos)
        return node

    def _parse_bounds(self, body: _Node, brace_pos: int) -> _Repeat:
        low = self._parse_count()
        high: int | None = low
        if self._accept(","):
            high = self._parse_count() if self._peek(_ASCII_DIGITS) else None
        if not self._accept("}"):
            raise self._error(
                "expected '}' to close the repetition. Write \\{ for a literal brace", self._pos
            )

        if high is not None and low > high:
            raise self._error(
                f"invalid repetition {{{low},{high}}}: the minimum is greater than the maximum. "
                f"Swap the bounds",
                brace_pos,
            )
        return _Repeat(body, low, high)

    def _parse_count(self) -> int:
        start = self._pos
        while self._peek(_ASCII_DIGITS):
            self._pos += 1
        if start == self._pos:
            raise self._error(
                "expected a number in the repetition. Write \\{ for a literal brace", self._pos
            )

        count = _java_int(self._pattern[start : self._pos])
        if count is None:
            raise self._error(
                f"repetition count exceeds {_JAVA_INT_MAX}, the maximum Lucene accepts. Use a smaller count",
                start,
            )
        return count

    def _parse_complement(self) -> _Node:
        if self._peek("~"):
            raise self._error(
                "complement '~' is not supported by eql-stream yet. Write \\~ if a literal '~' was meant",
                self._pos,
                unsupported=True,
            )
        return self._parse_class_expression()

    # -- character classes --------------------------------------------------------------------------

    def _parse_class_expression(self) -> _Node:
        if not self._peek("["):
            return self._parse_simple()

        open_pos = self._pos
        self._pos += 1
        negated = self._accept("^")
        singles: list[str] = []
        ranges: list[_Range] = []
        while True:
            if not self._more():
                raise self._unclosed_class(open_pos)
            self._parse_class_member(singles, ranges)
            if self._peek("]"):
                break

        self._pos += 1
        return _CharSet(tuple(singles), tuple(ranges), negated)

    def _unclosed_class(self, open_pos: int) -> LuceneRegexError:
        return self._error(
            "unclosed character class: '[' has no matching ']'. Write \\[ for a literal bracket", open_pos
        )

    def _parse_class_member(self, singles: list[str], ranges: list[_Range]) -> None:
        escape = self._parse_escape()
        if isinstance(escape, tuple):
            ranges.extend(escape)
            return
        if escape is not None:
            # Lucene 9 returns an escaped backslash at once, so it never starts a range.
            singles.append(escape)
            return

        low_pos = self._pos
        low = self._parse_character()
        if not self._accept("-"):
            singles.append(low)
            return

        high = self._parse_character()
        if ord(low) > ord(high):
            hint = ". A '-' before ']' starts a range, so write \\- for a literal dash" if high == "]" else ""
            raise self._error(f"invalid range {low!r}-{high!r}: the start is after the end{hint}", low_pos)
        ranges.append((ord(low), ord(high)))

    def _parse_escape(self) -> tuple[_Range, ...] | str | None:
        """Consume a backslash and a predefined class or backslash after it.

        Returns the ranges of ``\\d`` and the like, the character ``\\`` for ``\\\\``, or ``None``. For
        ``None`` the backslash stays consumed (as in Lucene 9) and the caller reads the next character
        literally.
        """
        if not self._accept("\\"):
            return None
        if not self._more():
            raise self._error("trailing backslash. Write \\\\ for a literal backslash", self._pos - 1)

        character = self._pattern[self._pos]
        if character in _PREDEFINED_CLASSES:
            self._pos += 1
            return _predefined_ranges(character)
        if character == "\\":
            self._pos += 1
            return "\\"
        if character in _INVALID_ESCAPE_LETTERS:
            raise self._error(
                f"invalid escape \\{character}: Lucene allows a backslash before a letter only in "
                "\\d \\D \\s \\S \\w \\W. Write the letter without a backslash",
                self._pos - 1,
            )
        return None

    def _parse_character(self) -> str:
        self._accept("\\")
        return self._next()

    # -- operands -----------------------------------------------------------------------------------

    def _parse_simple(self) -> _Node:
        start = self._pos
        if self._accept("."):
            return _AnyChar()
        if self._accept("#"):
            return _EmptyLanguage()
        if self._accept("@"):
            return _AnyString()
        if self._accept('"'):
            return self._parse_quoted(start)
        if self._accept("("):
            return self._parse_group(start)
        if self._accept("<"):
            return self._parse_angle(start)

        escape = self._parse_escape()
        if isinstance(escape, tuple):
            return _CharSet((), escape)
        if escape is not None:
            return _Literal(escape)
        return _Literal(self._parse_character())

    def _parse_quoted(self, start: int) -> _Literal:
        end = self._pattern.find('"', self._pos)
        if end == -1:
            raise self._error("unclosed '\"' string. Write \\\" for a literal quote", start)
        text = self._pattern[self._pos : end]
        self._pos = end + 1
        return _Literal(text)

    def _parse_group(self, start: int) -> _Node:
        if self._accept(")"):
            return _Literal("")
        node = self._parse_union()
        if not self._accept(")"):
            raise self._error(
                "unclosed group: '(' has no matching ')'. Write \\( for a literal parenthesis", start
            )
        return node

    def _parse_angle(self, start: int) -> _Interval:
        end = self._pattern.find(">", self._pos)
        if end == -1:
            raise self._error("unclosed '<': expected '>'. Write \\< for a literal angle bracket", start)
        body = self._pattern[self._pos : end]
        self._pos = end + 1

        if "-" not in body:
            raise self._error(
                f"named automaton <{body}> is not available in Elasticsearch. "
                f"Write \\< and \\> for literal angle brackets",
                start,
            )
        return self._parse_interval(body, start)

    def _parse_interval(self, body: str, start: int) -> _Interval:
        dash = body.find("-")
        low_text, high_text = body[:dash], body[dash + 1 :]
        low, high = _java_int(low_text), _java_int(high_text)
        if low is None or high is None:
            raise self._error(
                f"invalid numeric interval <{body}>: expected <n-m> with decimal integers up to "
                f"{_JAVA_INT_MAX}. Write \\< and \\> for literal angle brackets",
                start,
            )

        if low > high:
            low, high = high, low
        width = len(low_text) if len(low_text) == len(high_text) else 0
        return _Interval(low, high, width)


def _java_int(text: str) -> int | None:
    """Return the value Java's ``Integer.parseInt`` reads from ``text``, or ``None`` if it rejects it.

    Only ASCII digits are accepted, after an optional ``+``. NOTE: Java also accepts non-ASCII decimal
    digits such as U+0663 in a numeric interval, which this function rejects.
    """
    digits = text.removeprefix("+")
    if not digits or any(c not in _ASCII_DIGITS for c in digits):
        return None

    # Strip zeros before converting because Python rejects strings of thousands of digits.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(_JAVA_INT_MAX)) or int(significant) > _JAVA_INT_MAX:
        return None
    return int(significant)


def _merge_literals(parts: list[_Node]) -> _Node:
    merged: list[_Node] = []
    for part in parts:
        previous = merged[-1] if merged else None
        if isinstance(part, _Literal) and isinstance(previous, _Literal):
            merged[-1] = _Literal(previous.text + part.text)
        else:
            merged.append(part)
    return merged[0] if len(merged) == 1 else _Concat(tuple(merged))


# ---------------------------------------------------------------------------------------------------
# Code point ranges and case folding


def _normalize(ranges: list[_Range]) -> list[_Range]:
    merged: list[_Range] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _complement(ranges: tuple[_Range, ...] | list[_Range]) -> tuple[_Range, ...]:
    gaps: list[_Range] = []
    next_low = 0
    for low, high in _normalize(list(ranges)):
        if low > next_low:
            gaps.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= _MAX_CODE_POINT:
        gaps.append((next_low, _MAX_CODE_POINT))
    return tuple(gaps)


_CaseVariants = Callable[[str], frozenset[str]]


def _ascii_variants(character: str) -> frozenset[str]:
    if character.isascii() and character.isalpha():
        return frozenset((character.lower(), character.upper()))
    return frozenset(character)


def _simple_fold(character: str) -> str:
    """Approximate Unicode simple case folding of one code point with Python's full mappings."""
    for mapped in (character.casefold(), character.lower()):
        if len(mapped) == 1:
            return mapped
    return character


@functools.cache
def _unicode_fold_classes() -> dict[str, frozenset[str]]:
    """Map each folded code point to all code points that fold to it, scanning every code point once."""
    groups: dict[str, set[str]] = {}
    for code_point in range(_MAX_CODE_POINT + 1):
        character = chr(code_point)
        folded = _simple_fold(character)
        if folded != character:
            groups.setdefault(folded, {folded}).add(character)
    return {folded: frozenset(members) for folded, members in groups.items()}


def _unicode_variants(character: str) -> frozenset[str]:
    # NOTE: Python exposes only full case mappings, so a code point whose full folding has several
    # characters only gets its simple lower-case partner. Lucene 10's own table also differs (it groups
    # i, I, U+0130 and U+0131).
    return _unicode_fold_classes().get(_simple_fold(character), frozenset(character))


# ---------------------------------------------------------------------------------------------------
# Emitting Python source

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


def _emit(node: _Node, variants: _CaseVariants | None) -> tuple[str, int]:
    """Return the Python source of ``node`` and its precedence (``_ATOM``, ``_SEQUENCE``, ``_ALTERNATION``).

    A node whose Lucene 9 automaton is empty emits exactly ``_NEVER``, so that parents can see it.
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
        return ".", _ATOM
    if isinstance(node, _AnyString):
        return ".*", _SEQUENCE
    if isinstance(node, _EmptyLanguage):
        return _NEVER, _SEQUENCE
    if isinstance(node, _Interval):
        return f"(?:{_interval_source(node)})", _ATOM
    if isinstance(node, _Concat):
        return _emit_concat(node, variants)
    if isinstance(node, _Union):
        return _emit_union(node, variants)
    return _emit_repeat(node, variants)


def _emit_concat(node: _Concat, variants: _CaseVariants | None) -> tuple[str, int]:
    pieces = [_emit(part, variants) for part in node.parts]
    if any(source == _NEVER for source, _ in pieces):
        return _NEVER, _SEQUENCE
    return "".join(_group_if(source, precedence, _ALTERNATION) for source, precedence in pieces), _SEQUENCE


def _emit_union(node: _Union, variants: _CaseVariants | None) -> tuple[str, int]:
    sources = [_emit(branch, variants)[0] for branch in node.branches]
    possible = [source for source in sources if source != _NEVER]
    if not possible:
        return _NEVER, _SEQUENCE
    return "|".join(possible), _ALTERNATION


def _emit_repeat(node: _Repeat, variants: _CaseVariants | None) -> tuple[str, int]:
    body, precedence = _emit(node.body, variants)
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


# ---------------------------------------------------------------------------------------------------
# Necessary substrings


@dataclass(frozen=True)
class _Facts:
    """``exact``: every string the node matches, when few. ``required``: a sound set of needed substrings."""

    exact: frozenset[str] | None
    required: frozenset[str] | None


_UNKNOWN = _Facts(None, None)
_NOTHING = _Facts(frozenset(), frozenset())


def _from_exact(strings: frozenset[str] | None) -> _Facts:
    if strings is None or len(strings) > _EXACT_LIMIT:
        return _UNKNOWN
    # A set containing "" is sound but useless as a filter.
    return _Facts(strings, None if "" in strings else strings)


def _product(left: frozenset[str], right: frozenset[str]) -> frozenset[str] | None:
    if len(left) * len(right) > _EXACT_LIMIT:
        return None
    return frozenset(a + b for a in left for b in right)


def _better(candidate: frozenset[str] | None, best: frozenset[str] | None) -> frozenset[str] | None:
    """Prefer the set whose shortest member is longer, then the smaller set."""
    if candidate is None or "" in candidate:
        return best
    if best is None:
        return candidate

    def score(strings: frozenset[str]) -> tuple[int, int]:
        return min((len(s) for s in strings), default=1 << 30), -len(strings)

    return candidate if score(candidate) > score(best) else best


def _concat_facts(parts: tuple[_Node, ...]) -> _Facts:
    facts = [_facts(part) for part in parts]
    if any(f.exact == frozenset() for f in facts):
        return _NOTHING

    best: frozenset[str] | None = None
    # Every concatenation of the exact parts read since the last inexact part.
    run: frozenset[str] = frozenset({""})
    all_exact = True
    for fact in facts:
        if fact.exact is None:
            best = _better(fact.required, _better(run, best))
            run, all_exact = frozenset({""}), False
            continue

        combined = _product(run, fact.exact)
        if combined is None:
            # Too many combinations: the run so far becomes a candidate and a new run starts.
            best = _better(run, best)
            combined, all_exact = fact.exact, False
        run = combined

    if all_exact:
        return _from_exact(run)
    return _Facts(None, _better(run, best))


def _char_set_facts(node: _CharSet) -> _Facts:
    if node.negated or sum(high - low + 1 for low, high in node.ranges) > _EXACT_LIMIT:
        return _UNKNOWN
    members = set(node.singles)
    for low, high in node.ranges:
        members.update(chr(c) for c in range(low, high + 1))
    return _from_exact(frozenset(members))


def _repeat_facts(node: _Repeat) -> _Facts:
    body = _facts(node.body)
    if node.high == 0 or (body.exact == frozenset() and node.low == 0):
        return _from_exact(frozenset({""}))
    if body.exact == frozenset():
        return _NOTHING

    if body.exact is not None and node.low == node.high and node.low <= _EXACT_LIMIT:
        strings: frozenset[str] | None = frozenset({""})
        for _ in range(node.low):
            strings = _product(strings, body.exact) if strings is not None else None
        if strings is not None:
            return _from_exact(strings)
    return _Facts(None, body.required if node.low >= 1 else None)


def _union_facts(branches: tuple[_Node, ...]) -> _Facts:
    facts = [_facts(branch) for branch in branches]
    if all(f.exact is not None for f in facts):
        exact = frozenset().union(*(f.exact for f in facts if f.exact is not None))
        if len(exact) <= _EXACT_LIMIT:
            return _from_exact(exact)
    if all(f.required is not None for f in facts):
        return _Facts(None, frozenset().union(*(f.required for f in facts if f.required is not None)))
    return _UNKNOWN


def _facts(node: _Node) -> _Facts:
    if isinstance(node, _Literal):
        return _from_exact(frozenset({node.text}))
    if isinstance(node, _CharSet):
        return _char_set_facts(node)
    if isinstance(node, _EmptyLanguage):
        return _NOTHING
    if isinstance(node, _Concat):
        return _concat_facts(node.parts)
    if isinstance(node, _Repeat):
        return _repeat_facts(node)
    if isinstance(node, _Union):
        return _union_facts(node.branches)
    return _UNKNOWN


# ---------------------------------------------------------------------------------------------------
# Public API


def translate_lucene_regex(
    pattern: str, *, case_insensitive: bool = False, unicode_case: bool = False
) -> str:
    """Translate the Lucene pattern into Python regex source for ``re.fullmatch``.

    The source starts with ``(?s:`` so that ``.`` also matches newlines, and contains no other flag.
    ``case_insensitive`` gives ``regex~`` semantics as :func:`compile_lucene_regex` describes, and
    ``unicode_case`` has an effect only together with it. Raises :class:`LuceneRegexError` for an invalid pattern or an
    unsupported operator.
    """
    tree = _Parser(pattern).parse()
    variants: _CaseVariants | None = None
    if case_insensitive:
        variants = _unicode_variants if unicode_case else _ascii_variants
    source, _ = _emit(tree, variants)
    return f"(?s:{source})"


def compile_lucene_regex(
    pattern: str, *, case_insensitive: bool = False, unicode_case: bool = False
) -> re.Pattern[str]:
    """Compile the Lucene pattern into a Python pattern that matches the same strings with ``fullmatch``.

    With ``case_insensitive=True`` (``regex~``), ASCII letters written as literal characters or listed
    singly in a class match either case. Ranges and the classes ``\\d \\s \\w`` are not folded. Non-ASCII
    letters never fold unless ``unicode_case=True``, which then applies simple case folding per code point
    to the same characters. Raises :class:`LuceneRegexError` for an invalid pattern or an unsupported
    operator.
    """
    source = translate_lucene_regex(pattern, case_insensitive=case_insensitive, unicode_case=unicode_case)
    return re.compile(source)


def necessary_substrings(pattern: str) -> frozenset[str] | None:
    """Return literal substrings, one of which every string matched by the Lucene pattern contains.

    The substrings keep the case written in the pattern. For ``regex~`` the caller must fold both the
    substrings and the value with the same fold that ``regex~`` uses. An empty set means the pattern
    matches no string at all. Returns ``None`` when no useful set can be derived (for example for ``.*``).
    Raises :class:`LuceneRegexError` for an invalid pattern or an unsupported operator.
    """
    return _facts(_Parser(pattern).parse()).required
