"""Compile an EQL syntax tree into a matcher over one decoded event.

Each node becomes a small closure, built once per rule; evaluation does no
parsing, no regex compiling and no field-name resolution. Semantics follow
Elasticsearch 8.0 to 9.4:

* a leaf (comparison, predicate, boolean function) is true when *some*
  combination of its fields' values makes it true, and an absent field
  contributes ``null``, which satisfies nothing;
* ``not``, ``!=`` and ``not in`` are the complement of the positive form, so
  they are true on absent fields;
* case-insensitive operators fold ASCII letters only (or Unicode simple
  folding with the ``unicode`` setting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stream.eql import ast
from stream.eql import functions as fn
from stream.eql.codegen import MatcherGenerator
from stream.eql.comparisons import _ORDERING, _compare_constants, _dynamic_test
from stream.eql.fields import Getter, make_value_getter
from stream.eql.ip import ip_sort_key
from stream.eql.literals import selectivity_rank
from stream.eql.mapping import FieldKind, FieldSchema, FieldSpec, unqueryable_field_reason
from stream.eql.predicates import compile_membership, compile_text_predicate, ip_terms
from stream.eql.text import eql_literal, folding_function
from stream.eql.values import CompiledValue, Event, call_value, constant_value, field_value
from stream.errors import QueryCompileError, UnsupportedQueryError

Matcher = Callable[[Event], bool]

# Field kinds whose mapping rejects some JSON values, so that Elasticsearch refuses the document.
_TYPE_CHECKED_KINDS = frozenset({FieldKind.NUMBER, FieldKind.BOOLEAN, FieldKind.IP})
_MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ARITHMETIC = {"+": fn.add, "-": fn.subtract, "*": fn.multiply, "/": fn.divide, "%": fn.modulo}


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Settings that change matching results.

    ``case_folding`` is ``ascii`` (Elasticsearch 8.0 to 9.4, the default) or
    ``unicode`` (later releases). ``schema`` gives field types and limits.
    """

    case_folding: str = "ascii"
    schema: FieldSchema = field(default_factory=FieldSchema)


@dataclass(frozen=True, slots=True)
class TypeCheck:
    """A reader of one numeric, boolean or IP field that raises ``FieldTypeError`` on a value its mapping rejects.

    ``read`` reads the event every time it is called: unlike the matcher's
    field getters, it keeps no values between calls, so it can run outside an
    evaluation.
    """

    field_name: str
    spec: FieldSpec
    read: Getter


@dataclass(slots=True)
class CompiledCondition:
    """The output of :func:`compile_condition`: the matcher, the fields it reads and their type checks."""

    matcher: Matcher
    fields: dict[str, CompiledValue]
    type_checks: tuple[TypeCheck, ...]


def compile_condition(
    query: ast.Query, options: MatchOptions, category_field: str = "event.category"
) -> CompiledCondition:
    """Compile ``query`` (category test on ``category_field``, and condition) into one matcher.

    Raises:
        QueryCompileError: a construct Elasticsearch rejects, such as ``:`` with a
            number, a comparison of two fields, or an invalid regex or CIDR block.
    """
    compiler = _Compiler(query.text, options)
    condition = compiler.boolean(query.condition)
    epoch = compiler.epoch

    # The closures above validated the query; the generated function is the same
    # semantics with the common leaves written out.
    generated = MatcherGenerator(compiler).generate(query.condition, query.category, category_field)
    if generated is not None:
        return CompiledCondition(generated, compiler.fields, tuple(compiler.type_checks.values()))

    if query.category is None:

        def matches_any(event: Event) -> bool:
            epoch[0] += 1
            return condition(event)

        return CompiledCondition(matches_any, compiler.fields, tuple(compiler.type_checks.values()))

    category = query.category
    category_values = compiler.field_reference(ast.Field(1, 1, tuple(category_field.split(".")))).getter
    assert category_values is not None

    # The condition usually rejects an event sooner than the category test,
    # which nearly every event of a process topic passes.
    def matches(event: Event) -> bool:
        epoch[0] += 1
        return condition(event) and category in category_values(event)

    return CompiledCondition(matches, compiler.fields, tuple(compiler.type_checks.values()))


def _cached_per_evaluation(getter: Getter, epoch: list[int]) -> Getter:
    """Wrap ``getter`` so that it reads the event once per evaluation.

    ``epoch[0]`` changes at the start of every ``matches`` call; within one call
    the values are reused by every leaf that reads the field. The values list
    is shared, so callers must not modify it.
    """
    memo: list[Any] = [-1, None]

    def get(event: Event) -> list[Any]:
        if memo[0] == epoch[0]:
            return memo[1]  # type: ignore[no-any-return]
        values = getter(event)
        memo[0] = epoch[0]
        memo[1] = values
        return values

    return get


class _Compiler:
    def __init__(self, text: str, options: MatchOptions) -> None:
        self._text = text
        self._options = options
        self._fold = folding_function(options.case_folding)
        self.fields: dict[str, CompiledValue] = {}
        self.type_checks: dict[str, TypeCheck] = {}
        # Evaluation counter shared by the per-evaluation caches of field values.
        self.epoch = [0]
        self._folded: dict[str, Getter] = {}

    def field_kind(self, name: str) -> FieldKind:
        """Return the indexing kind of field ``name``."""
        return self._options.schema.spec(name).kind

    @property
    def options(self) -> MatchOptions:
        return self._options

    @property
    def fold(self) -> Callable[[str], str]:
        return self._fold

    def error(self, message: str, node: ast.Node) -> QueryCompileError:
        return QueryCompileError(message, query=self._text, line=node.line, column=node.column)

    # Boolean structure -------------------------------------------------------

    def boolean(self, node: ast.Expression) -> Matcher:
        if isinstance(node, ast.And):
            kind_of = self.field_kind
            ordered = sorted(node.terms, key=lambda term: -selectivity_rank(term, kind_of))
            return _all_of([self.boolean(term) for term in ordered])
        if isinstance(node, ast.Or):
            return _any_of([self.boolean(term) for term in node.terms])
        if isinstance(node, ast.Not):
            inner = self.boolean(node.operand)
            return lambda event: not inner(event)
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Predicate):
            return self.predicate(node)
        if isinstance(node, ast.Literal) and isinstance(node.value, bool):
            result = node.value
            return lambda event: result
        if isinstance(node, ast.FunctionCall):
            value = self.value(node)
            if value.type != "boolean":
                raise self.error(f"function '{node.name}' does not return a boolean: compare its result", node)
            return _any_true(value)
        if isinstance(node, ast.Field):
            value = self.field_reference(node)
            if value.type != "boolean":
                raise self.error(
                    f"field '{node.name}' is not a boolean condition: write '{node.name} == true' "
                    "or compare it with a value",
                    node,
                )
            return _any_true(value)
        raise self.error("this expression is not a condition: compare it with a value", node)

    # Comparisons -------------------------------------------------------------

    def comparison(self, node: ast.Comparison) -> Matcher:
        left = self.value(node.left)
        right = self.value(node.right)
        op = node.op

        if left.constant and right.constant:
            result = _compare_constants(op, left.constant_value, right.constant_value)
            return lambda event: result
        if left.constant:
            left, right, op = right, left, _MIRRORED[op]
        if not right.constant:
            raise self.error(
                "comparisons need a literal on one side: comparing two fields or field expressions "
                "is not supported by Elasticsearch EQL",
                node,
            )

        literal = right.constant_value
        if literal is None:
            return self._null_comparison(op, left, node)

        positive_op = "==" if op == "!=" else op
        test = self._comparison_leaf(positive_op, left, literal, node)
        if op == "!=":
            return lambda event: not test(event)
        return test

    def _null_comparison(self, op: str, left: CompiledValue, node: ast.Node) -> Matcher:
        if op not in ("==", "!="):
            raise self.error("'null' can only be compared with == or !=", node)
        candidates = left.candidates

        def is_null(event: Event) -> bool:
            return None in candidates(event)

        if op == "==":
            return is_null
        return lambda event: not is_null(event)

    def _comparison_leaf(self, op: str, left: CompiledValue, literal: Any, node: ast.Node) -> Matcher:
        compare = _ORDERING[op]
        if left.spec is not None and left.spec.kind is FieldKind.IP:
            if op != "==":
                return self._ip_ordering_leaf(compare, left, fn.text_of(literal), node)
            return self._ip_equality_leaf(left, literal, node)
        literal = self._coerce_literal(left, literal, node)

        if left.is_field and op == "==" and left.type != "any":
            getter = left.getter
            assert getter is not None
            return lambda event: literal in getter(event)

        candidates = left.candidates
        if left.type == "any" or (left.type == "string") != isinstance(literal, str):
            test = _dynamic_test(compare, literal)
        else:
            def test(value: Any) -> bool:
                return value is not None and compare(value, literal)

        def leaf(event: Event) -> bool:
            for value in candidates(event):
                if test(value):
                    return True
            return False

        return leaf

    def _ip_equality_leaf(self, left: CompiledValue, literal: Any, node: ast.Node) -> Matcher:
        """Compile ``==`` on an IP field: the same address in any notation, or any address of a block."""
        terms = ip_terms(left, [literal], self.error_at(node))
        candidates = left.candidates
        return lambda event: any(map(terms, candidates(event)))

    def _ip_ordering_leaf(self, compare: Callable[[Any, Any], bool], left: CompiledValue, literal: Any, node: ast.Node) -> Matcher:
        """Compile ``<``, ``<=``, ``>`` or ``>=`` on an IP field: addresses in Elasticsearch's order, not their text."""
        literal_key = ip_sort_key(literal) if isinstance(literal, str) else None
        if literal_key is None:
            raise self.error(
                f"invalid IP address {literal!r}: field '{left.field_name}' is an IP field, so compare it with an address",
                node,
            )
        candidates = left.candidates

        def leaf(event: Event) -> bool:
            for value in candidates(event):
                key = ip_sort_key(value) if isinstance(value, str) else None
                if key is not None and compare(key, literal_key):
                    return True
            return False

        return leaf

    def _coerce_literal(self, left: CompiledValue, literal: Any, node: ast.Node) -> Any:
        """Convert a literal to the indexed type of the field it is compared with."""
        kind = left.spec.kind if left.spec else None
        if kind in (FieldKind.KEYWORD, FieldKind.WILDCARD):
            return fn.text_of(literal)
        if kind is FieldKind.NUMBER:
            if isinstance(literal, bool) or not isinstance(literal, (int, float, str)):
                raise self.error(f"field '{left.field_name}' is numeric: compare it with a number", node)
            number = fn.to_number(literal)
            if number is None:
                raise self.error(f"field '{left.field_name}' is numeric, but {eql_literal(literal)} is not a number", node)
            return number
        if kind is FieldKind.BOOLEAN:
            if literal in ("true", "false"):
                return literal == "true"
            if not isinstance(literal, bool):
                raise self.error(f"field '{left.field_name}' is boolean: compare it with true or false", node)
        return literal

    # Predicates --------------------------------------------------------------

    def predicate(self, node: ast.Predicate) -> Matcher:
        operand = self.value(node.operand)
        literals = [value.value for value in node.values]

        folded = None
        if operand.is_field and operand.spec is not None and operand.spec.kind in (FieldKind.KEYWORD, FieldKind.WILDCARD):
            folded = self.folded_values(operand)

        if node.op in ("in", "in~"):
            return compile_membership(node.op, operand, literals, self._fold, self.error_at(node), folded)

        for value in node.values:
            if not isinstance(value.value, str):
                raise self.error(
                    f"'{node.op}' compares text, but {eql_literal(value.value)} is not a string: "
                    "use == or in for numbers, booleans and null",
                    value,
                )
        if operand.type in ("number", "boolean"):
            what = f"field '{operand.field_name}' is" if operand.is_field else "the left side is"
            raise self.error(
                f"'{node.op}' needs a text operand, but {what} a {operand.type}: use == or in to compare it",
                node,
            )
        return compile_text_predicate(node.op, operand, literals, self._fold, self.error_at(node), folded)

    def error_at(self, node: ast.Node) -> Callable[[str], QueryCompileError]:
        return lambda message: self.error(message, node)

    # Values ------------------------------------------------------------------

    def value(self, node: ast.Expression) -> CompiledValue:
        if isinstance(node, ast.Literal):
            return constant_value(node.value, _literal_type(node.value))
        if isinstance(node, ast.Field):
            return self.field_reference(node)
        if isinstance(node, ast.FunctionCall):
            return self.call(node)
        if isinstance(node, ast.Arithmetic):
            return self.arithmetic(node)
        if isinstance(node, ast.Negate):
            operand = self.number_operand(node.operand, "-")
            return call_value(fn.negate, [operand], "number")
        matcher = self.boolean(node)
        return CompiledValue(lambda event: [matcher(event)], "boolean")

    def field_reference(self, node: ast.Field) -> CompiledValue:
        name = node.name
        schema = self._options.schema
        if node.optional and not schema.is_known(name):
            return constant_value(None, "any")
        if name in self.fields:
            return self.fields[name]
        unqueryable = unqueryable_field_reason(name)
        if unqueryable is not None:
            reason, valid_in_elasticsearch = unqueryable
            if valid_in_elasticsearch:
                raise UnsupportedQueryError(reason, query=self._text, line=node.line, column=node.column)
            raise self.error(reason, node)

        spec = schema.spec(name)
        getter = _cached_per_evaluation(make_value_getter(name, node.path, spec), self.epoch)
        if spec.kind in _TYPE_CHECKED_KINDS:
            self.type_checks[name] = TypeCheck(name, spec, make_value_getter(name, node.path, spec))
        value_type = {
            FieldKind.NUMBER: "number",
            FieldKind.BOOLEAN: "boolean",
            FieldKind.DYNAMIC: "any",
        }.get(spec.kind, "string")
        compiled = field_value(name, spec, getter, value_type)
        self.fields[name] = compiled
        return compiled

    def folded_values(self, value: CompiledValue) -> Getter:
        """Return a getter of a text field's values after case folding, cached per evaluation."""
        assert value.field_name is not None and value.getter is not None
        if value.field_name not in self._folded:
            getter, fold = value.getter, self._fold

            def folded(event: Event) -> list[Any]:
                return [fold(text) for text in getter(event)]

            self._folded[value.field_name] = _cached_per_evaluation(folded, self.epoch)
        return self._folded[value.field_name]

    def number_operand(self, node: ast.Expression, op: str) -> CompiledValue:
        value = self.value(node)
        if value.type in ("string", "boolean"):
            raise self.error(f"'{op}' needs numbers, but this operand is a {value.type}", node)
        return value

    def arithmetic(self, node: ast.Arithmetic) -> CompiledValue:
        left = self.number_operand(node.left, node.op)
        right = self.number_operand(node.right, node.op)
        return call_value(_ARITHMETIC[node.op], [left, right], "number")

    def call(self, node: ast.FunctionCall) -> CompiledValue:
        spec = fn.FUNCTIONS[node.name.lower()]
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            expected = str(spec.min_args) if spec.min_args == spec.max_args else (
                f"{spec.min_args} or more" if spec.max_args is None else f"{spec.min_args} to {spec.max_args}"
            )
            raise self.error(f"function '{spec.name}' takes {expected} arguments, not {count}", node)

        for position, argument in enumerate(node.args):
            # Elasticsearch's result for a literal null where text is required is not dependable.
            if isinstance(argument, ast.Literal) and argument.value is None and spec.parameter(position) == "s":
                raise self.error(
                    f"null cannot be argument {position + 1} of '{spec.name}': Elasticsearch gives no dependable "
                    "result for it. To test whether a field has a value, write field != null",
                    argument,
                )
        arguments = [self.value(argument) for argument in node.args]
        for position, (argument, argument_node) in enumerate(zip(arguments, node.args)):
            self._check_argument_type(spec, position, argument, argument_node)

        builder = getattr(self, "_call_" + spec.name.lower(), None)
        if builder is not None:
            return builder(node, arguments)

        implementation = {
            "add": fn.add,
            "subtract": fn.subtract,
            "multiply": fn.multiply,
            "divide": fn.divide,
            "modulo": fn.modulo,
            "concat": fn.concat,
            "length": fn.length,
            "string": fn.to_string,
            "substring": fn.substring,
        }[spec.name.lower()]
        return call_value(implementation, arguments, spec.result)

    def _check_argument_type(self, spec: fn.FunctionSpec, position: int, argument: CompiledValue, node: ast.Expression) -> None:
        """Raise a compile error when ``argument`` has a type that Elasticsearch rejects at ``position`` of ``spec``."""
        expected = spec.parameter(position)
        is_ip_field = argument.spec is not None and argument.spec.kind is FieldKind.IP
        if expected == "s" and (argument.type in ("number", "boolean") or is_ip_field):
            needed = "text: a keyword-type field, a string or a function that returns text"
        elif expected == "n" and argument.type in ("string", "boolean"):
            needed = "a number: a numeric field, a number or a function that returns a number"
        else:
            return
        raise self.error(
            f"argument {position + 1} of '{spec.name}' must be {needed}, but {_describe_value(argument, node)}",
            node,
        )

    def _case_fold_for(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> Callable[[str], str] | None:
        """Folding of a ``~`` function: the setting's folding on a field, Unicode lower-casing otherwise."""
        if not node.case_insensitive:
            return None
        if node.name in ("indexOf", "between") or not arguments[0].is_field:
            return str.lower
        return self._fold

    def _call_startswith(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        return self._string_test(fn.starts_with, node, arguments)

    def _call_endswith(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        return self._string_test(fn.ends_with, node, arguments)

    def _call_stringcontains(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        return self._string_test(fn.string_contains, node, arguments)

    def _string_test(
        self, implementation: Callable[..., Any], node: ast.FunctionCall, arguments: list[CompiledValue]
    ) -> CompiledValue:
        fold = self._case_fold_for(node, arguments)
        return call_value(implementation, [*arguments, constant_value(fold, "any")], "boolean")

    def _call_indexof(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        fold = self._case_fold_for(node, arguments)
        start = arguments[2] if len(arguments) > 2 else constant_value(None, "number")
        return call_value(fn.index_of, [arguments[0], arguments[1], start, constant_value(fold, "any")], "number")

    def _call_between(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        fold = self._case_fold_for(node, arguments)
        greedy = arguments[3] if len(arguments) > 3 else constant_value(False, "boolean")
        if not greedy.constant or not isinstance(greedy.constant_value, bool):
            raise self.error("the greedy argument of 'between' must be the literal true or false", node)
        return call_value(
            fn.between, [*arguments[:3], greedy, constant_value(fold, "any")], "string"
        )

    def _call_number(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        if len(arguments) > 1:
            base = arguments[1].constant_value
            if not arguments[1].constant or not isinstance(base, int) or isinstance(base, bool):
                raise self.error("the base argument of 'number' must be an integer literal", node)
            # Java parses integers in bases Character.MIN_RADIX (2) to Character.MAX_RADIX (36) only.
            if not 2 <= base <= 36:
                raise self.error(f"invalid base {base} in 'number': the base must be from 2 to 36", node.args[1])
        return call_value(fn.parse_number, arguments, "number")

    def _call_cidrmatch(self, node: ast.FunctionCall, arguments: list[CompiledValue]) -> CompiledValue:
        networks = []
        for argument, argument_node in zip(arguments[1:], node.args[1:]):
            block = argument.constant_value
            if not argument.constant or not isinstance(block, str):
                raise self.error("the address blocks of 'cidrMatch' must be string literals", argument_node)
            try:
                networks.append(fn.parse_cidr(block))
            except ValueError:
                raise self.error(f"invalid address block {block!r} in 'cidrMatch': write it as 10.0.0.0/8", argument_node) from None

        address = arguments[0]
        if address.spec is not None and address.spec.kind not in (FieldKind.IP, FieldKind.DYNAMIC):
            raise self.error(f"'cidrMatch' needs an IP field, but '{address.field_name}' is not one", node)
        return call_value(fn.cidr_match, [address, constant_value(tuple(networks), "any")], "boolean")


_FIELD_TYPE_PHRASES = {FieldKind.NUMBER: "a numeric field", FieldKind.BOOLEAN: "a boolean field", FieldKind.IP: "an IP field"}


def _describe_value(value: CompiledValue, node: ast.Expression) -> str:
    """Describe a function argument by its type, for an error message."""
    if value.is_field:
        kind = value.spec.kind if value.spec is not None else None
        field_type = _FIELD_TYPE_PHRASES.get(kind, "a text field")  # type: ignore[arg-type]
        return f"'{value.field_name}' is {field_type}"
    if isinstance(node, ast.Literal):
        return f"{eql_literal(node.value)} is a {value.type}"
    if isinstance(node, ast.FunctionCall):
        return f"'{node.name}' returns a {value.type}"
    return f"this expression is a {value.type}"


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "any"


def _any_true(value: CompiledValue) -> Matcher:
    candidates = value.candidates
    return lambda event: True in candidates(event)


def _all_of(terms: list[Matcher]) -> Matcher:
    if len(terms) == 2:
        first, second = terms
        return lambda event: first(event) and second(event)
    if len(terms) == 3:
        first, second, third = terms
        return lambda event: first(event) and second(event) and third(event)
    frozen = tuple(terms)

    def all_of(event: Event) -> bool:
        for term in frozen:
            if not term(event):
                return False
        return True

    return all_of


def _any_of(terms: list[Matcher]) -> Matcher:
    if len(terms) == 2:
        first, second = terms
        return lambda event: first(event) or second(event)
    if len(terms) == 3:
        first, second, third = terms
        return lambda event: first(event) or second(event) or third(event)
    frozen = tuple(terms)

    def any_of(event: Event) -> bool:
        for term in frozen:
            if term(event):
                return True
        return False

    return any_of
