"""Compiled value expressions: fields, literals, function calls and arithmetic.

A compiled value turns an event into its *candidates*: the list of values the
expression can take, one per choice of field values. An absent field
contributes the single candidate ``None``. Leaves are true when some candidate
satisfies them, which gives EQL's existential semantics over arrays.

A function that meets an error for which Elasticsearch fails the whole search
(integer overflow, integer division by zero, an unparsable ``number``
argument) returns ``None`` and reports an :class:`EvaluationProblem` with
:func:`report_problem`. Whoever evaluates a rule collects those problems with
:func:`collect_problems`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any, TypeVar

from stream.eql.fields import Getter
from stream.eql.mapping import FieldSpec

Event = Mapping[str, Any]
Candidates = Callable[[Event], list[Any]]
Result = TypeVar("Result")

_NULL_ONLY: list[Any] = [None]

# The problem list of the collect_problems call running in this thread, if any. Thread-local, so that
# threads evaluating other events do not mix their problems.
_collecting = threading.local()


@dataclass(frozen=True, slots=True)
class EvaluationProblem:
    """An error met during an evaluation, where Elasticsearch fails the whole search.

    eql-stream gives the failing expression the value ``null`` instead, so the
    leaf that contains it counts as false. ``message`` names the function and
    the values, for example ``integer division by zero in divide(3, 0)``.
    """

    message: str

    def describe(self) -> str:
        """Return the message followed by its consequence, for a log line or a report."""
        return f"{self.message}: the condition counts as false here, while Elasticsearch fails the search"


def report_problem(message: str) -> None:
    """Add an :class:`EvaluationProblem` to the :func:`collect_problems` call running in this thread.

    Outside such a call the problem is dropped, for example when a test
    calls a compiled query directly.
    """
    problems = getattr(_collecting, "problems", None)
    if problems is not None:
        problems.append(EvaluationProblem(message))


def collect_problems(
    function: Callable[[Any], Result], handle: Callable[[list[EvaluationProblem]], None]
) -> Callable[[Any], Result]:
    """Wrap ``function`` so that the problems reported while it runs go to ``handle``.

    The wrapper returns what ``function`` returns. After ``function``
    returns, it calls ``handle`` with the problems in the order reported,
    unless there were none. Wrapped calls may nest: an inner one collects
    only its own problems, and the outer collection continues after it.
    """
    collecting = _collecting

    # One closure level and no context manager, because a rule's matcher runs once per event.
    def collected(argument: Any) -> Result:
        outer = getattr(collecting, "problems", None)
        problems: list[EvaluationProblem] = []
        collecting.problems = problems
        try:
            result = function(argument)
        finally:
            collecting.problems = outer
        if problems:
            handle(problems)
        return result

    return collected


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

    All-constant calls are evaluated here, once. One that reports a problem,
    such as ``divide(1, 0)``, is not a constant: it reports the problem
    again in every evaluation.
    """
    if all(argument.constant for argument in arguments):
        values = tuple(argument.constant_value for argument in arguments)
        problems: list[EvaluationProblem] = []
        result = collect_problems(lambda _: implementation(*values), problems.extend)(None)
        if not problems:
            return constant_value(result, result_type)
        return _failing_constant(result, problems, result_type)

    variable = [index for index, argument in enumerate(arguments) if not argument.constant]
    if len(variable) == 1:
        return _single_variable_call(implementation, arguments, variable[0], result_type)

    sources = [argument.candidates for argument in arguments]

    def candidates(event: Event) -> list[Any]:
        return [implementation(*combination) for combination in product(*(source(event) for source in sources))]

    return CompiledValue(candidates, result_type)


def _failing_constant(result: Any, problems: list[EvaluationProblem], result_type: str) -> CompiledValue:
    """Return a value that is always ``result`` and reports ``problems`` each time it is evaluated."""
    messages = tuple(problem.message for problem in problems)
    candidates = [result]

    def reporting(event: Event) -> list[Any]:
        for message in messages:
            report_problem(message)
        return candidates

    return CompiledValue(reporting, result_type)


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
