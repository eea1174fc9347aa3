"""Reader of Elastic detection-rules TOML files (``[metadata]`` and ``[rule]`` tables).

Keys that eql-stream does not use (``note``, ``setup``, ``[transform]`` and so
on) are ignored. The keys that identify an EQL rule are required: ``rule_id``,
``name``, ``type``, ``language`` and ``query``. The others default to the
values of :class:`~stream.rules.model.Rule`, and ``version``, which
detection-rules keeps outside the file, is read from ``[rule]`` or
``[metadata]`` and defaults to 1.
"""

from __future__ import annotations

import tomllib
from typing import Any

from stream.errors import RuleLoadError
from stream.rules import fields
from stream.rules.model import MitreTechnique, MitreThreat, Rule


def parse_toml_rule(text: str, source: str) -> Rule:
    """Parse the detection-rules TOML ``text`` read from ``source`` into a rule.

    Raises RuleLoadError naming ``source`` (and the rule name when the file
    states one) for invalid TOML, with its line and column, for a missing or
    mistyped key, and for a rule whose type or language is not ``eql``.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleLoadError(f"invalid TOML: {exc}", path=source) from exc

    rule_table = document.get("rule")
    if not isinstance(rule_table, dict):
        raise RuleLoadError(
            "missing [rule] table: a detection-rules file states the rule under [rule]",
            path=source,
        )
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise RuleLoadError("invalid [metadata]: expected a table", path=source)

    name = rule_table.get("name")
    try:
        return _build_rule(rule_table, metadata, source)
    except ValueError as exc:
        raise RuleLoadError(
            str(exc), path=source, rule=name if isinstance(name, str) else None
        ) from exc


def _build_rule(rule_table: dict[str, Any], metadata: dict[str, Any], source: str) -> Rule:
    reader = _TableReader(rule_table, "[rule]")
    rule_id = reader.required_str("rule_id")
    name = reader.required_str("name")
    fields.check_eql(reader.required_str("type"), reader.required_str("language"))
    query = fields.normalize_query(reader.required_str("query"))
    defaults = fields.DEFAULT_RULE

    return Rule(
        rule_id=rule_id,
        name=name,
        query=query,
        description=reader.optional_str("description", "").strip(),
        version=_read_version(rule_table, metadata),
        severity=fields.check_severity(reader.optional_str("severity", defaults.severity)),
        risk_score=fields.check_risk_score(reader.optional_int("risk_score", defaults.risk_score)),
        type="eql",
        language="eql",
        building_block_type=_read_building_block_type(rule_table),
        tags=reader.str_tuple("tags"),
        threat=_read_threats(rule_table.get("threat", [])),
        max_signals=fields.check_positive(
            "max_signals", reader.optional_int("max_signals", defaults.max_signals)
        ),
        interval=fields.check_interval(reader.optional_str("interval", defaults.interval)),
        from_=fields.check_from(reader.optional_str("from", defaults.from_)),
        index=reader.str_tuple("index"),
        author=reader.str_tuple("author"),
        license=reader.optional_str("license", ""),
        references=reader.str_tuple("references"),
        event_category_override=reader.optional_str("event_category_override", "") or None,
        source_path=source,
    )


def _read_version(rule_table: dict[str, Any], metadata: dict[str, Any]) -> int:
    if "version" in rule_table:
        version = _TableReader(rule_table, "[rule]").optional_int("version", 1)
    else:
        version = _TableReader(metadata, "[metadata]").optional_int("version", 1)
    return fields.check_positive("version", version)


def _read_building_block_type(rule_table: dict[str, Any]) -> str | None:
    if "building_block_type" not in rule_table:
        return None

    value = _TableReader(rule_table, "[rule]").required_str("building_block_type")
    if value != "default":
        raise ValueError(
            f"invalid building_block_type {value!r}: the only value Elastic defines is 'default'"
        )
    return value


def _read_threats(entries: object) -> tuple[MitreThreat, ...]:
    if not isinstance(entries, list):
        raise ValueError("invalid [rule] threat: expected an array of [[rule.threat]] tables")

    threats = []
    for number, entry in enumerate(entries, start=1):
        where = f"[[rule.threat]] number {number}"
        reader = _TableReader(_as_table(entry, where), where)
        tactic = _TableReader(reader.required_table("tactic"), f"{where} tactic")
        techniques = tuple(
            _read_technique(table, f"{where} technique number {index}")
            for index, table in enumerate(reader.table_list("technique"), start=1)
        )
        threats.append(
            MitreThreat(
                framework=reader.required_str("framework"),
                tactic_id=tactic.required_str("id"),
                tactic_name=tactic.required_str("name"),
                tactic_reference=tactic.required_str("reference"),
                techniques=techniques,
            )
        )
    return tuple(threats)


def _read_technique(table: dict[str, Any], where: str) -> MitreTechnique:
    reader = _TableReader(table, where)
    subtechniques = tuple(
        _read_technique(sub_table, f"{where} subtechnique number {index}")
        for index, sub_table in enumerate(reader.table_list("subtechnique"), start=1)
    )
    return MitreTechnique(
        id=reader.required_str("id"),
        name=reader.required_str("name"),
        reference=reader.required_str("reference"),
        subtechniques=subtechniques,
    )


def _as_table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"invalid {where}: expected a table, not {type(value).__name__}")
    return value


class _TableReader:
    """Typed access to the keys of one TOML table, named by ``where`` in messages."""

    def __init__(self, table: dict[str, Any], where: str) -> None:
        self._table = table
        self._where = where

    def required_str(self, key: str) -> str:
        if key not in self._table:
            raise ValueError(f"missing required key {self._where} {key}")
        value = self.optional_str(key, "")
        if not value.strip():
            raise ValueError(f"empty {self._where} {key}: expected a non-empty string")
        return value

    def optional_str(self, key: str, default: str) -> str:
        if key not in self._table:
            return default

        value = self._table[key]
        if not isinstance(value, str):
            raise ValueError(self._type_message(key, "a string", value))
        return value

    def optional_int(self, key: str, default: int) -> int:
        if key not in self._table:
            return default

        value = self._table[key]
        # bool is a subclass of int, but `true` is never a valid count or score.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(self._type_message(key, "an integer", value))
        return value

    def str_tuple(self, key: str) -> tuple[str, ...]:
        value = self._table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(self._type_message(key, "an array of strings", value))
        return tuple(value)

    def required_table(self, key: str) -> dict[str, Any]:
        if key not in self._table:
            raise ValueError(f"missing required table {self._where} {key}")
        return _as_table(self._table[key], f"{self._where} {key}")

    def table_list(self, key: str) -> list[dict[str, Any]]:
        value = self._table.get(key, [])
        if not isinstance(value, list):
            raise ValueError(self._type_message(key, "an array of tables", value))
        return [_as_table(item, f"{self._where} {key}") for item in value]

    def _type_message(self, key: str, expected: str, value: object) -> str:
        found = type(value).__name__
        return f"invalid {self._where} {key} {value!r}: expected {expected}, not {found}"
