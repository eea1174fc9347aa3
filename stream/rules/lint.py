"""Warnings about rules that compile but cannot work as their author intended.

A warning never stops a rule from loading or running: ``eql-stream check``
prints it next to the rule's ``ok`` line and in the ``warnings`` list of
``--json``. Each warning is one line of text that names the rule, the value
at fault and what to change.

The only check so far is the event category: a rule whose category (the word
before ``where``) is not an ECS ``event.category`` value matches no ECS event,
because the category test compares that word with ``event.category`` exactly.
"""

from __future__ import annotations

import difflib

from stream.eql.ast import Query
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
