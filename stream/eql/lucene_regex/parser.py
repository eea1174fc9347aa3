"""Parse a Lucene regular expression into the syntax tree of :mod:`stream.eql.lucene_regex.nodes`.

The module docstring of :mod:`stream.eql.lucene_regex` lists the grammar's rules and quirks.
"""

from __future__ import annotations

from stream.eql.lucene_regex.codepoints import _Range, _complement
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

_JAVA_INT_MAX = 2**31 - 1
_ASCII_DIGITS = "0123456789"
_PREDEFINED_CLASSES = "dDsSwW"
# Lucene 9 rejects a backslash before these letters: every ASCII letter that names no predefined class.
_INVALID_ESCAPE_LETTERS = frozenset("abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ")


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
