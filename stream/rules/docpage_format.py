"""Reader of Elastic's Markdown documentation page of a prebuilt rule.

A page has this shape (optional YAML front matter first)::

    # Rule name [anchor]

    Description paragraphs.

    **Rule type**: eql
    **Rule indices**:

    * logs-endpoint.events.process-*

    ... more **Label**: value fields, list fields followed by * bullets ...

    ## Investigation guide [...]      (optional sections, ignored)

    ## Rule query [...]

    ```js
    process where ...
    ```

    **Framework**: MITRE ATT&CKTM        (read by stream.rules.docpage_threats)

The reader is strict: a missing title, description, query block or required
field (Rule type, Severity, Risk score, Version), and any line it cannot place
in the header or the MITRE ATT&CK section, raise RuleLoadError with the line
number. Field labels it does not know are ignored, and so are the sections
between the header and ``## Rule query``.

Mapping to :class:`~stream.rules.model.Rule`: "Searches indices from" keeps only
its first word (``now-9m``), the tag ``Rule Type: BBR`` sets
``building_block_type`` to ``"default"``, and a page states no rule id, so the id
is uuid5 of the rule name in :data:`~stream.rules.fields.DERIVED_RULE_ID_NAMESPACE`
unless the page has a ``**Rule ID**:`` field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stream.errors import RuleLoadError
from stream.rules import fields
from stream.rules.docpage_threats import link_target, read_threats
from stream.rules.model import Rule

_TITLE = re.compile(r"^# (?P<name>.+?)(?: \[[^\]]*\])?\s*$")
_FIELD = re.compile(r"^\*\*(?P<label>[^*]+)\*\*:\s*(?P<value>.*?)\s*$")
_BULLET = re.compile(r"^\* (?P<item>.+?)\s*$")

_REQUIRED_LABELS = ("rule type", "severity", "risk score", "version")

# Tag that Elastic puts on building-block rules, whose building_block_type is "default".
_BUILDING_BLOCK_TAG = "Rule Type: BBR"


@dataclass(slots=True)
class _Field:
    line: int
    value: str
    items: list[str] = field(default_factory=list)


def parse_doc_page(text: str, source: str) -> Rule:
    """Parse the documentation page ``text`` read from ``source`` into a rule.

    Raises RuleLoadError naming ``source``, the rule name when known, and the
    line number of the problem.
    """
    lines = text.splitlines()
    start = _skip_front_matter(lines, source)
    title_index, name = _read_title(lines, start, source)
    try:
        return _build_rule(lines, title_index, name, source)
    except ValueError as exc:
        raise RuleLoadError(str(exc), path=source, rule=name) from exc


def _skip_front_matter(lines: list[str], source: str) -> int:
    if not lines or lines[0].strip() != "---":
        return 0

    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return index + 1
    raise RuleLoadError("front matter opened by '---' on line 1 is never closed", path=source)


def _read_title(lines: list[str], start: int, source: str) -> tuple[int, str]:
    for index in range(start, len(lines)):
        if not lines[index].strip():
            continue
        match = _TITLE.match(lines[index])
        if match is None:
            raise RuleLoadError(
                f"line {index + 1}: missing title: expected '# Rule name [anchor]', "
                f"found {lines[index]!r}",
                path=source,
            )
        return index, match["name"]
    raise RuleLoadError("missing title: the page has no '# Rule name [anchor]' line", path=source)


def _build_rule(lines: list[str], title_index: int, name: str, source: str) -> Rule:
    header_end = _next_heading(lines, title_index + 1)
    description, fields_start = _read_description(lines, title_index + 1, header_end)
    page_fields = _read_fields(lines, fields_start, header_end)
    for label in _REQUIRED_LABELS:
        if label not in page_fields:
            raise ValueError(f"missing required field '**{label.capitalize()}**:'")

    fields.check_eql(_scalar(page_fields, "rule type", ""), "eql")
    query, query_end = _read_query(lines, header_end)
    tags = _items(page_fields, "tags")
    defaults = fields.DEFAULT_RULE

    return Rule(
        rule_id=_scalar(page_fields, "rule id", "") or fields.derive_rule_id(name),
        name=name,
        query=query,
        description=description,
        version=fields.check_positive("version", _integer(page_fields, "version", 1)),
        severity=fields.check_severity(_scalar(page_fields, "severity", "")),
        risk_score=fields.check_risk_score(_integer(page_fields, "risk score", 0)),
        type="eql",
        language="eql",
        building_block_type="default" if _BUILDING_BLOCK_TAG in tags else None,
        tags=tags,
        threat=read_threats(lines, query_end, _next_heading(lines, query_end)),
        max_signals=fields.check_positive(
            "max_signals",
            _integer(page_fields, "maximum alerts per execution", defaults.max_signals),
        ),
        interval=fields.check_interval(_scalar(page_fields, "runs every", defaults.interval)),
        from_=fields.check_from(_look_back(page_fields, defaults.from_)),
        index=_items(page_fields, "rule indices"),
        author=_items(page_fields, "rule authors"),
        license=_scalar(page_fields, "rule license", ""),
        references=tuple(link_target(item) for item in _items(page_fields, "references")),
        source_path=source,
    )


def _next_heading(lines: list[str], start: int) -> int:
    for index in range(start, len(lines)):
        if lines[index].startswith("## "):
            return index
    return len(lines)


def _read_description(lines: list[str], start: int, end: int) -> tuple[str, int]:
    """Return the paragraphs before the first field line, and that line's index."""
    paragraphs: list[list[str]] = [[]]
    index = start
    while index < end and not _FIELD.match(lines[index]):
        stripped = lines[index].strip()
        if stripped:
            paragraphs[-1].append(stripped)
        elif paragraphs[-1]:
            paragraphs.append([])
        index += 1

    description = "\n\n".join(" ".join(paragraph) for paragraph in paragraphs if paragraph)
    if not description:
        raise ValueError(f"line {start + 1}: missing description paragraph below the title")
    return description, index


def _read_fields(lines: list[str], start: int, end: int) -> dict[str, _Field]:
    page_fields: dict[str, _Field] = {}
    current: _Field | None = None
    for index in range(start, end):
        line = lines[index]
        if not line.strip():
            continue

        field_match = _FIELD.match(line)
        bullet_match = _BULLET.match(line)
        if field_match is not None:
            label = field_match["label"].strip().lower()
            if label in page_fields:
                raise ValueError(f"line {index + 1}: field '**{field_match['label']}**' repeats")
            current = _Field(line=index + 1, value=field_match["value"])
            page_fields[label] = current
        elif bullet_match is not None and current is not None and not current.value:
            current.items.append(bullet_match["item"])
        elif bullet_match is not None and current is not None:
            raise ValueError(
                f"line {index + 1}: bullet {line.strip()!r} follows field on line "
                f"{current.line} that already has the value {current.value!r}. "
                "Remove the value or the bullets"
            )
        else:
            raise ValueError(
                f"line {index + 1}: malformed line {line!r}: expected '**Field**: value', "
                "or a '* item' bullet under a field whose value is empty"
            )
    return page_fields


def _scalar(page_fields: dict[str, _Field], label: str, default: str) -> str:
    entry = page_fields.get(label)
    if entry is None:
        return default
    if not entry.value:
        raise ValueError(f"line {entry.line}: field '**{label.capitalize()}**' has no value")
    return entry.value


def _integer(page_fields: dict[str, _Field], label: str, default: int) -> int:
    text = _scalar(page_fields, label, str(default))
    if not re.fullmatch(r"[0-9]+", text):
        line = page_fields[label].line
        raise ValueError(
            f"line {line}: invalid '**{label.capitalize()}**' value {text!r}: "
            "expected a whole number"
        )
    return int(text)


def _items(page_fields: dict[str, _Field], label: str) -> tuple[str, ...]:
    entry = page_fields.get(label)
    if entry is None or entry.value == "None":
        return ()
    if entry.value:
        raise ValueError(
            f"line {entry.line}: field '**{label.capitalize()}**' expects '* item' bullets "
            f"or 'None', found {entry.value!r}"
        )
    if not entry.items:
        raise ValueError(f"line {entry.line}: field '**{label.capitalize()}**' has no bullets")
    return tuple(entry.items)


def _look_back(page_fields: dict[str, _Field], default: str) -> str:
    # The value continues with a note on date math: "now-9m (... format ...)".
    text = _scalar(page_fields, "searches indices from", default)
    return text.split()[0]


def _read_query(lines: list[str], start: int) -> tuple[str, int]:
    """Return the query under ``## Rule query`` and the index of the line after its block."""
    heading = next(
        (index for index in range(start, len(lines)) if lines[index].startswith("## Rule query")),
        None,
    )
    if heading is None:
        raise ValueError("missing '## Rule query' section with the query in a ``` code block")

    opening = next((i for i in range(heading + 1, len(lines)) if lines[i].strip()), None)
    if opening is None or not lines[opening].startswith("```"):
        raise ValueError(
            f"line {heading + 1}: missing ``` code block with the query under '## Rule query'"
        )
    for closing in range(opening + 1, len(lines)):
        if lines[closing].startswith("```"):
            query = "\n".join(lines[opening + 1 : closing])
            return fields.normalize_query(query), closing + 1
    raise ValueError(f"line {opening + 1}: query code block is never closed by ```")
