"""Compiled rule sets: every loaded rule with its matcher and alert builder.

This is where rules meet the compiler: loading problems and compile errors
are collected per rule, so the service can start with the good rules and
report the rest, or stop when the caller asks for strict loading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.alerts import AlertBuilder, SourceRef
from stream.eql import CompiledQuery, MatchOptions, compile_query
from stream.eql import ast
from stream.eql.codegen import share_field_values
from stream.eql.fields import Getter
from stream.eql.functions import FUNCTIONS
from stream.eql.mapping import FieldSpec
from stream.eql.values import EvaluationProblem, collect_problems
from stream.errors import DecodeError, EqlStreamError, QueryError, RuleEvaluationError, RuleLoadError
from stream.rules import Rule
from stream.rules.loaders import load_rules, load_shipped_rules, rule_from_query

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its compiled query and its alert builder."""

    rule: Rule
    query: CompiledQuery
    alerts: AlertBuilder


@dataclass(frozen=True, slots=True)
class RuleReport:
    """The outcome of loading and compiling one rule (or one unreadable file).

    ``status`` is ``ok`` or ``error``; ``error`` contains the message, with the
    line, column and caret for a query error.
    """

    path: str | None
    rule_id: str | None
    name: str | None
    status: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape used by ``eql-stream check --json``."""
        return {
            "path": self.path,
            "rule_id": self.rule_id,
            "name": self.name,
            "status": self.status,
            "error": self.error,
        }


class RuleSet:
    """The compiled rules that every event is evaluated against.

    Not thread-safe: the compiled matchers cache field values per evaluation,
    and :attr:`last_problems` belongs to the last evaluation.
    """

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._type_checks = _merged_type_checks(self.rules)
        self._type_check_reads = tuple(self._type_checks.values())
        self._matchers = tuple((compiled, self._matcher_of(compiled)) for compiled in self.rules)
        self._last_problems: tuple[tuple[CompiledRule, EvaluationProblem], ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def rule_ids(self) -> list[str]:
        """Return the rule ids, in load order."""
        return [compiled.rule.rule_id for compiled in self.rules]

    def describe_names(self, indexes: Sequence[int] | None = None, limit: int = 20) -> str:
        """Return the names of the rules at ``indexes`` (default: every rule), the first ``limit`` of them, for a log line."""
        positions = range(len(self.rules)) if indexes is None else indexes
        names = [self.rules[index].rule.name for index in positions[:limit]]
        more = f", and {len(positions) - limit} more" if len(positions) > limit else ""
        return ", ".join(names) + more

    @property
    def typed_fields(self) -> list[str]:
        """Return the numeric, boolean and IP fields that some rule reads, each once, in load order.

        Every event given to :meth:`matching_rules` must hold values that these
        fields' mappings accept, whichever rules are evaluated.
        """
        return [name for name, _ in self._type_checks]

    @property
    def last_problems(self) -> tuple[tuple[CompiledRule, EvaluationProblem], ...]:
        """Return the evaluation problems of the last :meth:`matching_rules` or :meth:`alerts_for` call.

        An evaluation problem is an error for which Elasticsearch fails the
        whole search, such as integer division by zero. The leaf that met it
        counts as false. Each pair is the rule and one problem, in evaluation
        order, and a rule's message is not repeated. The tuple is empty when
        there was none. After a call that raised, it contains the problems of
        the rules evaluated before the one that raised.
        """
        return self._last_problems

    def _matcher_of(self, compiled: CompiledRule) -> Callable[[Mapping[str, Any]], bool]:
        """Return the function that evaluates ``compiled``, adding the problems it meets to :attr:`last_problems`.

        A rule without arithmetic or a function that can fail gets its own
        matcher, so collecting problems costs it nothing.
        """
        if not _can_report_problems(compiled.query.syntax.condition):
            return compiled.query.matches

        def add_problems(problems: list[EvaluationProblem]) -> None:
            # Two values of an array field can meet the same problem, so repeated messages are dropped.
            self._last_problems += tuple((compiled, problem) for problem in dict.fromkeys(problems))

        return collect_problems(compiled.query.matches, add_problems)

    def matching_rules(self, event: Mapping[str, Any], indexes: Sequence[int] | None = None) -> list[CompiledRule]:
        """Return the rules whose query matches ``event``.

        ``indexes``, when given, limits the evaluation to those rules (by
        position), for example the ones the prefilter selected.

        Raises:
            FieldTypeError: a field some rule reads contains a value its mapping
                cannot index; Elasticsearch would have rejected the document,
                so the caller dead-letters it. Numeric, boolean and IP fields
                are checked before matching. An object in a text field is
                found when a leaf reads that field.
            RuleEvaluationError: a rule failed with an unexpected error; it
                names the rule.

        Errors for which Elasticsearch fails the search are not raised: see
        :attr:`last_problems`.
        """
        if self._last_problems:
            self._last_problems = ()
        for read in self._type_check_reads:
            read(event)

        matched = []
        candidates = self._matchers if indexes is None else [self._matchers[index] for index in indexes]
        # Rules read many of the same fields, so each field is read and folded once for all of them.
        with share_field_values() if len(candidates) > 1 else nullcontext():
            for compiled, matches in candidates:
                try:
                    if matches(event):
                        matched.append(compiled)
                except DecodeError:
                    raise
                except Exception as exc:
                    raise RuleEvaluationError(compiled.rule.rule_id, exc) from exc
        return matched

    def alerts_for(
        self,
        event: Mapping[str, Any],
        source: SourceRef,
        indexes: Sequence[int] | None = None,
        *,
        copy_source: bool = True,
    ) -> list[tuple[CompiledRule, dict[str, Any]]]:
        """Return one alert record per matching rule (among ``indexes`` when given), paired with the rule.

        ``copy_source`` is passed to :meth:`AlertBuilder.build`: false makes the
        records share ``event``'s values, for a caller that encodes them at once.
        Raises as :meth:`matching_rules` does, and sets :attr:`last_problems`.
        """
        return [
            (compiled, compiled.alerts.build(event, source, copy_source=copy_source))
            for compiled in self.matching_rules(event, indexes)
        ]


def _can_report_problems(node: ast.Expression) -> bool:
    """Return whether evaluating ``node`` may report an evaluation problem: it contains arithmetic or a function that can fail."""
    if isinstance(node, (ast.Arithmetic, ast.Negate)):
        return True
    if isinstance(node, ast.FunctionCall):
        return FUNCTIONS[node.name.lower()].can_fail or any(map(_can_report_problems, node.args))
    if isinstance(node, (ast.And, ast.Or)):
        return any(map(_can_report_problems, node.terms))
    if isinstance(node, ast.Not):
        return _can_report_problems(node.operand)
    if isinstance(node, ast.Comparison):
        return _can_report_problems(node.left) or _can_report_problems(node.right)
    if isinstance(node, ast.Predicate):
        return _can_report_problems(node.operand)
    return False


def _merged_type_checks(rules: Sequence[CompiledRule]) -> dict[tuple[str, FieldSpec], Getter]:
    """Return one type check per typed field that some rule reads, however many rules read it, by field name and spec.

    Every decoded event goes through all of them, whichever rules the
    prefilter selected, so a field shared by a hundred rules is read once.
    """
    checks: dict[tuple[str, FieldSpec], Getter] = {}
    for compiled in rules:
        for check in compiled.query.type_checks:
            checks.setdefault((check.field_name, check.spec), check.read)
    return checks


def compile_rules(rules: Iterable[Rule], options: MatchOptions | None = None) -> tuple[list[CompiledRule], list[RuleReport]]:
    """Compile each rule, returning the compiled ones and a report per rule."""
    compiled: list[CompiledRule] = []
    reports: list[RuleReport] = []
    for rule in rules:
        try:
            query = compile_query(
                rule.query,
                options,
                rule=rule.display_name,
                category_field=rule.event_category_override or "event.category",
            )
        except QueryError as exc:
            reports.append(RuleReport(rule.source_path, rule.rule_id, rule.name, "error", str(exc)))
            continue
        compiled.append(CompiledRule(rule, query, AlertBuilder(rule)))
        reports.append(RuleReport(rule.source_path, rule.rule_id, rule.name, "ok"))
    return compiled, reports


def load_rule_set(
    paths: Sequence[Path] = (),
    queries: Sequence[str] = (),
    *,
    options: MatchOptions | None = None,
) -> tuple[RuleSet, list[RuleReport]]:
    """Load and compile rules from files, folders and query strings.

    With neither ``paths`` nor ``queries`` the shipped rule set is used. Rule
    files that fail to load and rules that fail to compile are reported, not
    raised; the caller decides whether any error is fatal.
    """
    rules: list[Rule] = []
    reports: list[RuleReport] = []

    if paths:
        result = load_rules(paths)
        rules.extend(result.rules)
        reports.extend(_load_error_report(error) for error in result.errors)
    for index, query in enumerate(queries):
        name = "command-line query" if len(queries) == 1 else f"command-line query {index + 1}"
        try:
            rules.append(rule_from_query(query, name=name))
        except RuleLoadError as exc:
            reports.append(_load_error_report(exc))
    if not paths and not queries:
        rules.extend(load_shipped_rules())

    compiled, compile_reports = compile_rules(rules, options)
    reports.extend(compile_reports)
    return RuleSet(compiled), reports


def _load_error_report(error: RuleLoadError) -> RuleReport:
    return RuleReport(error.path, None, error.rule, "error", str(error))


class RuleSetError(EqlStreamError):
    """Rules that failed to load or compile where the caller required all of them."""
