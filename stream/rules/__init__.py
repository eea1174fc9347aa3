"""Rule model and loaders."""

from stream.rules.model import MitreTechnique, MitreThreat, Rule
from stream.rules.loaders import (
    RuleLoadResult,
    load_rule_file,
    load_rules,
    load_shipped_rules,
    rule_from_query,
)

__all__ = [
    "MitreTechnique",
    "MitreThreat",
    "Rule",
    "RuleLoadResult",
    "load_rule_file",
    "load_rules",
    "load_shipped_rules",
    "rule_from_query",
]
