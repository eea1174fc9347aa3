"""Reader of the MITRE ATT&CK section of an Elastic rule documentation page.

The section follows the rule query::

    **Framework**: MITRE ATT&CKTM

    * Tactic:

        * Name: Discovery
        * ID: TA0007
        * Reference URL: [https://attack.mitre.org/tactics/TA0007/](https://attack.mitre.org/tactics/TA0007/)

    * Technique:

        * Name: System Network Connections Discovery
        * ID: T1049
        * Reference URL: [https://attack.mitre.org/techniques/T1049/](https://attack.mitre.org/techniques/T1049/)

Each ``* Tactic:`` starts a threat entry, each ``* Technique:`` belongs to the
tactic above it, and each ``* Sub-technique:`` to the technique above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stream.rules.model import MitreTechnique, MitreThreat

_FRAMEWORK = re.compile(r"^\*\*Framework\*\*:\s*(?P<value>.*?)\s*$")
_THREAT_ENTRY = re.compile(r"^\* (?P<kind>Tactic|Technique|Sub-technique):\s*$")
_THREAT_KEY = re.compile(r"^\s+\* (?P<key>Name|ID|Reference URL):\s*(?P<value>.+?)\s*$")
_MARKDOWN_LINK = re.compile(r"^\[[^\]]*\]\((?P<url>[^)\s]+)\)$")


def link_target(text: str) -> str:
    """Return the URL of a Markdown link ``[text](url)``, or ``text`` if it is not a link."""
    match = _MARKDOWN_LINK.match(text)
    return match["url"] if match is not None else text


@dataclass(slots=True)
class _ThreatEntry:
    """One ``* Tactic:``, ``* Technique:`` or ``* Sub-technique:`` bullet and its keys."""

    kind: str
    line: int
    framework: str | None
    values: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, value: str, line: int) -> None:
        if key in self.values:
            raise ValueError(f"line {line}: '* {key}:' repeats in the {self.kind} entry")
        self.values[key] = link_target(value) if key == "Reference URL" else value

    def complete_values(self) -> dict[str, str]:
        for key in ("Name", "ID", "Reference URL"):
            if key not in self.values:
                raise ValueError(
                    f"line {self.line}: {self.kind} entry is missing its '* {key}:' bullet"
                )
        return self.values


@dataclass(slots=True)
class _ThreatDraft:
    framework: str
    tactic: dict[str, str]
    techniques: list[tuple[dict[str, str], list[dict[str, str]]]] = field(default_factory=list)


def read_threats(lines: list[str], start: int, end: int) -> tuple[MitreThreat, ...]:
    """Parse the MITRE ATT&CK section in ``lines[start:end]`` into threat entries.

    Raises ValueError naming the 1-based line of a malformed or misplaced bullet.
    """
    drafts: list[_ThreatDraft] = []
    framework: str | None = None
    pending: _ThreatEntry | None = None

    for index in range(start, end):
        line = lines[index]
        if not line.strip():
            continue

        key_match = _THREAT_KEY.match(line)
        if key_match is not None and pending is not None:
            pending.add(key_match["key"], key_match["value"], index + 1)
            continue

        # Any other line ends the entry above it.
        if pending is not None:
            _attach_threat_entry(drafts, pending)
            pending = None

        framework_match = _FRAMEWORK.match(line)
        entry_match = _THREAT_ENTRY.match(line)
        if framework_match is not None:
            framework = _framework_name(framework_match["value"])
        elif entry_match is not None:
            pending = _ThreatEntry(kind=entry_match["kind"], line=index + 1, framework=framework)
        else:
            raise ValueError(
                f"line {index + 1}: malformed line {line!r} in the MITRE ATT&CK section: "
                "expected '**Framework**: ...', '* Tactic:', '* Technique:', '* Sub-technique:' "
                "or an indented '* Name:', '* ID:' or '* Reference URL:' bullet"
            )

    if pending is not None:
        _attach_threat_entry(drafts, pending)
    return tuple(_freeze_threat(draft) for draft in drafts)


def _framework_name(text: str) -> str:
    # Elastic's Markdown pages render the trademark sign as a trailing "TM" ("MITRE ATT&CKTM").
    # The "^TM^" and "™" spellings are accepted too.
    for suffix in ("^TM^", "TM", "™"):
        if text.endswith(suffix):
            return text[: -len(suffix)].strip()
    return text


def _attach_threat_entry(drafts: list[_ThreatDraft], entry: _ThreatEntry) -> None:
    values = entry.complete_values()
    if entry.kind == "Tactic":
        if entry.framework is None:
            raise ValueError(f"line {entry.line}: Tactic entry before any '**Framework**:' line")
        drafts.append(_ThreatDraft(framework=entry.framework, tactic=values))
    elif entry.kind == "Technique":
        if not drafts:
            raise ValueError(f"line {entry.line}: Technique entry before any Tactic entry")
        drafts[-1].techniques.append((values, []))
    else:
        if not drafts or not drafts[-1].techniques:
            raise ValueError(f"line {entry.line}: Sub-technique entry before any Technique entry")
        technique, subtechniques = drafts[-1].techniques[-1]
        if not values["ID"].startswith(technique["ID"] + "."):
            raise ValueError(
                f"line {entry.line}: Sub-technique {values['ID']} does not belong to the "
                f"Technique above it ({technique['ID']})"
            )
        subtechniques.append(values)


def _freeze_threat(draft: _ThreatDraft) -> MitreThreat:
    techniques = []
    for technique, subtechnique_values in draft.techniques:
        subtechniques = tuple(_freeze_technique(sub, ()) for sub in subtechnique_values)
        techniques.append(_freeze_technique(technique, subtechniques))

    return MitreThreat(
        framework=draft.framework,
        tactic_id=draft.tactic["ID"],
        tactic_name=draft.tactic["Name"],
        tactic_reference=draft.tactic["Reference URL"],
        techniques=tuple(techniques),
    )


def _freeze_technique(
    entry: dict[str, str], subtechniques: tuple[MitreTechnique, ...]
) -> MitreTechnique:
    return MitreTechnique(
        id=entry["ID"],
        name=entry["Name"],
        reference=entry["Reference URL"],
        subtechniques=subtechniques,
    )
