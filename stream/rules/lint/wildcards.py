"""The wildcard check: ``stringContains`` and ``endsWith`` texts that Elasticsearch reads as wildcard patterns."""

from __future__ import annotations

from stream.eql.ast import Field, FunctionCall, Literal, Query
from stream.rules.lint._syntax import eql_string, iter_function_calls
from stream.rules.model import Rule

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
    for call in iter_function_calls(query.condition):
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
        f"rule {rule.display_name!r}: {call.name}{suffix}({field.name}, {eql_string(text)}) on line "
        f"{call.line} of the query matches that text literally here, but Elasticsearch matches the wildcard "
        f"pattern {elasticsearch_pattern} (where '*' and '?' are wildcards and a backslash makes the next "
        f"character literal), so the rule can match differently. To match as Elasticsearch does, write "
        f"{field.name} regex{suffix} {eql_string(_wildcard_to_regex(elasticsearch_pattern))}"
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
