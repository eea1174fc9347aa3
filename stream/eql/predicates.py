"""Text predicates (``:``, ``like``, ``like~``, ``regex``, ``regex~``) and membership (``in``, ``in~``).

On a plain field these fold with the configured folding (ASCII by default).
On a function result or arithmetic, Elasticsearch evaluates the predicate in
a script instead: ``:`` without wildcards then compares like Java's
``equalsIgnoreCase``, and ``*``, ``?`` and ``.`` stop at line breaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stream.eql.fields import Getter
from stream.eql.functions import cidr_match, text_of, to_number
from stream.eql.ip import canonical_ip_text, parse_ip_term
from stream.eql.lucene_regex import LuceneRegexError, compile_lucene_regex
from stream.eql.mapping import FieldKind
from stream.eql.text import eql_literal, fold_ascii, java_equals_ignore_case
from stream.eql.values import CompiledValue, Event
from stream.eql.wildcard import compile_patterns, has_wildcard
from stream.errors import QueryCompileError, UnsupportedQueryError

Matcher = Callable[[Event], bool]
ErrorFactory = Callable[[str], QueryCompileError]
Fold = Callable[[str], str]


def compile_text_predicate(
    op: str,
    operand: CompiledValue,
    patterns: list[str],
    fold: Fold,
    error: ErrorFactory,
    folded_values: Getter | None = None,
) -> Matcher:
    """Compile ``operand op (patterns...)`` for the text operators.

    ``folded_values``, for a keyword or wildcard field, returns its values
    already folded, so that several leaves on one field fold them once.

    Raises:
        QueryCompileError: (through ``error``) for an invalid regular expression.
    """
    on_field = operand.is_field
    if op in ("regex", "regex~"):
        test = _regex_test(
            patterns, case_insensitive=op == "regex~", unicode=fold is not fold_ascii, cross_lines=on_field, error=error
        )
    elif op == "like":
        test = compile_patterns(patterns, cross_lines=on_field)
    elif on_field:
        # ':' and 'like~' on a field: fold both sides with the configured folding.
        folded_patterns = [fold(pattern) for pattern in patterns]
        if folded_values is not None and not any(has_wildcard(pattern) for pattern in folded_patterns):
            members = frozenset(folded_patterns)
            return lambda event: not members.isdisjoint(folded_values(event))
        folded_test = compile_patterns(folded_patterns)
        if folded_values is not None:
            return _any_value(folded_values, folded_test)
        return _any_text(operand, lambda value: folded_test(fold(value)))
    elif op == ":":
        test = _script_match_test(patterns)
    else:
        ascii_test = compile_patterns([fold_ascii(p) for p in patterns], cross_lines=False)
        test = lambda value: ascii_test(fold_ascii(value))  # noqa: E731

    return _any_text(operand, test)


def _any_text(operand: CompiledValue, test: Callable[[str], bool]) -> Matcher:
    """Return a leaf that is true when some candidate, as text, passes ``test``."""
    getter = operand.getter
    if getter is not None and operand.spec is not None and operand.spec.kind in (FieldKind.KEYWORD, FieldKind.WILDCARD):

        def field_leaf(event: Event) -> bool:
            for value in getter(event):
                if test(value):
                    return True
            return False

        return field_leaf

    candidates = operand.candidates

    def leaf(event: Event) -> bool:
        for value in candidates(event):
            text = text_of(value)
            if text is not None and test(text):
                return True
        return False

    return leaf


def _any_value(values: Getter, test: Callable[[str], bool]) -> Matcher:
    """Return a leaf that is true when some value returned by ``values`` passes ``test``."""
    def leaf(event: Event) -> bool:
        for value in values(event):
            if test(value):
                return True
        return False

    return leaf


# The hints of the pattern's errors show backslashes as the pattern contains them, which a
# double-quoted EQL string writes doubled.
_QUOTED_BACKSLASH_NOTE = ' (in a double-quoted EQL string, write each backslash twice, or use a raw string """...""")'


def _regex_test(
    patterns: list[str], *, case_insensitive: bool, unicode: bool, cross_lines: bool, error: ErrorFactory
) -> Callable[[str], bool]:
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        try:
            compiled.append(
                compile_lucene_regex(pattern, case_insensitive=case_insensitive, unicode_case=unicode, cross_lines=cross_lines)
            )
        except LuceneRegexError as exc:
            message = exc.message + (_QUOTED_BACKSLASH_NOTE if "\\" in exc.message else "")
            if exc.unsupported:
                raise UnsupportedQueryError(f"regular expression {pattern!r}: {message}") from exc
            raise error(f"invalid regular expression {pattern!r}: {message}") from exc

    if len(compiled) == 1:
        fullmatch = compiled[0].fullmatch
        return lambda value: fullmatch(value) is not None

    matchers = tuple(pattern.fullmatch for pattern in compiled)
    return lambda value: any(match(value) is not None for match in matchers)


def _script_match_test(patterns: list[str]) -> Callable[[str], bool]:
    exact = [pattern for pattern in patterns if not has_wildcard(pattern)]
    wildcard = compile_patterns([fold_ascii(p) for p in patterns if has_wildcard(p)], cross_lines=False)
    has_wildcards = len(exact) < len(patterns)

    def test(value: str) -> bool:
        if any(java_equals_ignore_case(value, pattern) for pattern in exact):
            return True
        return has_wildcards and wildcard(fold_ascii(value))

    return test


def compile_membership(
    op: str,
    operand: CompiledValue,
    literals: list[Any],
    fold: Fold,
    error: ErrorFactory,
    folded_values: Getter | None = None,
) -> Matcher:
    """Compile ``operand in (...)`` or ``operand in~ (...)``: exact (or folded) equality, no wildcards.

    ``null`` entries are ignored. On a numeric field the literals must be numbers.
    """
    present = [literal for literal in literals if literal is not None]
    kind = operand.spec.kind if operand.spec else None

    if kind is FieldKind.NUMBER or (operand.type == "number" and not operand.is_field):
        numbers = set()
        for literal in present:
            number = None if isinstance(literal, bool) else to_number(literal)
            if number is None:
                raise error(f"'{op}' on a numeric value needs numbers, but {eql_literal(literal)} is not one")
            numbers.add(number)
        return _any_member(operand, frozenset(numbers).__contains__)

    if kind is FieldKind.BOOLEAN:
        booleans = frozenset(literal if isinstance(literal, bool) else literal == "true" for literal in present)
        return _any_member(operand, booleans.__contains__)

    if kind is FieldKind.IP and op == "in":
        test = ip_terms(operand, present, error)
        return _any_member(operand, test)

    texts = [text_of(literal) for literal in present]
    if kind is FieldKind.IP:
        # Indexed addresses are compared in canonical form. A text that is no address matches none.
        texts = [canonical_ip_text(text) or text if text is not None else None for text in texts]
    if op == "in~":
        folded = frozenset(fold(text) for text in texts if text is not None)
        if folded_values is not None:
            return lambda event: not folded.isdisjoint(folded_values(event))
        return _any_text(operand, lambda value: fold(value) in folded)

    exact = frozenset(texts)
    if operand.is_field and kind in (FieldKind.KEYWORD, FieldKind.WILDCARD, FieldKind.IP):
        getter = operand.getter
        assert getter is not None
        return lambda event: not exact.isdisjoint(getter(event))

    numbers = frozenset(literal for literal in present if isinstance(literal, (int, float)) and not isinstance(literal, bool))

    def member(value: Any) -> bool:
        if isinstance(value, str):
            return value in exact or (bool(numbers) and to_number(value) in numbers)
        if isinstance(value, bool):
            return text_of(value) in exact
        return value in numbers or text_of(value) in exact

    return _any_member(operand, member)


def ip_terms(operand: CompiledValue, literals: list[Any], error: ErrorFactory) -> Callable[[Any], bool]:
    """Return the test of one indexed IP value against the literals of ``==`` or ``in`` on an IP field.

    As in Elasticsearch's term query on an IP field, a literal with ``/`` is
    an address block that matches each address in it, and any other literal
    one address in any notation (see :func:`parse_ip_term`).

    Raises:
        QueryCompileError: a literal is neither an address nor a block.
    """
    addresses = set()
    networks = []
    for literal in literals:
        text = text_of(literal)
        try:
            term = parse_ip_term(text) if text is not None else None
        except ValueError as exc:
            if text is not None and "/" in text:
                raise error(
                    f"invalid address block for the IP field '{operand.field_name}': {exc}. Write an address and a "
                    "prefix length, such as 10.0.0.0/8, as Elasticsearch rejects any other form"
                ) from None
            raise error(
                f"invalid IP address {text!r}: '{operand.field_name}' is an IP field, which Elasticsearch compares "
                "only with an address such as 10.0.0.1 or a block such as 10.0.0.0/8, and it rejects the query otherwise"
            ) from None
        if isinstance(term, str):
            addresses.add(term)
        elif term is not None:
            networks.append(term)

    exact = frozenset(addresses)
    if not networks:
        return exact.__contains__
    blocks = tuple(networks)
    return lambda value: value in exact or cidr_match(value, blocks) is True


def _any_member(operand: CompiledValue, test: Callable[[Any], bool]) -> Matcher:
    candidates = operand.candidates

    def leaf(event: Event) -> bool:
        for value in candidates(event):
            if value is not None and test(value):
                return True
        return False

    return leaf
