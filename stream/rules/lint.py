"""Warnings about rules that compile but cannot work as their author intended.

A warning never stops a rule from loading or running: ``eql-stream check``
prints it next to the rule's ``ok`` line and in the ``warnings`` list of
``--json``. Each warning is one line of text that names the rule, the value
at fault and what to change.

The checks:

* Event category: a rule whose category (the word before ``where``) is not an
  ECS ``event.category`` value matches no ECS event, because the category test
  compares that word with ``event.category`` exactly.
* Misspelt field: a field that is neither in the shipped process event schema
  nor typed by :func:`stream.eql.fields.builtin_field_spec`, and that differs
  from a schema field by a likely typo. Such a field has no value in events,
  and Elasticsearch rejects a rule whose field no index maps unless it is
  written ``?field``. eql-stream has no full list of ECS fields, so other
  unknown fields get no warning.
* Wildcard characters in ``stringContains`` and ``endsWith``: eql-stream reads
  the second argument as plain text, while Elasticsearch builds a wildcard
  query from it without escaping when the first argument is a field. There
  ``*`` and ``?`` act as wildcards and a backslash as an escape, so the rule
  can match differently. An empty argument gets its own warning, because its
  result in Elasticsearch is uncertain (it may match every value).
* Regular expressions written for Perl or Python: ``regex`` and ``regex~``
  patterns use Lucene's syntax, where ``^`` and ``$`` are literal characters,
  ``\\d``, ``\\s`` and ``\\w`` are not portable across Elasticsearch versions,
  ``(?i)`` is no flag, and unescaped ``@``, ``#``, ``<`` and ``>`` are
  operators. The warning gives a portable form where one exists.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from stream.codecs._avro_encoding import ECS_EXTRA, field_ecs_name
from stream.codecs.avro_schema import PROCESS_EVENT_SCHEMA, load_shipped_schema
from stream.eql.ast import And, Arithmetic, Comparison, Expression, Field, FunctionCall, Literal, Negate, Not, Or, Predicate, Query
from stream.eql.fields import _WILDCARD_FIELDS, FieldKind, builtin_field_spec
from stream.rules.model import Rule

# The allowed values of ``event.category`` on the current ECS reference page
# "ECS categorization field: event.category". That page lists no ``agent`` or
# ``email`` category, so rules that use them get a warning too.
ECS_EVENT_CATEGORIES: frozenset[str] = frozenset(
    {
        "api",
        "authentication",
        "configuration",
        "database",
        "driver",
        "file",
        "host",
        "iam",
        "intrusion_detection",
        "library",
        "malware",
        "network",
        "package",
        "process",
        "registry",
        "session",
        "threat",
        "vulnerability",
        "web",
    }
)


def rule_warnings(rule: Rule, query: Query) -> list[str]:
    """Return the warnings for ``rule``, whose parsed query is ``query``, in a stable order.

    The list is empty when nothing is wrong.
    """
    warnings: list[str] = []
    category_warning = event_category_warning(rule, query)
    if category_warning is not None:
        warnings.append(category_warning)
    warnings.extend(misspelt_field_warnings(rule, query))
    warnings.extend(wildcard_argument_warnings(rule, query))
    warnings.extend(regex_review_warnings(rule, query))
    return warnings


def event_category_warning(rule: Rule, query: Query) -> str | None:
    """Return a warning if ``query``'s event category is not an ECS ``event.category`` value, else ``None``.

    ``any where`` rules get no warning. Neither do rules with an
    ``event_category_override``, because they compare the category with
    another field, whose values ECS does not fix. The comparison is
    case-sensitive, as the compiled rule's is, so ``Process`` gets a warning
    that suggests ``process``.
    """
    category = query.category
    if category is None or rule.event_category_override is not None:
        return None
    if category in ECS_EVENT_CATEGORIES:
        return None

    message = (
        f"rule {rule.display_name!r}: event category {category!r} is not an ECS event.category value, "
        "so the rule matches no ECS event"
    )
    suggestions = difflib.get_close_matches(category.lower(), sorted(ECS_EVENT_CATEGORIES), n=1)
    if suggestions:
        return f"{message}; did you mean {suggestions[0]!r}?"
    return f"{message}; use one of {', '.join(sorted(ECS_EVENT_CATEGORIES))}, or 'any'"


# Kinds that builtin_field_spec gives only to fields it lists by full name or leaf name. It maps
# every other field of an ECS namespace as keyword, whether ECS defines the field or not.
_TYPED_FIELD_KINDS = frozenset({FieldKind.NUMBER, FieldKind.BOOLEAN, FieldKind.IP, FieldKind.WILDCARD})

# The minimum difflib ratio between a misspelt segment of a field name and the segment of a known
# field. A swap or change of one character in a segment of three or more characters scores at least
# 2/3. Elastic's prebuilt rules name no field that this check flags.
_FIELD_MATCH_CUTOFF = 0.65


@functools.cache
def known_field_names() -> frozenset[str]:
    """Return the dotted ECS names of the fields that the misspelt-field check compares field names with.

    They are the leaf fields of the shipped process event schema, under
    their ECS names (``@timestamp``, not ``timestamp``), and the fields that
    :mod:`stream.eql.fields` maps as wildcard by full name.

    Raises:
        ConfigError: the shipped schema cannot be loaded (broken package data).
    """
    schema = load_shipped_schema(PROCESS_EVENT_SCHEMA)
    names: set[str] = set()
    _collect_leaf_names(schema.parsed, schema.parsed.get("__named_schemas", {}), "", names, frozenset())
    return frozenset(names | _WILDCARD_FIELDS)


def _collect_leaf_names(
    schema: Any, named: Mapping[str, Any], path: str, names: set[str], records_on_path: frozenset[str]
) -> None:
    """Add to ``names`` the dotted ECS path of every leaf of the parsed Avro ``schema`` found at ``path``.

    A record is one level of the path and an array is not, as in
    :mod:`stream.codecs.avro_names`. A map or any other type is a leaf. The
    ``ecs_extra`` field, which contains the values the schema has no field
    for, is left out. A recursive record is followed once.
    """
    if isinstance(schema, list):
        for branch in schema:
            _collect_leaf_names(branch, named, path, names, records_on_path)
        return
    if schema == "null":
        return
    if isinstance(schema, str) and schema in named:
        schema = named[schema]

    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "array":
        _collect_leaf_names(schema["items"], named, path, names, records_on_path)
    elif kind == "record" and schema["name"] not in records_on_path:
        inner = records_on_path | {schema["name"]}
        for field in schema["fields"]:
            if not field.get(ECS_EXTRA):
                name = field_ecs_name(field)
                _collect_leaf_names(field["type"], named, f"{path}.{name}" if path else name, names, inner)
    elif kind != "record" and path:
        names.add(path)


def misspelt_field_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per field of ``query`` that looks like a misspelling of a known field.

    A field gets a warning when it is not written ``?field``, is not in
    :func:`known_field_names`, gets no type from
    :func:`~stream.eql.fields.builtin_field_spec` (such as ``process.pgid``,
    a number by its leaf name), and a known field with the same number of
    segments matches it, ignoring case, in every segment but one. That
    segment must start with the same character as the known field's and
    reach a difflib ratio of :data:`_FIELD_MATCH_CUTOFF`. Typos that add or
    remove a dot, or that change the first character of a segment, get no
    warning. A field named several times gets one warning.
    """
    known = known_field_names()
    warnings = []
    seen: set[str] = set()
    for field in _fields(query.condition):
        if field.optional or field.name in seen:
            continue
        seen.add(field.name)
        if field.name in known or builtin_field_spec(field.name).kind in _TYPED_FIELD_KINDS:
            continue

        suggestion = _closest_known_field(field.name, known)
        if suggestion is not None:
            warnings.append(
                f"rule {rule.display_name!r}: field {field.name!r} on line {field.line} of the query is not in the "
                f"shipped process event schema, so it has no value in those events, and Elasticsearch rejects a "
                f"rule whose field no index maps. Did you mean {suggestion!r}? If the name is right, write "
                f"?{field.name}"
            )
    return warnings


def _closest_known_field(name: str, known: frozenset[str]) -> str | None:
    """Return the known field that ``name`` most likely misspells, or ``None``. Ties go to the first in sorted order."""
    written = name.lower().split(".")
    best: str | None = None
    best_score = 0.0
    for candidate in sorted(known):
        score = _misspelling_score(written, candidate.lower().split("."))
        if score > best_score:
            best, best_score = candidate, score
    return best


def _misspelling_score(written: list[str], candidate: list[str]) -> float:
    """Return how likely the lower-cased segments ``written`` misspell ``candidate``, from 0 (not at all) to 1."""
    if len(written) != len(candidate):
        return 0.0
    differing = [(mine, theirs) for mine, theirs in zip(written, candidate) if mine != theirs]
    if not differing:
        return 1.0
    if len(differing) > 1:
        return 0.0

    ((mine, theirs),) = differing
    if mine[:1] != theirs[:1]:
        return 0.0
    score = difflib.SequenceMatcher(None, mine, theirs).ratio()
    return score if score >= _FIELD_MATCH_CUTOFF else 0.0


# Functions that Elasticsearch turns into a wildcard query when their first argument is a field
# and their second a constant, and the characters that are special in that query.
_WILDCARD_QUERY_FUNCTIONS = frozenset({"stringContains", "endsWith"})
_WILDCARD_CHARACTERS = ("*", "?", "\\")


def wildcard_argument_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per ``stringContains`` or ``endsWith`` call whose text argument Elasticsearch reads as a wildcard pattern.

    That is a call, with or without ``~``, on a field and a string
    constant that is empty or contains ``*``, ``?`` or a backslash.
    eql-stream matches such a constant as plain text. For ``*``, ``?`` and
    a backslash, the warning gives the pattern Elasticsearch uses and a
    ``regex`` condition that matches as it does, because eql-stream's
    wildcard patterns have no escape. For an empty text it states that the
    result in Elasticsearch is uncertain and suggests a ``!= null`` test.
    """
    warnings = []
    for call in _function_calls(query.condition):
        if call.name not in _WILDCARD_QUERY_FUNCTIONS or len(call.args) != 2:
            continue
        field, text = call.args
        if not isinstance(field, Field) or not isinstance(text, Literal) or not isinstance(text.value, str):
            continue

        if not text.value:
            warnings.append(_empty_argument_warning(rule, call, field))
        elif any(character in text.value for character in _WILDCARD_CHARACTERS):
            warnings.append(_wildcard_argument_warning(rule, call, field, text.value))
    return warnings


def _wildcard_argument_warning(rule: Rule, call: FunctionCall, field: Field, text: str) -> str:
    suffix = "~" if call.case_insensitive else ""
    trailing = "*" if call.name == "stringContains" else ""
    elasticsearch_pattern = f"*{text}{trailing}"
    return (
        f"rule {rule.display_name!r}: {call.name}{suffix}({field.name}, {_eql_string(text)}) on line "
        f"{call.line} of the query matches that text literally here, but Elasticsearch matches the wildcard "
        f"pattern {elasticsearch_pattern} (where '*' and '?' are wildcards and a backslash makes the next "
        f"character literal), so the rule can match differently. To match as Elasticsearch does, write "
        f"{field.name} regex{suffix} {_eql_string(_wildcard_to_regex(elasticsearch_pattern))}"
    )


def _empty_argument_warning(rule: Rule, call: FunctionCall, field: Field) -> str:
    suffix = "~" if call.case_insensitive else ""
    # eql-stream's stringContains is false for an empty value, and its endsWith true.
    values = "every non-empty value" if call.name == "stringContains" else "every value"
    return (
        f"rule {rule.display_name!r}: {call.name}{suffix}({field.name}, \"\") on line {call.line} of the query "
        f"has an empty text, which is true here for {values} of {field.name}, but whose result in Elasticsearch "
        f"is uncertain (it may match every value). Remove the condition, or write {field.name} != null to "
        f"require a value"
    )


# Characters with a meaning in Lucene's regular expression syntax, which regex and regex~ use.
_REGEX_RESERVED = frozenset('.?+*|{}[]()"\\#@&<>~')


def _wildcard_to_regex(pattern: str) -> str:
    """Return the Lucene regular expression that matches what the Lucene wildcard ``pattern`` matches."""
    parts = []
    position = 0
    while position < len(pattern):
        character = pattern[position]
        if character == "\\" and position + 1 < len(pattern):
            parts.append(_regex_literal(pattern[position + 1]))
            position += 2
            continue

        if character == "*":
            parts.append(".*")
        elif character == "?":
            parts.append(".")
        else:
            parts.append(_regex_literal(character))
        position += 1
    return "".join(parts)


def _regex_literal(character: str) -> str:
    return f"\\{character}" if character in _REGEX_RESERVED else character


def regex_review_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per ``regex`` or ``regex~`` pattern of ``query`` that is written for Perl or Python.

    The warning lists the constructs that Lucene reads differently (see
    :class:`_RegexReview`) and, where every one of them can be rewritten,
    the portable condition to write instead. ``&`` and ``~`` are not
    checked, because the compiler rejects them.
    """
    warnings = []
    for predicate in _predicates(query.condition):
        if predicate.op not in ("regex", "regex~"):
            continue
        for value in predicate.values:
            if not isinstance(value.value, str):
                continue
            review = _RegexReview(value.value)
            if review.reasons:
                warnings.append(_regex_warning(rule, predicate, value, review))
    return warnings


def _regex_warning(rule: Rule, predicate: Predicate, pattern: Literal, review: _RegexReview) -> str:
    operand = f"{_operand_text(predicate.operand)} "
    message = (
        f"rule {rule.display_name!r}: {operand}{predicate.op} {_eql_string(str(pattern.value))} on line "
        f"{pattern.line} of the query needs review, because Lucene reads it differently from a Perl or Python "
        f"regular expression. {'. '.join(review.reasons)}"
    )
    if review.portable is None:
        return f"{message}. Rewrite those constructs in Lucene syntax"
    operator = "regex~" if predicate.op == "regex~" or review.case_insensitive else "regex"
    return f"{message}. Portable form: {operand}{operator} {_eql_string(review.portable)}"


def _operand_text(operand: Expression) -> str:
    if isinstance(operand, Field):
        return f"?{operand.name}" if operand.optional else operand.name
    if isinstance(operand, FunctionCall):
        return f"{operand.name}(...)"
    return "the value"


# Perl's shorthand classes as portable Lucene classes, and as members to list inside a class.
# The tab, line feed and carriage return are written as EQL string escapes in the message.
_SHORTHAND_CLASSES = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "s": "[ \t\n\r]",
    "S": "[^ \t\n\r]",
    "w": "[a-zA-Z0-9_]",
    "W": "[^a-zA-Z0-9_]",
}
_SHORTHAND_MEMBERS = {"d": "0-9", "s": " \t\n\r", "w": "a-zA-Z0-9_"}

# The meaning of these characters in Elasticsearch's regexp query, which enables Lucene's optional operators.
_OPTIONAL_OPERATORS = {
    "@": "'@' matches any string",
    "#": "'#' matches no string",
    "<": "'<' starts a numeric interval such as <1-3>",
    ">": "'>' ends a numeric interval",
}

# Perl's inline flags, (?i) or (?i:...), and its non-capturing group (?:...).
_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-[a-zA-Z]*)?([:)])")


class _RegexReview:
    """The constructs of one Lucene pattern that a Perl or Python author likely misread, and a portable form.

    The pattern is read once, as Lucene's parser reads it. A backslash
    escapes the next character, ``"..."`` is a literal sequence, and inside
    ``[...]`` only a backslash and the closing ``]`` matter here.

    ``reasons`` lists, one sentence each, what Lucene does with the
    constructs, and is empty when there are none. ``portable`` is the
    pattern with the anchors and flag groups removed, the shorthand classes
    written out and the operators escaped, or ``None`` when a construct (a
    look-around group, or ``\\D``, ``\\S`` or ``\\W`` inside a class) has no
    portable form. ``case_insensitive`` is true when the pattern had an
    ``i`` flag, so the portable form needs ``regex~``.
    """

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._position = 0
        self._parts: list[str] = []
        self._rewritable = True
        self._anchors: list[str] = []
        self._shorthands: list[str] = []
        self._groups: list[str] = []
        self._operators: list[str] = []
        self.case_insensitive = False

        while self._position < len(pattern):
            self._read_operand()

        self.reasons = self._reasons()
        self.portable = "".join(self._parts) if self._rewritable else None

    def _read_operand(self) -> None:
        character = self._pattern[self._position]
        if character == "\\":
            self._read_escape(in_class=False)
        elif character == '"':
            self._copy_quoted()
        elif character == "[":
            self._read_class()
        elif character == "(" and self._pattern.startswith("(?", self._position):
            self._read_perl_group()
        elif character in "^$":
            _add_once(self._anchors, character)
            self._position += 1
        elif character in _OPTIONAL_OPERATORS:
            _add_once(self._operators, character)
            self._parts.append(f"\\{character}")
            self._position += 1
        else:
            self._parts.append(character)
            self._position += 1

    def _read_escape(self, *, in_class: bool) -> None:
        escaped = self._pattern[self._position : self._position + 2]
        self._position += len(escaped)
        letter = escaped[1:]
        if letter not in _SHORTHAND_CLASSES:
            self._parts.append(escaped)
            return

        _add_once(self._shorthands, escaped)
        if not in_class:
            self._parts.append(_SHORTHAND_CLASSES[letter])
        elif letter in _SHORTHAND_MEMBERS:
            self._parts.append(_SHORTHAND_MEMBERS[letter])
        else:
            self._parts.append(escaped)
            self._rewritable = False

    def _copy_quoted(self) -> None:
        end = self._pattern.find('"', self._position + 1)
        end = len(self._pattern) if end == -1 else end + 1
        self._parts.append(self._pattern[self._position : end])
        self._position = end

    def _read_class(self) -> None:
        # Lucene reads the first member literally, even ']', after an optional '^' that negates the class.
        start = self._position + 1
        if self._pattern.startswith("^", start):
            start += 1
        self._parts.append(self._pattern[self._position : start])
        self._position = start

        while self._position < len(self._pattern):
            character = self._pattern[self._position]
            if character == "]" and self._position > start:
                self._parts.append(character)
                self._position += 1
                return
            if character == "\\":
                self._read_escape(in_class=True)
            else:
                self._parts.append(character)
                self._position += 1

    def _read_perl_group(self) -> None:
        flags = _INLINE_FLAGS.match(self._pattern, self._position)
        if flags is None:
            # A look-around or named group: Lucene has none, and no rewrite keeps its meaning.
            _add_once(self._groups, self._pattern[self._position : self._position + 3])
            self._parts.append("(?")
            self._position += 2
            self._rewritable = False
            return

        _add_once(self._groups, flags.group(0))
        if "i" in flags.group(1):
            self.case_insensitive = True
        if flags.group(2) == ":":
            self._parts.append("(")
        self._position = flags.end()

    def _reasons(self) -> list[str]:
        reasons = []
        if self._anchors:
            what = "is a literal character in Lucene, not an anchor"
            if len(self._anchors) > 1:
                what = "are literal characters in Lucene, not anchors"
            reasons.append(
                f"{_quoted_list(self._anchors)} {what}, because a Lucene pattern always matches the whole value"
            )
        if self._shorthands:
            noun, article = ("class", "a ") if len(self._shorthands) == 1 else ("classes", "")
            reasons.append(
                f"Whether Lucene reads the Perl {noun} {_quoted_list(self._shorthands)} as {article}{noun} depends on the "
                "Elasticsearch version"
            )
        if self._groups:
            advice = ", so use regex~ for a case-insensitive match" if self.case_insensitive else ""
            reasons.append(
                f"Lucene has no inline flags or (?...) groups and reads the '?' of {_quoted_list(self._groups)} "
                f"as a literal character{advice}"
            )
        if self._operators:
            noun = "an operator" if len(self._operators) == 1 else "operators"
            meanings = ", ".join(_OPTIONAL_OPERATORS[operator] for operator in self._operators)
            reasons.append(f"Lucene reads an unescaped {_quoted_list(self._operators)} as {noun} ({meanings})")
        return reasons


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _quoted_list(items: list[str]) -> str:
    quoted = [f"'{item}'" for item in items]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


# EQL string escapes for the characters that cannot appear as themselves in a message.
_EQL_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _eql_string(text: str) -> str:
    """Return ``text`` as an EQL string literal, as a rule author writes it."""
    return f'"{text.translate(_EQL_STRING_ESCAPES)}"'


def _nodes(node: Expression) -> Iterator[Expression]:
    """Yield ``node`` and every expression inside it, outer expressions first, in the order written."""
    yield node
    if isinstance(node, FunctionCall):
        for argument in node.args:
            yield from _nodes(argument)
    elif isinstance(node, (And, Or)):
        for term in node.terms:
            yield from _nodes(term)
    elif isinstance(node, (Not, Negate)):
        yield from _nodes(node.operand)
    elif isinstance(node, (Comparison, Arithmetic)):
        yield from _nodes(node.left)
        yield from _nodes(node.right)
    elif isinstance(node, Predicate):
        yield from _nodes(node.operand)
        for value in node.values:
            yield from _nodes(value)


def _function_calls(node: Expression) -> Iterator[FunctionCall]:
    """Yield every function call in ``node``, outer calls first."""
    return (inner for inner in _nodes(node) if isinstance(inner, FunctionCall))


def _predicates(node: Expression) -> Iterator[Predicate]:
    """Yield every ``:``, ``like``, ``regex`` or ``in`` predicate in ``node``, outer predicates first."""
    return (inner for inner in _nodes(node) if isinstance(inner, Predicate))


def _fields(node: Expression) -> Iterator[Field]:
    """Yield every field reference in ``node``, in the order written."""
    return (inner for inner in _nodes(node) if isinstance(inner, Field))
