"""EQL for single-event detection rules: parse, compile and match with Elasticsearch's semantics.

Typical use::

    compiled = compile_query('process where process.name : "net.exe"')
    compiled.matches(event)      # event: a decoded ECS document (nested dicts)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stream.eql.ast import Query
from stream.eql.compiler import MatchOptions, Matcher, TypeCheck, compile_condition
from stream.eql.fields import FieldTypeError
from stream.eql.literals import literal_alternatives, necessary_literals
from stream.eql.mapping import FieldSchema
from stream.eql.parser import parse_query
from stream.errors import QueryError

__all__ = [
    "CompiledQuery",
    "FieldSchema",
    "FieldTypeError",
    "MatchOptions",
    "TypeCheck",
    "compile_query",
    "parse_query",
]


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query compiled once and evaluated on many events.

    ``matches(event)`` returns whether the event satisfies the query; it raises
    :class:`FieldTypeError` for a value the field's mapping cannot index, in a
    field that the evaluation reads. ``type_checks`` read every numeric,
    boolean and IP field of the query, whether or not an evaluation would.
    ``fields`` lists every field the query reads. ``necessary_literals`` is a
    set of ASCII-lower-cased strings at least one of which some value of those
    fields contains (folded) in every matching event, or ``None`` when the
    query has no such set. ``literal_alternatives`` are more such sets, one
    per term of a top-level ``and`` that has one; any of them may stand in
    for ``necessary_literals``.
    """

    text: str
    syntax: Query
    matches: Matcher
    fields: frozenset[str]
    necessary_literals: frozenset[str] | None
    type_checks: tuple[TypeCheck, ...]
    literal_alternatives: tuple[frozenset[str], ...] = ()

    def check_types(self, event: Mapping[str, Any]) -> None:
        """Raise :class:`FieldTypeError` if a numeric, boolean or IP field of the query contains a value its mapping rejects."""
        for check in self.type_checks:
            check.read(event)


def compile_query(
    text: str,
    options: MatchOptions | None = None,
    *,
    rule: str | None = None,
    category_field: str = "event.category",
) -> CompiledQuery:
    """Parse and compile ``text`` into a :class:`CompiledQuery`.

    ``category_field`` is where the event category is read (a rule's
    ``event_category_override``).

    Raises:
        QuerySyntaxError: invalid EQL (with line, column and a caret).
        UnsupportedQueryError: sequences, samples and pipes.
        QueryCompileError: valid syntax that Elasticsearch would reject.
        Each error names ``rule`` when it is given.
    """
    options = options or MatchOptions()
    try:
        syntax = parse_query(text)
        compiled = compile_condition(syntax, options, category_field)
    except QueryError as exc:
        if rule is not None:
            raise exc.with_rule(rule) from None
        raise

    literals = None
    alternatives: tuple[frozenset[str], ...] = ()
    if options.case_folding == "ascii":
        literals = necessary_literals(syntax, lambda name: options.schema.spec(name).kind)
        alternatives = literal_alternatives(syntax, lambda name: options.schema.spec(name).kind)
    return CompiledQuery(
        text=text,
        syntax=syntax,
        matches=compiled.matcher,
        fields=frozenset(compiled.fields),
        necessary_literals=literals,
        type_checks=compiled.type_checks,
        literal_alternatives=alternatives,
    )
