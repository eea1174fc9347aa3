"""A slow reference evaluator of single-event EQL, written from the semantics spec.

The compiled matcher in ``stream.eql`` is tuned for speed. This module spells
out every rule of the spec as plainly as possible instead, so that
property-based tests can compare the two and catch the compiler's mistakes.
It shares no matching code with the compiler. The only thing it borrows is
``builtin_field_spec``, the mapping from field name to field type, because
that is configuration rather than semantics.

What it covers: fields (plain and ``?optional``), string, number, boolean and
``null`` literals, ``== != < <= > >=``, ``:``, ``like``, ``like~``, ``in``,
``in~``, ``not in``, ``and``/``or``/``not``, ``startsWith``, ``endsWith``,
``stringContains`` (with and without ``~``) and ``length`` on plain fields.
Everything else, including ``regex``/``regex~``, arithmetic and the other
functions, raises :class:`NotCovered`. Case folding is the ASCII folding of
Elasticsearch 8.0 to 9.4.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream.eql import ast
from stream.eql.mapping import FieldKind, builtin_field_spec

__all__ = [
    "NotCovered",
    "RejectedQuery",
    "ascii_fold",
    "indexed_values",
    "raw_values",
    "reference_matches",
    "text_form",
    "utf16_length",
    "wildcard_match",
]

# The 26 ASCII letters and their lower-case forms, and nothing else: the
# spec forbids str.lower() and casefold() for case-insensitive operators.
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ASCII_FOLD_TABLE = dict(zip(_UPPER, _LOWER))


class NotCovered(Exception):
    """The query uses a construct this reference does not evaluate (for example ``regex``)."""


class RejectedQuery(Exception):
    """The query is one that the spec says must be rejected at load time."""


# Text helpers ----------------------------------------------------------------


def ascii_fold(text: str) -> str:
    """Return ``text`` with the ASCII letters A-Z mapped to a-z, one character at a time."""
    return "".join(_ASCII_FOLD_TABLE.get(char, char) for char in text)


def utf16_length(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units: 2 for a code point above U+FFFF, else 1."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def wildcard_match(pattern: str, value: str) -> bool:
    """Return whether ``pattern`` matches all of ``value``.

    ``*`` matches any run of code points (none included) and ``?`` exactly one.
    Every other character, backslash included, matches only itself. The table
    entry ``matched[i][j]`` is true when ``pattern[:i]`` matches ``value[:j]``.
    """
    rows, columns = len(pattern), len(value)
    matched = [[False] * (columns + 1) for _ in range(rows + 1)]
    matched[0][0] = True

    for i in range(1, rows + 1):
        symbol = pattern[i - 1]
        for j in range(0, columns + 1):
            if symbol == "*":
                # Either the star matches nothing, or it also swallows value[j - 1].
                matched[i][j] = matched[i - 1][j] or (j > 0 and matched[i][j - 1])
            elif j == 0:
                matched[i][j] = False
            elif symbol == "?":
                matched[i][j] = matched[i - 1][j - 1]
            else:
                matched[i][j] = matched[i - 1][j - 1] and symbol == value[j - 1]

    return matched[rows][columns]


def text_form(value: Any) -> str:
    """Return the text a keyword field indexes for a JSON scalar: booleans as true/false, numbers as digits."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    return str(value)


# Event model -----------------------------------------------------------------


def _flatten(node: Any, path: str, out: list[tuple[str, Any]]) -> None:
    """Append every (dotted path, scalar) pair below ``node``; arrays add no path segment, nulls are dropped."""
    if node is None:
        return
    if isinstance(node, dict):
        for key, child in node.items():
            child_path = key if path == "" else path + "." + key
            _flatten(child, child_path, out)
        return
    if isinstance(node, list):
        for item in node:
            _flatten(item, path, out)
        return
    out.append((path, node))


def raw_values(event: Mapping[str, Any], name: str) -> list[Any]:
    """Return every non-null JSON scalar at dotted path ``name``, through nesting, dotted keys and arrays."""
    pairs: list[tuple[str, Any]] = []
    _flatten(dict(event), "", pairs)
    return [value for path, value in pairs if path == name]


def _to_number(value: Any) -> int | float:
    """Return the number a long field indexes for ``value``; raise ValueError when it cannot index it."""
    if isinstance(value, bool):
        raise ValueError(f"boolean {value!r} in a numeric field")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    raise ValueError(f"{value!r} in a numeric field")


def indexed_values(event: Mapping[str, Any], name: str, ignore_above: int = 1024) -> list[Any]:
    """Return the values of field ``name`` that a query can see, typed as the field's mapping indexes them.

    Keyword fields hold text and skip values longer than ``ignore_above``
    UTF-16 code units; wildcard fields and fields outside the ECS
    namespaces hold text of any length; numeric fields hold numbers.

    Raises:
        NotCovered: for boolean and IP fields.
        ValueError: for a value a numeric field cannot index.
    """
    kind = builtin_field_spec(name, ignore_above).kind
    values = raw_values(event, name)

    if kind is FieldKind.KEYWORD:
        texts = [text_form(value) for value in values]
        return [text for text in texts if utf16_length(text) <= ignore_above]
    if kind in (FieldKind.WILDCARD, FieldKind.DYNAMIC):
        return [text_form(value) for value in values]
    if kind is FieldKind.NUMBER:
        return [_to_number(value) for value in values]
    raise NotCovered(f"field {name!r} of kind {kind.value}")


def _is_text_kind(name: str) -> bool:
    kind = builtin_field_spec(name).kind
    return kind in (FieldKind.KEYWORD, FieldKind.WILDCARD, FieldKind.DYNAMIC)


# Evaluation ------------------------------------------------------------------


class _Evaluator:
    def __init__(self, event: Mapping[str, Any], ignore_above: int) -> None:
        self._event = event
        self._ignore_above = ignore_above

    def values(self, field: ast.Field) -> list[Any]:
        return indexed_values(self._event, field.name, self._ignore_above)

    def condition(self, node: ast.Expression) -> bool:
        if isinstance(node, ast.And):
            results = [self.condition(term) for term in node.terms]
            return all(results)
        if isinstance(node, ast.Or):
            results = [self.condition(term) for term in node.terms]
            return any(results)
        if isinstance(node, ast.Not):
            return not self.condition(node.operand)
        if isinstance(node, ast.Literal) and isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Predicate):
            return self.predicate(node)
        if isinstance(node, ast.FunctionCall):
            return self.boolean_function(node)
        raise NotCovered(f"condition node {type(node).__name__}")

    # Comparisons: a != b is not (a == b); the others are existential over values.

    def comparison(self, node: ast.Comparison) -> bool:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if not isinstance(right, ast.Literal):
            raise RejectedQuery("a comparison needs a literal on one side")

        if right.value is None:
            return self.null_comparison(op, left)
        if op == "!=":
            return not self.positive_comparison("==", left, right.value)
        return self.positive_comparison(op, left, right.value)

    def null_comparison(self, op: str, operand: ast.Expression) -> bool:
        if op not in ("==", "!="):
            raise RejectedQuery(f"null compared with {op}")
        if not isinstance(operand, ast.Field):
            raise NotCovered("null compared with a function result")
        absent = len(self.values(operand)) == 0
        return absent if op == "==" else not absent

    def positive_comparison(self, op: str, operand: ast.Expression, literal: Any) -> bool:
        if isinstance(operand, ast.Field):
            candidates = self.values(operand)
            literal = _literal_for_field(operand.name, literal)
        elif isinstance(operand, ast.FunctionCall) and operand.name == "length":
            candidates = self.lengths(operand)
            if isinstance(literal, bool) or not isinstance(literal, (int, float)):
                raise NotCovered("length() compared with a non-number")
        else:
            raise NotCovered(f"comparison operand {type(operand).__name__}")

        for candidate in candidates:
            if candidate is not None and _ordered(op, candidate, literal):
                return True
        return False

    def lengths(self, call: ast.FunctionCall) -> list[int | None]:
        (argument,) = call.args
        if not isinstance(argument, ast.Field) or not _is_text_kind(argument.name):
            raise NotCovered("length() of something other than a text field")
        texts = self.values(argument)
        if not texts:
            return [None]
        return [utf16_length(text) for text in texts]

    # Predicates.

    def predicate(self, node: ast.Predicate) -> bool:
        operand = node.operand
        if not isinstance(operand, ast.Field):
            raise NotCovered("predicate on a function result")
        literals = [literal.value for literal in node.values]

        if node.op in ("in", "in~"):
            return self.membership(node.op, operand, literals)
        if node.op in ("regex", "regex~"):
            raise NotCovered("regular expressions")

        for literal in literals:
            if not isinstance(literal, str):
                raise RejectedQuery(f"{node.op} with the non-string literal {literal!r}")
        if not _is_text_kind(operand.name):
            raise RejectedQuery(f"{node.op} on the non-text field {operand.name!r}")

        for value in self.values(operand):
            for literal in literals:
                if _text_predicate(node.op, value, literal):
                    return True
        return False

    def membership(self, op: str, operand: ast.Field, literals: list[Any]) -> bool:
        present = [literal for literal in literals if literal is not None]
        if _is_text_kind(operand.name):
            expected_texts = [text_form(literal) for literal in present]
            for value in self.values(operand):
                for text in expected_texts:
                    if value == text or (op == "in~" and ascii_fold(value) == ascii_fold(text)):
                        return True
            return False

        numbers = [_literal_for_field(operand.name, literal) for literal in present]
        for value in self.values(operand):
            for number in numbers:
                if value == number:
                    return True
        return False

    # Boolean functions on a text field.

    def boolean_function(self, call: ast.FunctionCall) -> bool:
        if call.name not in ("startsWith", "endsWith", "stringContains"):
            raise NotCovered(f"function {call.name}")
        source, part = call.args
        if not isinstance(source, ast.Field) or not _is_text_kind(source.name):
            raise NotCovered(f"{call.name} on something other than a text field")
        if not isinstance(part, ast.Literal) or not isinstance(part.value, str):
            raise NotCovered(f"{call.name} with a non-string second argument")

        needle = part.value
        for value in self.values(source):
            haystack = value
            if call.case_insensitive:
                haystack, needle = ascii_fold(value), ascii_fold(part.value)
            if _string_function(call.name, haystack, needle):
                return True
        return False


def _literal_for_field(name: str, literal: Any) -> Any:
    """Convert a comparison literal to the type field ``name`` indexes, as Elasticsearch converts query terms."""
    if _is_text_kind(name):
        return text_form(literal)
    if isinstance(literal, bool) or not isinstance(literal, (int, float, str)):
        raise RejectedQuery(f"numeric field {name!r} compared with {literal!r}")
    try:
        return _to_number(literal)
    except ValueError:
        raise RejectedQuery(f"numeric field {name!r} compared with {literal!r}") from None


def _ordered(op: str, value: Any, literal: Any) -> bool:
    """Compare two numbers numerically, or two strings by code point (the same order as UTF-8 bytes)."""
    if op == "==":
        return value == literal
    if op == "<":
        return value < literal
    if op == "<=":
        return value <= literal
    if op == ">":
        return value > literal
    if op == ">=":
        return value >= literal
    raise NotCovered(f"operator {op}")


def _text_predicate(op: str, value: str, literal: str) -> bool:
    if op == "like":
        return wildcard_match(literal, value)
    if op == "like~":
        return wildcard_match(ascii_fold(literal), ascii_fold(value))
    if op == ":":
        if "*" in literal or "?" in literal:
            return wildcard_match(ascii_fold(literal), ascii_fold(value))
        return ascii_fold(literal) == ascii_fold(value)
    raise NotCovered(f"predicate {op}")


def _string_function(name: str, haystack: str, needle: str) -> bool:
    if name == "startsWith":
        return haystack[: len(needle)] == needle
    if name == "endsWith":
        return len(needle) <= len(haystack) and haystack[len(haystack) - len(needle) :] == needle
    # stringContains: an empty source contains nothing, not even the empty string.
    if haystack == "":
        return False
    return any(haystack[start : start + len(needle)] == needle for start in range(len(haystack) - len(needle) + 1))


def reference_matches(query: ast.Query, event: dict[str, Any], *, ignore_above: int = 1024) -> bool:
    """Return whether ``event`` satisfies ``query`` under the spec's rules.

    ``ignore_above`` is the keyword limit in UTF-16 code units. The category
    test is exact and case-sensitive against the indexed values of
    ``event.category``; ``any`` applies no category test.

    Raises:
        NotCovered: the query uses a construct this reference does not evaluate.
        RejectedQuery: the spec says Elasticsearch rejects the query.
        ValueError: a numeric field contains a value its mapping cannot index.
    """
    evaluator = _Evaluator(event, ignore_above)
    if query.category is not None:
        categories = indexed_values(event, "event.category", ignore_above)
        if query.category not in categories:
            return False
    return evaluator.condition(query.condition)
