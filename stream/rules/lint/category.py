"""The event category check: a category that is not an ECS ``event.category`` value."""

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
