"""Typed model of a detection rule, independent of the file format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MitreTechnique:
    """A MITRE ATT&CK technique or sub-technique (``id`` such as ``T1049``)."""

    id: str
    name: str
    reference: str
    subtechniques: tuple["MitreTechnique", ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the Elastic ``threat.technique`` shape of this technique."""
        result: dict[str, Any] = {"id": self.id, "name": self.name, "reference": self.reference}
        if self.subtechniques:
            result["subtechnique"] = [sub.to_dict() for sub in self.subtechniques]
        return result


@dataclass(frozen=True, slots=True)
class MitreThreat:
    """One ``threat`` entry: a framework, a tactic and the techniques under it."""

    framework: str
    tactic_id: str
    tactic_name: str
    tactic_reference: str
    techniques: tuple[MitreTechnique, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the Elastic ``threat`` shape of this entry."""
        result: dict[str, Any] = {
            "framework": self.framework,
            "tactic": {
                "id": self.tactic_id,
                "name": self.tactic_name,
                "reference": self.tactic_reference,
            },
        }
        if self.techniques:
            result["technique"] = [technique.to_dict() for technique in self.techniques]
        return result


@dataclass(frozen=True, slots=True)
class Rule:
    """A detection rule as Elastic's detection engine describes it.

    ``query`` is the EQL text; the other fields are metadata that is copied into
    alert records. ``interval`` and ``from_`` use Elastic's notation (``5m``,
    ``now-9m``). ``event_category_override`` names the field that contains the
    event category when it is not ``event.category``. ``source_path`` names the file the rule was loaded from, or is
    ``None`` for a rule built in code or given on the command line.
    """

    rule_id: str
    name: str
    query: str
    description: str = ""
    version: int = 1
    severity: str = "low"
    risk_score: int = 21
    type: str = "eql"
    language: str = "eql"
    building_block_type: str | None = None
    tags: tuple[str, ...] = ()
    threat: tuple[MitreThreat, ...] = ()
    max_signals: int = 100
    interval: str = "5m"
    from_: str = "now-6m"
    index: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    license: str = ""
    references: tuple[str, ...] = ()
    event_category_override: str | None = None
    source_path: str | None = field(default=None, compare=False)

    @property
    def display_name(self) -> str:
        """Return the name used in messages: the rule name, else its id."""
        return self.name or self.rule_id
