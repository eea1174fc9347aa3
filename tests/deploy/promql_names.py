"""Metric names read from PromQL expressions, for checking dashboards and alert rules.

This is a tokenizer, not a parser. First it removes what cannot contain a metric
name: string literals, label matchers, range and subquery brackets, Grafana
variables, and label lists after by, without, on, ignoring, group_left and
group_right. Then it keeps the identifiers that are neither called as a function
nor a PromQL keyword.
That suffices for the expressions in deploy/, which select metrics by name only
(never through {__name__=...}).
"""

from __future__ import annotations

import re

__all__ = ["metric_names"]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# The look-behind keeps the exponent of 1e-9 and the unit of 5m from counting as names.
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
        "bool", "offset", "inf", "nan",
    }
)


def metric_names(expression: str) -> set[str]:
    """Return the metric names that ``expression`` selects, with suffixes such as ``_bucket`` kept."""
    text = _STRING.sub(" ", expression)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    text = _LABEL_MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)

    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        called = text[match.end():].lstrip().startswith("(")
        if called or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names
