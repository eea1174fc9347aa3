"""Warnings about rules that compile but cannot work as their author intended.

A warning never stops a rule from loading or running: ``eql-stream check``
prints it next to the rule's ``ok`` line and in the ``warnings`` list of
``--json``. Each warning is one line of text that names the rule, the value
at fault and what to change.

The checks, one module of this package each:

* Event category (``category``): a rule whose category (the word before
  ``where``) is not an ECS ``event.category`` value matches no ECS event,
  because the category test compares that word with ``event.category``
  exactly.
* Misspelt field (``fields``): a field that is neither in the shipped process
  event schema nor typed by :func:`stream.eql.mapping.builtin_field_spec`, and
  that differs from a schema field by a likely typo. Such a field has no value
  in events, and Elasticsearch rejects a rule whose field no index maps unless
  it is written ``?field``. eql-stream has no full list of ECS fields, so
  other unknown fields get no warning.
* Wildcard characters in ``stringContains`` and ``endsWith`` (``wildcards``):
  eql-stream reads the second argument as plain text, while Elasticsearch
  builds a wildcard query from it without escaping when the first argument is
  a field. There ``*`` and ``?`` act as wildcards and a backslash as an
  escape, so the rule can match differently. An empty argument gets its own
  warning, because its result in Elasticsearch is uncertain (it may match
  every value).
* Regular expressions written for Perl or Python (``regex``): ``regex`` and
  ``regex~`` patterns use Lucene's syntax. There ``^`` and ``$`` are literal
  characters, ``\\d``, ``\\s`` and ``\\w`` are not portable across
  Elasticsearch versions, ``(?i)`` is no flag, and unescaped ``@``, ``#``,
  ``<`` and ``>`` are operators. The warning gives a portable form where one
  exists.
"""

from __future__ import annotations

from stream.eql.ast import Query
from stream.rules.lint.category import ECS_EVENT_CATEGORIES, event_category_warning
from stream.rules.lint.fields import known_field_names, misspelt_field_warnings
from stream.rules.lint.regex import regex_review_warnings
from stream.rules.lint.wildcards import wildcard_argument_warnings
from stream.rules.model import Rule

__all__ = [
    "ECS_EVENT_CATEGORIES",
    "event_category_warning",
    "known_field_names",
    "misspelt_field_warnings",
    "regex_review_warnings",
    "rule_warnings",
    "wildcard_argument_warnings",
]


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
