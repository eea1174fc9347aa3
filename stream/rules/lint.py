"""Warnings about rules that compile but cannot work as their author intended.

A warning never stops a rule from loading or running: ``eql-stream check``
prints it next to the rule's ``ok`` line and in the ``warnings`` list of
``--json``. Each warning is one line of text that names the rule, the value
at fault and what to change.

The checks:

* Event category: a rule whose category (the word before ``where``) is not an
  ECS ``event.category`` value matches no ECS event, because the category test
  compares that word with ``event.category`` exactly.
* Wildcard characters in ``stringContains`` and ``endsWith``: eql-stream reads
  the second argument as plain text, while Elasticsearch builds a wildcard
  query from it without escaping when the first argument is a field. There
  ``*`` and ``?`` act as wildcards and a backslash as an escape, and an empty argument
  may match every value, so the rule can match differently.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from stream.eql.ast import And, Arithmetic, Comparison, Expression, Field, FunctionCall, Literal, Negate, Not, Or, Predicate, Query
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
    warnings.extend(wildcard_argument_warnings(rule, query))
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


# Functions that Elasticsearch turns into a wildcard query when their first argument is a field
# and their second a constant, and the characters that are special in that query.
_WILDCARD_QUERY_FUNCTIONS = frozenset({"stringContains", "endsWith"})
_WILDCARD_CHARACTERS = ("*", "?", "\\")


def wildcard_argument_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per ``stringContains`` or ``endsWith`` call whose text argument Elasticsearch reads as a wildcard pattern.

    That is a call, with or without ``~``, on a field and a string
    constant that is empty or contains ``*``, ``?`` or a backslash.
    eql-stream matches such a constant as plain text. The warning gives the
    pattern Elasticsearch uses and a ``regex`` condition that matches as
    it does, because eql-stream's wildcard patterns have no escape.
    """
    warnings = []
    for call in _function_calls(query.condition):
        if call.name not in _WILDCARD_QUERY_FUNCTIONS or len(call.args) != 2:
            continue
        field, text = call.args
        if not isinstance(field, Field) or not isinstance(text, Literal) or not isinstance(text.value, str):
            continue
        if text.value and not any(character in text.value for character in _WILDCARD_CHARACTERS):
            continue

        suffix = "~" if call.case_insensitive else ""
        trailing = "*" if call.name == "stringContains" else ""
        elasticsearch_pattern = f"*{text.value}{trailing}"
        warnings.append(
            f"rule {rule.display_name!r}: {call.name}{suffix}({field.name}, {_eql_string(text.value)}) on line "
            f"{call.line} of the query matches that text literally here, but Elasticsearch matches the wildcard "
            f"pattern {elasticsearch_pattern} (where '*' and '?' are wildcards and a backslash makes the next "
            f"character literal), so the rule can match differently. To match as Elasticsearch does, write "
            f"{field.name} regex{suffix} {_eql_string(_wildcard_to_regex(elasticsearch_pattern))}"
        )
    return warnings


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


def _eql_string(text: str) -> str:
    """Return ``text`` as an EQL string literal, as a rule author writes it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _function_calls(node: Expression) -> Iterator[FunctionCall]:
    """Yield every function call in ``node``, outer calls first."""
    if isinstance(node, FunctionCall):
        yield node
        for argument in node.args:
            yield from _function_calls(argument)
    elif isinstance(node, (And, Or)):
        for term in node.terms:
            yield from _function_calls(term)
    elif isinstance(node, (Not, Negate)):
        yield from _function_calls(node.operand)
    elif isinstance(node, (Comparison, Arithmetic)):
        yield from _function_calls(node.left)
        yield from _function_calls(node.right)
    elif isinstance(node, Predicate):
        yield from _function_calls(node.operand)
        for value in node.values:
            yield from _function_calls(value)
