"""Generate one Python function per query for the common leaves, for speed.

The closure compiler builds a small function per node, and every leaf then
calls a chain of getters. Most rules consist of ``:``, ``like``, ``in``,
``in~`` and ``==`` on text fields, so this module writes the whole condition as
one Python expression instead, compiled once with ``compile``. Each field is
read at most once per evaluation into a local variable, and such a leaf
becomes a set test such as ``not S3.isdisjoint(f1)``. Every other leaf
calls its closure from the closure compiler, so the two paths share one
definition of the semantics. The closures are always built first, which also
performs every validation the query needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from stream.eql import ast
from stream.eql.fields import make_value_getter
from stream.eql.ip import canonical_ip_text
from stream.eql.literals import selectivity_rank
from stream.eql.mapping import FieldKind
from stream.eql.wildcard import compile_patterns, has_wildcard

Matcher = Callable[[Any], bool]

_TEXT_KINDS = (FieldKind.KEYWORD, FieldKind.WILDCARD)
_UNSET = object()

class _SharedValues(threading.local):
    """The field values read during one RuleSet evaluation of one event, shared by all its rules.

    See :func:`share_field_values`. Thread-local, so that threads evaluating
    other events do not mix. ``memo`` is None outside a sharing block. The
    class attribute gives every thread that default, so a field read never
    pays for a failed attribute lookup as it would on a plain ``threading.local``.
    """

    memo: dict[Any, list[Any]] | None = None


_shared = _SharedValues()


@contextmanager
def share_field_values() -> Iterator[None]:
    """Let the generated matchers evaluated inside share the field values they read.

    Use it around the evaluation of several rules on one event that nothing
    changes meanwhile. Each field is then read, and folded, once for all of
    them instead of once per rule.
    """
    _shared.memo = {}
    try:
        yield
    finally:
        _shared.memo = None


def read_shared(key: Any, getter: Callable[[Any], list[Any]], event: Any) -> list[Any]:
    """Return ``getter(event)``, from the shared values when a :func:`share_field_values` block is open."""
    memo = _shared.memo
    if memo is None:
        return getter(event)
    values = memo.get(key, _UNSET)
    if values is _UNSET:
        values = memo[key] = getter(event)
    return values


def fold_shared(key: Any, fold: Callable[[str], str], values: list[Any]) -> list[Any]:
    """Return the folded ``values``, from the shared values when a :func:`share_field_values` block is open."""
    memo = _shared.memo
    if memo is None:
        return list(map(fold, values))
    folded = memo.get(key, _UNSET)
    if folded is _UNSET:
        folded = memo[key] = list(map(fold, values))
    return folded



class MatcherGenerator:
    """Writes the source of one matcher function; see the module docstring."""

    def __init__(self, compiler: Any) -> None:
        # ``compiler`` is the closure compiler of stream.eql.compiler (its private class).
        self._compiler = compiler
        self._namespace: dict[str, Any] = {
            "_U": _UNSET, "_epoch": compiler.epoch, "_fold": compiler.fold, "_read": read_shared, "_fold_shared": fold_shared,
        }
        self._values: dict[tuple[str, ...], str] = {}
        self._folded: dict[tuple[str, ...], str] = {}
        self._locals: list[str] = []
        self._uses_closures = False

    def generate(self, condition: ast.Expression, category: str | None, category_field: str) -> Matcher:
        """Return the generated matcher of ``condition`` and the category test."""
        expression = self._boolean(condition)
        if category is not None:
            category_name = self._constant(category)
            category_values = self._values_of(ast.Field(1, 1, tuple(category_field.split("."))))
            expression = f"({expression}) and ({category_name} in {category_values})"

        lines = ["def _match(event):"]
        if self._uses_closures:
            # The closures cache field values per evaluation, keyed by this counter.
            lines.append("    _epoch[0] += 1")
        if self._locals:
            lines.append("    " + " = ".join(self._locals) + " = _U")
        lines.append(f"    return {expression}")
        code = compile("\n".join(lines), "<eql matcher>", "exec")
        exec(code, self._namespace)  # noqa: S102 - the source is built from escaped constants only
        return self._namespace["_match"]  # type: ignore[no-any-return]

    # Boolean structure -------------------------------------------------------

    def _boolean(self, node: ast.Expression) -> str:
        if isinstance(node, ast.And):
            kind_of = self._compiler.field_kind
            ordered = sorted(node.terms, key=lambda term: -selectivity_rank(term, kind_of))
            return " and ".join(f"({self._boolean(term)})" for term in ordered)
        if isinstance(node, ast.Or):
            return " or ".join(f"({self._boolean(term)})" for term in node.terms)
        if isinstance(node, ast.Not):
            return f"not ({self._boolean(node.operand)})"

        leaf = self._simple_leaf(node)
        if leaf is not None:
            return leaf
        closure = self._constant(self._compiler.boolean(node))
        self._uses_closures = True
        return f"{closure}(event)"

    # Leaves -------------------------------------------------------------------

    def _simple_leaf(self, node: ast.Expression) -> str | None:
        if isinstance(node, ast.Predicate):
            return self._predicate(node)
        if isinstance(node, ast.Comparison) and node.op in ("==", "!="):
            return self._equality(node)
        return None

    def _text_field(self, node: ast.Expression, kinds: tuple[FieldKind, ...] = _TEXT_KINDS) -> ast.Field | None:
        if not isinstance(node, ast.Field):
            return None
        schema = self._compiler.options.schema
        if node.optional and not schema.is_known(node.name):
            return None
        return node if schema.spec(node.name).kind in kinds else None

    def _predicate(self, node: ast.Predicate) -> str | None:
        field = self._text_field(node.operand)
        texts = [value.value for value in node.values]
        if field is None or not all(isinstance(text, str) for text in texts):
            return None

        fold = self._compiler.fold
        if node.op in (":", "like~", "in~"):
            patterns = [fold(text) for text in texts]
            values = self._folded_of(field)
        elif node.op in ("like", "in"):
            patterns = list(texts)
            values = self._values_of(field)
        else:
            return None

        if node.op in ("in", "in~") or not any(has_wildcard(pattern) for pattern in patterns):
            members = self._constant(frozenset(patterns))
            return f"not {members}.isdisjoint({values})"
        test = self._constant(compile_patterns(patterns))
        return f"any(map({test}, {values}))"

    def _equality(self, node: ast.Comparison) -> str | None:
        left, right = node.left, node.right
        if isinstance(left, ast.Literal):
            left, right = right, left
        field = self._text_field(left, (*_TEXT_KINDS, FieldKind.IP))
        if field is None or not isinstance(right, ast.Literal) or not isinstance(right.value, str):
            return None
        literal = right.value
        if self._compiler.options.schema.spec(field.name).kind is FieldKind.IP:
            # IP values are read in canonical form, so the literal must be too (see canonical_ip_text).
            # An address block is left to the closure.
            literal = canonical_ip_text(literal)
            if literal is None:
                return None
        test = f"{self._constant(literal)} in {self._values_of(field)}"
        return test if node.op == "==" else f"not ({test})"

    # Names ----------------------------------------------------------------------

    def _constant(self, value: Any) -> str:
        name = f"_c{len(self._namespace)}"
        self._namespace[name] = value
        return name

    def _values_of(self, field: ast.Field) -> str:
        """Return an expression that reads ``field``'s indexed values once per evaluation."""
        # Keyed by the path: `process.name` (only the dotted key) and process.name read differently.
        path = field.path
        if path not in self._values:
            self._compiler.field_reference(field)
            spec = self._compiler.options.schema.spec(field.name)
            getter = self._constant(make_value_getter(field.name, path, spec))
            # A string key, because a string's hash is computed once, and a FieldSpec's in Python each time.
            key = self._constant(repr((path, spec)))
            local = f"v{len(self._values)}"
            self._locals.append(local)
            self._values[path] = f"({local} if {local} is not _U else ({local} := _read({key}, {getter}, event)))"
        return self._values[path]

    def _folded_of(self, field: ast.Field) -> str:
        """Return an expression that folds ``field``'s values once per evaluation."""
        path = field.path
        if path not in self._folded:
            values = self._values_of(field)
            spec = self._compiler.options.schema.spec(field.name)
            key = self._constant(repr(("folded", path, spec, self._compiler.fold)))
            local = f"f{len(self._folded)}"
            self._locals.append(local)
            self._folded[path] = f"({local} if {local} is not _U else ({local} := _fold_shared({key}, _fold, {values})))"
        return self._folded[path]
