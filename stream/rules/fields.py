"""Field checks and derived rule ids shared by the rule file formats.

The checks raise :class:`ValueError` with a message that names the field and
the rejected value. Each format module turns it into a
:class:`~stream.errors.RuleLoadError` that also names the file and the rule.
"""

from __future__ import annotations

import re
import uuid

from stream.rules.model import Rule

SEVERITIES = ("low", "medium", "high", "critical")

RULE_FILE_SUFFIXES = (".toml", ".md", ".eql")

# A rule with the model's default in every optional field, which readers use for missing keys.
DEFAULT_RULE = Rule(rule_id="", name="", query="")

# Fixed namespace of the rule ids this project derives with uuid5. Changing it
# changes every derived id, and with it the alert ids of rules that have none.
DERIVED_RULE_ID_NAMESPACE = uuid.UUID("cae288e3-451f-4be0-b184-599e2e936901")

# Elastic date math as detection rules use it: a whole number and a unit.
_DURATION = r"[1-9][0-9]*[smhd]"
_INTERVAL_PATTERN = re.compile(rf"^{_DURATION}$")
_FROM_PATTERN = re.compile(rf"^now-{_DURATION}$")


def derive_rule_id(key: str) -> str:
    """Return a stable rule id for a rule file that states none: uuid5 of ``key``."""
    return str(uuid.uuid5(DERIVED_RULE_ID_NAMESPACE, key))


def check_eql(type_: str, language: str) -> None:
    """Raise ValueError unless the rule type and query language are both ``eql``."""
    if type_ != "eql" or language != "eql":
        raise ValueError(
            f"not an EQL rule (type {type_!r}, language {language!r}): "
            "eql-stream runs only rules whose type and language are 'eql'"
        )


def check_severity(value: str) -> str:
    """Return ``value`` if it is one of Elastic's four severities, else raise ValueError."""
    if value not in SEVERITIES:
        raise ValueError(f"invalid severity {value!r}: expected one of {', '.join(SEVERITIES)}")
    return value


def check_risk_score(value: int) -> int:
    """Return ``value`` if it is a risk score from 0 to 100, else raise ValueError."""
    if not 0 <= value <= 100:
        raise ValueError(f"invalid risk_score {value}: expected a whole number from 0 to 100")
    return value


def check_positive(field: str, value: int) -> int:
    """Return ``value`` if it is at least 1, else raise ValueError naming ``field``."""
    if value < 1:
        raise ValueError(f"invalid {field} {value}: expected a whole number of at least 1")
    return value


def check_interval(value: str) -> str:
    """Return ``value`` if it is a schedule interval such as ``5m``, else raise ValueError."""
    if not _INTERVAL_PATTERN.match(value):
        raise ValueError(
            f"invalid interval {value!r}: expected a number and a unit s, m, h or d, such as '5m'"
        )
    return value


def check_from(value: str) -> str:
    """Return ``value`` if it is a look-back start such as ``now-9m``, else raise ValueError."""
    if not _FROM_PATTERN.match(value):
        raise ValueError(
            f"invalid from {value!r}: expected 'now-' and a number and a unit s, m, h or d, "
            "such as 'now-9m'"
        )
    return value


def normalize_query(query: str) -> str:
    """Strip leading and trailing whitespace from ``query``, raising ValueError if none is left.

    Line and column numbers that the EQL compiler reports refer to this
    stripped text, which is also the text stored in :class:`Rule`.
    """
    stripped = query.strip()
    if not stripped:
        raise ValueError("empty query: the rule has no EQL text")
    return stripped
