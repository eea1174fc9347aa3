"""Necessary literals: text that every matching event must contain.

For a query, the analysis returns a set of strings such that any event the
query matches has, in some field the query references, a value whose ASCII
case-folded text contains the folded form of at least one of them. ``None``
means no such set exists (``process where true``, a rule made only of
negations, or one that matches on numbers alone). The raw-bytes prefilter uses
the set to skip messages that cannot match without decoding them.

The analysis only has to be sound, never complete: when in doubt a node
returns ``None``, which means "no constraint".
"""

from __future__ import annotations

from collections.abc import Callable

from stream.eql import ast
from stream.eql.lucene_regex import LuceneRegexError, necessary_substrings
from stream.eql.mapping import FieldKind
from stream.eql.text import fold_ascii

Literals = frozenset[str] | None


class _CommonLiterals(frozenset):  # type: ignore[type-arg]
    """A literal set taken from a field whose few values recur in nearly every event.

    ``event.type == "start"`` gives ``{"start"}``, which every process start
    contains, so such a set is sound but selects almost nothing. An ``and``
    prefers any other term's set, and a union with such a set is common too.
    """


# ECS fields with a handful of values, each carried by a large share of events.
_COMMON_VALUE_FIELDS = frozenset(
    {
        "agent.type",
        "data_stream.dataset",
        "data_stream.namespace",
        "data_stream.type",
        "event.action",
        "event.category",
        "event.dataset",
        "event.kind",
        "event.module",
        "event.outcome",
        "event.type",
        "host.os.family",
        "host.os.name",
        "host.os.platform",
        "host.os.type",
    }
)

_TEXT_FUNCTIONS = frozenset({"startsWith", "endsWith", "stringContains"})

# Kinds whose indexed value is the text itself. Numbers, booleans and IP
# addresses compare by value, so their text need not contain the literal.
_TEXT_KINDS = frozenset({FieldKind.KEYWORD, FieldKind.WILDCARD, FieldKind.DYNAMIC})

FieldKindOf = Callable[[str], FieldKind]


def selectivity_rank(node: ast.Expression, field_kind: FieldKindOf) -> int:
    """Return an estimate of how rarely ``node`` is true: higher means rarer.

    The estimate is the length of the shortest necessary literal (0 without
    any). The compiler evaluates the terms of an ``and`` rarest first, which
    changes only speed, never the result.
    """
    literals = _Analysis(field_kind).literals(node)
    if literals is None:
        return 0
    if not literals:
        return 1_000_000
    # A test of a common-valued field (host.os.type == "linux") is cheap and may reject a whole
    # stream, so it keeps its place here; only the prefilter ranks such literals last.
    return min(len(text) for text in literals)


def literal_alternatives(query: ast.Query, field_kind: FieldKindOf) -> tuple[frozenset[str], ...]:
    """Return the folded necessary-literal sets of the terms of ``query``'s top-level ``and``.

    Every matching event satisfies each term, so each set is, like
    :func:`necessary_literals`, a set of which every matching event contains
    one. Which of them is rarest depends on the stream (``"linux"`` is rare
    among Windows events), so the prefilter picks one from a sample. Terms
    without a set, or with an empty one, are left out. The result is empty
    unless the condition is an ``and``.
    """
    if not isinstance(query.condition, ast.And):
        return ()
    analysis = _Analysis(field_kind)
    found: list[frozenset[str]] = []
    for term in query.condition.terms:
        literals = analysis.literals(term)
        if literals and frozenset(literals) not in found:
            found.append(frozenset(literals))
    return tuple(found)


def necessary_literals(query: ast.Query, field_kind: FieldKindOf) -> Literals:
    """Return the folded necessary literals of ``query``, or ``None`` (see the module docstring).

    ``field_kind`` returns the indexing of a field name; literals are only
    taken from leaves on text fields.
    """
    condition = _Analysis(field_kind).literals(query.condition)
    if condition is not None:
        return frozenset(condition)
    if query.category is None:
        return None
    # The category is in nearly every event of a topic, so it is only the last resort.
    return frozenset({fold_ascii(query.category)})


class _Analysis:
    def __init__(self, field_kind: FieldKindOf) -> None:
        self._field_kind = field_kind

    def _is_text_field(self, node: ast.Expression) -> bool:
        return isinstance(node, ast.Field) and self._field_kind(node.name) in _TEXT_KINDS

    def literals(self, node: ast.Expression) -> Literals:
        if isinstance(node, ast.And):
            return _best([self.literals(term) for term in node.terms])
        if isinstance(node, ast.Or):
            return _union([self.literals(term) for term in node.terms])
        if isinstance(node, ast.Literal) and node.value is False:
            return frozenset()
        if isinstance(node, ast.Comparison):
            return self._comparison(node)
        if isinstance(node, ast.Predicate):
            return self._predicate(node)
        if isinstance(node, ast.FunctionCall):
            return self._function(node)
        return None


    def _comparison(self, node: ast.Comparison) -> Literals:
        if node.op != "==":
            return None
        left, right = node.left, node.right
        if isinstance(left, ast.Literal):
            left, right = right, left
        if not self._is_text_field(left) or not isinstance(right, ast.Literal):
            return None
        if not isinstance(right.value, str) or right.value == "":
            return None
        return self._tagged(left, {fold_ascii(right.value)})

    def _tagged(self, field: ast.Expression, literals: set[str] | frozenset[str]) -> frozenset[str]:
        """Return ``literals`` as a set of common values when ``field`` is a field with few recurring values."""
        if isinstance(field, ast.Field) and field.name in _COMMON_VALUE_FIELDS:
            return _CommonLiterals(literals)
        return frozenset(literals)


    def _predicate(self, node: ast.Predicate) -> Literals:
        if not self._is_text_field(node.operand):
            return None

        found: set[str] = set()
        for value in node.values:
            text = value.value
            if text is None and node.op in ("in", "in~"):
                continue
            if not isinstance(text, str):
                return None
            piece = self._piece_of(node.op, text)
            if piece is None:
                return None
            found |= piece
        return self._tagged(node.operand, found)


    @staticmethod
    def _piece_of(op: str, text: str) -> frozenset[str] | None:
        if op in ("in", "in~"):
            return frozenset({fold_ascii(text)}) if text else None
        if op in ("regex", "regex~"):
            try:
                pieces = necessary_substrings(text)
            except LuceneRegexError:
                return None
            if not pieces or any(piece == "" for piece in pieces):
                return None
            return frozenset(fold_ascii(piece) for piece in pieces)

        # ':' 'like' 'like~': the longest run without wildcards must appear in the value.
        runs = [run for run in text.replace("?", "*").split("*") if run]
        if not runs:
            return None
        return frozenset({fold_ascii(max(runs, key=len))})


    def _function(self, node: ast.FunctionCall) -> Literals:
        if node.name not in _TEXT_FUNCTIONS or len(node.args) != 2:
            return None
        source, part = node.args
        if not self._is_text_field(source) or not isinstance(part, ast.Literal):
            return None
        if not isinstance(part.value, str) or part.value == "":
            return None
        # Elasticsearch treats '*', '?' and '\\' in these arguments specially on fields; stay conservative.
        if node.name != "startsWith" and any(char in part.value for char in "*?\\"):
            return None
        return self._tagged(source, {fold_ascii(part.value)})


def _union(sets: list[Literals]) -> Literals:
    if any(item is None for item in sets):
        return None
    result: set[str] = set()
    for item in sets:
        result |= item  # type: ignore[operator]
    # An event may match through the common branch alone, so the union selects no better than it.
    if any(isinstance(item, _CommonLiterals) for item in sets):
        return _CommonLiterals(result)
    return frozenset(result)


def _best(sets: list[Literals]) -> Literals:
    """Pick the most selective set among terms that must all hold.

    An empty set (a term that is never true) wins. Then any set that is not
    made of common values beats those that are, and among equals the set
    whose shortest literal is longest, then the smaller set.
    """
    candidates = [item for item in sets if item is not None]
    if not candidates:
        return None
    for item in candidates:
        if not item:
            return item
    return max(
        candidates,
        key=lambda item: (not isinstance(item, _CommonLiterals), min(len(text) for text in item), -len(item)),
    )
