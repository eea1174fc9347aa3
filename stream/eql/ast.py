"""Syntax tree of a single-event EQL query.

The parser builds these nodes; the compiler and the necessary-literal analysis
read them. Nodes are immutable and carry the 1-based ``line`` and ``column``
where they start, so compile errors can point at the offending text.
"""

from __future__ import annotations

from dataclasses import dataclass

LiteralValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every syntax-tree node."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: string, integer, floating-point number, boolean or ``null``."""

    value: LiteralValue


@dataclass(frozen=True, slots=True)
class Field(Node):
    """A field reference such as ``process.parent.name``; ``optional`` for ``?field``."""

    path: tuple[str, ...]
    optional: bool = False

    @property
    def name(self) -> str:
        """Return the dotted field name."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class FunctionCall(Node):
    """A call such as ``startsWith~(process.name, "cmd")``.

    ``name`` is the canonical (documented) spelling; ``case_insensitive`` is set
    by the ``~`` suffix.
    """

    name: str
    args: tuple["Expression", ...]
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    """A binary arithmetic operation: ``op`` is one of ``+ - * / %``."""

    op: str
    left: "Expression"
    right: "Expression"


@dataclass(frozen=True, slots=True)
class Negate(Node):
    """Unary minus."""

    operand: "Expression"


@dataclass(frozen=True, slots=True)
class Comparison(Node):
    """``left op right`` with ``op`` one of ``== != < <= > >=``."""

    op: str
    left: "Expression"
    right: "Expression"


@dataclass(frozen=True, slots=True)
class Predicate(Node):
    """``operand op (values...)`` for ``: like like~ regex regex~ in in~``.

    ``not in`` and ``not in~`` are represented as :class:`Not` around a
    predicate, because they are defined as the negation of the positive form.
    """

    op: str
    operand: "Expression"
    values: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Boolean negation."""

    operand: "Expression"


@dataclass(frozen=True, slots=True)
class And(Node):
    """Boolean conjunction of two or more terms."""

    terms: tuple["Expression", ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    """Boolean disjunction of two or more terms."""

    terms: tuple["Expression", ...]


Expression = Literal | Field | FunctionCall | Arithmetic | Negate | Comparison | Predicate | Not | And | Or


@dataclass(frozen=True, slots=True)
class Query:
    """``category where condition``; ``category`` is ``None`` for ``any where``."""

    category: str | None
    condition: Expression
    text: str
