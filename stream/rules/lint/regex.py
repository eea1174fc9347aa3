"""The regex review: ``regex`` and ``regex~`` patterns written for Perl or Python rather than Lucene."""

from __future__ import annotations

import re

from stream.eql.ast import Expression, Field, FunctionCall, Literal, Predicate, Query
from stream.rules.lint._syntax import eql_string, iter_predicates
from stream.rules.model import Rule


def regex_review_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per ``regex`` or ``regex~`` pattern of ``query`` that is written for Perl or Python.

    The warning lists the constructs that Lucene reads differently (see
    :class:`_RegexReview`) and, where every one of them can be rewritten,
    the portable condition to write instead. ``&`` and ``~`` are not
    checked, because the compiler rejects them.
    """
    warnings = []
    for predicate in iter_predicates(query.condition):
        if predicate.op not in ("regex", "regex~"):
            continue
        for value in predicate.values:
            if not isinstance(value.value, str):
                continue
            review = _RegexReview(value.value)
            if review.reasons:
                warnings.append(_regex_warning(rule, predicate, value, review))
    return warnings


def _regex_warning(rule: Rule, predicate: Predicate, pattern: Literal, review: _RegexReview) -> str:
    operand = f"{_operand_text(predicate.operand)} "
    message = (
        f"rule {rule.display_name!r}: {operand}{predicate.op} {eql_string(str(pattern.value))} on line "
        f"{pattern.line} of the query needs review, because Lucene reads it differently from a Perl or Python "
        f"regular expression. {'. '.join(review.reasons)}"
    )
    if review.portable is None:
        return f"{message}. Rewrite those constructs in Lucene syntax"
    operator = "regex~" if predicate.op == "regex~" or review.case_insensitive else "regex"
    return f"{message}. Portable form: {operand}{operator} {eql_string(review.portable)}"


def _operand_text(operand: Expression) -> str:
    if isinstance(operand, Field):
        return f"?{operand.name}" if operand.optional else operand.name
    if isinstance(operand, FunctionCall):
        return f"{operand.name}(...)"
    return "the value"


# Perl's shorthand classes as portable Lucene classes, and as members to list inside a class.
# The tab, line feed and carriage return are written as EQL string escapes in the message.
_SHORTHAND_CLASSES = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "s": "[ \t\n\r]",
    "S": "[^ \t\n\r]",
    "w": "[a-zA-Z0-9_]",
    "W": "[^a-zA-Z0-9_]",
}
_SHORTHAND_MEMBERS = {"d": "0-9", "s": " \t\n\r", "w": "a-zA-Z0-9_"}

# The meaning of these characters in Elasticsearch's regexp query, which enables Lucene's optional operators.
_OPTIONAL_OPERATORS = {
    "@": "'@' matches any string",
    "#": "'#' matches no string",
    "<": "'<' starts a numeric interval such as <1-3>",
    ">": "'>' ends a numeric interval",
}

# Perl's inline flags, (?i) or (?i:...), and its non-capturing group (?:...).
_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-[a-zA-Z]*)?([:)])")


class _RegexReview:
    """The constructs of one Lucene pattern that a Perl or Python author likely misread, and a portable form.

    The pattern is read once, as Lucene's parser reads it. A backslash
    escapes the next character, ``"..."`` is a literal sequence, and inside
    ``[...]`` only a backslash and the closing ``]`` matter here.

    ``reasons`` lists, one sentence each, what Lucene does with the
    constructs, and is empty when there are none. ``portable`` is the
    pattern with the anchors and flag groups removed, the shorthand classes
    written out and the operators escaped, or ``None`` when a construct (a
    look-around group, or ``\\D``, ``\\S`` or ``\\W`` inside a class) has no
    portable form. ``case_insensitive`` is true when the pattern had an
    ``i`` flag, so the portable form needs ``regex~``.
    """

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._position = 0
        self._parts: list[str] = []
        self._rewritable = True
        self._anchors: list[str] = []
        self._anchor_positions: list[int] = []
        self._shorthands: list[str] = []
        self._groups: list[str] = []
        self._operators: list[str] = []
        self.case_insensitive = False

        while self._position < len(pattern):
            self._read_operand()

        self.reasons = self._reasons()
        self.portable = self._portable_form()

    def _read_operand(self) -> None:
        character = self._pattern[self._position]
        if character == "\\":
            self._read_escape(in_class=False)
        elif character == '"':
            self._copy_quoted()
        elif character == "[":
            self._read_class()
        elif character == "(" and self._pattern.startswith("(?", self._position):
            self._read_perl_group()
        elif character in "^$":
            _add_once(self._anchors, character)
            self._anchor_positions.append(self._position)
            self._position += 1
        elif character in _OPTIONAL_OPERATORS:
            _add_once(self._operators, character)
            self._parts.append(f"\\{character}")
            self._position += 1
        else:
            self._parts.append(character)
            self._position += 1

    def _portable_form(self) -> str | None:
        """Return the rewritten pattern, or ``None`` when a construct has no portable form.

        A Perl pattern with anchors searches the value, while a Lucene pattern
        matches all of it, so an end without its anchor gets ``.*``: ``^cmd``
        becomes ``cmd.*``. An anchor inside the pattern has no such rewrite.
        """
        if not self._rewritable:
            return None
        body = "".join(self._parts)
        if not self._anchor_positions:
            return body
        last = len(self._pattern) - 1
        if any(position not in (0, last) for position in self._anchor_positions):
            return None
        starts_anchored = 0 in self._anchor_positions and self._pattern.startswith("^")
        ends_anchored = last > 0 and last in self._anchor_positions and self._pattern.endswith("$")
        prefix = "" if starts_anchored else ".*"
        suffix = "" if ends_anchored else ".*"
        return prefix + body + suffix

    def _read_escape(self, *, in_class: bool) -> None:
        escaped = self._pattern[self._position : self._position + 2]
        self._position += len(escaped)
        letter = escaped[1:]
        if letter not in _SHORTHAND_CLASSES:
            self._parts.append(escaped)
            return

        _add_once(self._shorthands, escaped)
        if not in_class:
            self._parts.append(_SHORTHAND_CLASSES[letter])
        elif letter in _SHORTHAND_MEMBERS:
            self._parts.append(_SHORTHAND_MEMBERS[letter])
        else:
            self._parts.append(escaped)
            self._rewritable = False

    def _copy_quoted(self) -> None:
        end = self._pattern.find('"', self._position + 1)
        end = len(self._pattern) if end == -1 else end + 1
        self._parts.append(self._pattern[self._position : end])
        self._position = end

    def _read_class(self) -> None:
        # Lucene reads the first member literally, even ']', after an optional '^' that negates the class.
        start = self._position + 1
        if self._pattern.startswith("^", start):
            start += 1
        self._parts.append(self._pattern[self._position : start])
        self._position = start

        while self._position < len(self._pattern):
            character = self._pattern[self._position]
            if character == "]" and self._position > start:
                self._parts.append(character)
                self._position += 1
                return
            if character == "\\":
                self._read_escape(in_class=True)
            else:
                self._parts.append(character)
                self._position += 1

    def _read_perl_group(self) -> None:
        flags = _INLINE_FLAGS.match(self._pattern, self._position)
        if flags is None:
            # A look-around or named group: Lucene has none, and no rewrite keeps its meaning.
            _add_once(self._groups, self._pattern[self._position : self._position + 3])
            self._parts.append("(?")
            self._position += 2
            self._rewritable = False
            return

        _add_once(self._groups, flags.group(0))
        if "i" in flags.group(1):
            self.case_insensitive = True
        if flags.group(2) == ":":
            self._parts.append("(")
        self._position = flags.end()

    def _reasons(self) -> list[str]:
        reasons = []
        if self._anchors:
            meaning = "is a literal character in Lucene, not an anchor"
            if len(self._anchors) > 1:
                meaning = "are literal characters in Lucene, not anchors"
            reasons.append(
                f"{_quoted_list(self._anchors)} {meaning}, because a Lucene pattern always matches the whole value"
            )
        if self._shorthands:
            noun, article = ("class", "a ") if len(self._shorthands) == 1 else ("classes", "")
            reasons.append(
                f"Whether Lucene reads the Perl {noun} {_quoted_list(self._shorthands)} as {article}{noun} depends on the "
                "Elasticsearch version"
            )
        if self._groups:
            advice = ", so use regex~ for a case-insensitive match" if self.case_insensitive else ""
            reasons.append(
                f"Lucene has no inline flags or (?...) groups and reads the '?' of {_quoted_list(self._groups)} "
                f"as a literal character{advice}"
            )
        if self._operators:
            noun = "an operator" if len(self._operators) == 1 else "operators"
            meanings = ", ".join(_OPTIONAL_OPERATORS[operator] for operator in self._operators)
            reasons.append(f"Lucene reads an unescaped {_quoted_list(self._operators)} as {noun} ({meanings})")
        return reasons


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _quoted_list(items: list[str]) -> str:
    quoted = [f"'{item}'" for item in items]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
