"""The syntax-tree walk and the EQL string literals that the lint checks share."""

from __future__ import annotations

from collections.abc import Iterator

from stream.eql.ast import And, Arithmetic, Comparison, Expression, Field, FunctionCall, Negate, Not, Or, Predicate

# EQL string escapes for the characters that cannot appear as themselves in a message.
_EQL_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def eql_string(text: str) -> str:
    """Return ``text`` as an EQL string literal, as a rule author writes it."""
    return f'"{text.translate(_EQL_STRING_ESCAPES)}"'


def iter_nodes(node: Expression) -> Iterator[Expression]:
    """Yield ``node`` and every expression inside it, outer expressions first, in the order written."""
    yield node
    if isinstance(node, FunctionCall):
        for argument in node.args:
            yield from iter_nodes(argument)
    elif isinstance(node, (And, Or)):
        for term in node.terms:
            yield from iter_nodes(term)
    elif isinstance(node, (Not, Negate)):
        yield from iter_nodes(node.operand)
    elif isinstance(node, (Comparison, Arithmetic)):
        yield from iter_nodes(node.left)
        yield from iter_nodes(node.right)
    elif isinstance(node, Predicate):
        yield from iter_nodes(node.operand)
        for value in node.values:
            yield from iter_nodes(value)


def iter_function_calls(node: Expression) -> Iterator[FunctionCall]:
    """Yield every function call in ``node``, outer calls first."""
    return (inner for inner in iter_nodes(node) if isinstance(inner, FunctionCall))


def iter_predicates(node: Expression) -> Iterator[Predicate]:
    """Yield every ``:``, ``like``, ``regex`` or ``in`` predicate in ``node``, outer predicates first."""
    return (inner for inner in iter_nodes(node) if isinstance(inner, Predicate))


def iter_fields(node: Expression) -> Iterator[Field]:
    """Yield every field reference in ``node``, in the order written."""
    return (inner for inner in iter_nodes(node) if isinstance(inner, Field))
