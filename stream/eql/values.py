"""Compiled value expressions: fields, literals, function calls and arithmetic.

A compiled value turns an event into its *candidates*: the list of values the
expression can take, one per choice of field values. An absent field
contributes the single candidate ``None``. Leaves are true when some candidate
satisfies them, which gives EQL's existential semantics over arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

from stream.eql.fields import FieldSpec, Getter

Event = Mapping[str, Any]
Candidates = Callable[[Event], list[Any]]

_NULL_ONLY: list[Any] = [None]


@dataclass(frozen=True, slots=True)
class CompiledValue:
    """A value expression ready for evaluation.

    ``type`` is ``string``, ``number``, ``boolean`` or ``any`` (a field whose
    mapping is dynamic). ``constant`` is set for expressions without fields,
    whose single value is ``constant_value``. For a plain field, ``field_name``,
    ``spec`` and ``getter`` (indexed values, possibly empty) are set.
    """

    candidates: Candidates
    type: str
    constant: bool = False
    constant_value: Any = None
    field_name: str | None = None
    spec: FieldSpec | None = None
    getter: Getter | None = None

    @property
    def is_field(self) -> bool:
        """Return whether this is a plain field reference."""
        return self.getter is not None


def constant_value(value: Any, value_type: str) -> CompiledValue:
    """Return a compiled constant."""
    candidates = [value]
    return CompiledValue(lambda event: candidates, value_type, constant=True, constant_value=value)


def field_value(name: str, spec: FieldSpec, getter: Getter, value_type: str) -> CompiledValue:
    """Return a compiled field reference whose candidates are its indexed values, or ``[None]``."""

    def candidates(event: Event) -> list[Any]:
        return getter(event) or _NULL_ONLY

    return CompiledValue(candidates, value_type, field_name=name, spec=spec, getter=getter)


def call_value(
    implementation: Callable[..., Any],
    arguments: list[CompiledValue],
    result_type: str,
) -> CompiledValue:
    """Return a compiled call of ``implementation`` over every combination of argument candidates.

    All-constant calls are evaluated here, once.
    """
    if all(argument.constant for argument in arguments):
        return constant_value(implementation(*(a.constant_value for a in arguments)), result_type)

    variable = [index for index, argument in enumerate(arguments) if not argument.constant]
    if len(variable) == 1:
        return _single_variable_call(implementation, arguments, variable[0], result_type)

    sources = [argument.candidates for argument in arguments]

    def candidates(event: Event) -> list[Any]:
        return [implementation(*combination) for combination in product(*(source(event) for source in sources))]

    return CompiledValue(candidates, result_type)


def _single_variable_call(
    implementation: Callable[..., Any],
    arguments: list[CompiledValue],
    position: int,
    result_type: str,
) -> CompiledValue:
    source = arguments[position].candidates
    before = tuple(a.constant_value for a in arguments[:position])
    after = tuple(a.constant_value for a in arguments[position + 1 :])

    if not before:
        def candidates(event: Event) -> list[Any]:
            return [implementation(value, *after) for value in source(event)]
    else:
        def candidates(event: Event) -> list[Any]:
            return [implementation(*before, value, *after) for value in source(event)]

    return CompiledValue(candidates, result_type)
