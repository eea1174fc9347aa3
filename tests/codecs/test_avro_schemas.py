"""The shipped Avro schemas: layout, naming rules, coverage of rule fields, and schema loading errors."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import REPOSITORY
from ecs_projection import leaf_fields
from stream.codecs.avro_schema import (
    ecs_field_names,
    ALERT_SCHEMA,
    PROCESS_EVENT_SCHEMA,
    AvroSchema,
    load_schema,
    load_shipped_schema,
    parse_definition,
    shipped_schema_path,
)
from stream.eql import compile_query
from stream.errors import ConfigError, QueryError
from stream.rules.loaders import load_shipped_rules

RULES_DIR = REPOSITORY.parent / "shared" / "data" / "elastic-rules"
AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Namespaces of process rule fields that the process event schema must cover.
COVERED_NAMESPACES = ("event.", "host.", "user.", "process.", "agent.", "data_stream.")


def _fields_of(schema: Any, named: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return (record name, field) for every field of every record reachable from ``schema``."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                visit(branch)
        elif isinstance(node, str) and node in named:
            visit(named[node])
        elif isinstance(node, dict) and node.get("type") == "record" and node["name"] not in seen:
            seen.add(node["name"])
            for field in node["fields"]:
                found.append((node["name"], field))
                visit(field["type"])
        elif isinstance(node, dict) and node.get("type") == "array":
            visit(node["items"])

    visit(schema)
    return found


@pytest.mark.parametrize("name", [PROCESS_EVENT_SCHEMA, ALERT_SCHEMA])
def test_repository_schema_matches_package_data(name: str) -> None:
    repository_copy = REPOSITORY / "schemas" / f"{name}.avsc"
    packaged = shipped_schema_path(name).read_bytes()

    assert repository_copy.read_bytes() == packaged


@pytest.mark.parametrize("name", [PROCESS_EVENT_SCHEMA, ALERT_SCHEMA])
def test_schema_fields_are_nullable_with_null_default(name: str, event_schema: AvroSchema, alert_schema: AvroSchema) -> None:
    schema = event_schema if name == PROCESS_EVENT_SCHEMA else alert_schema
    fields = _fields_of(schema.parsed, schema.parsed["__named_schemas"])

    assert fields
    for record, field in fields:
        assert AVRO_NAME.match(field["name"]), f"{record}.{field['name']}"
        assert isinstance(field["type"], list) and field["type"][0] == "null", f"{record}.{field['name']}"
        assert "default" in field and field["default"] is None, f"{record}.{field['name']}"


def test_event_schema_maps_timestamp_name(event_schema: AvroSchema) -> None:
    leaves = leaf_fields(event_schema)

    assert "@timestamp" in leaves
    assert "timestamp" not in leaves


@pytest.mark.parametrize(
    ("path", "is_array"),
    [
        ("event.category", True),
        ("event.type", True),
        ("process.args", True),
        ("process.parent.args", True),
        ("process.Ext.ancestry", True),
        ("process.Ext.code_signature", True),
        ("host.ip", True),
        ("process.name", False),
        ("process.pid", False),
        ("process.parent.pe.original_file_name", False),
        ("process.code_signature.trusted", False),
        ("process.hash.sha256", False),
        ("user.Ext.real.id", False),
        ("data_stream.dataset", False),
        ("agent.id", False),
    ],
)
def test_event_schema_field_shape(event_schema: AvroSchema, path: str, is_array: bool) -> None:
    leaves = leaf_fields(event_schema)

    assert path in leaves
    assert leaves[path] is is_array


def test_event_schema_covers_shipped_rule(event_schema: AvroSchema) -> None:
    rule = load_shipped_rules()[0]
    fields = compile_query(rule.query).fields

    assert fields <= set(leaf_fields(event_schema))


def _process_rule_fields() -> dict[str, str]:
    """Return each covered field read by a prebuilt ``process where`` rule, with one rule file that reads it."""
    fields: dict[str, str] = {}
    for path in sorted(RULES_DIR.rglob("*.toml")):
        rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        query = rule.get("query", "")
        if rule.get("language") != "eql" or not query.lstrip().startswith("process where"):
            continue
        try:
            compiled = compile_query(query)
        except QueryError:
            continue
        for field in compiled.fields:
            if field.startswith(COVERED_NAMESPACES):
                fields.setdefault(field, path.name)
    return fields


@pytest.mark.skipif(not RULES_DIR.is_dir(), reason=f"prebuilt rules not found at {RULES_DIR}")
def test_event_schema_covers_prebuilt_process_rules(event_schema: AvroSchema) -> None:
    leaves = leaf_fields(event_schema, into_arrays=True)
    fields = _process_rule_fields()

    assert len(fields) > 40
    missing = {field: rule for field, rule in fields.items() if field not in leaves}
    assert missing == {}


def test_alert_schema_is_self_contained(alert_schema: AvroSchema) -> None:
    reparsed = parse_definition(json.loads(alert_schema.text), source="test")

    assert reparsed.canonical_form == alert_schema.canonical_form
    assert alert_schema.name == "eql_stream.alert.Alert"


def test_alert_schema_reuses_event_types(alert_schema: AvroSchema) -> None:
    named = alert_schema.parsed["__named_schemas"]

    assert "eql_stream.ecs.Process" in named
    assert "eql_stream.ecs.Event" in named


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(None, "cannot read Avro schema file", id="missing-file"),
        pytest.param('{"type": "record",', "line 1", id="invalid-json"),
        pytest.param('{"type": "recrod", "name": "A", "fields": []}', "invalid Avro schema", id="unknown-kind"),
        pytest.param(
            '{"type": "record", "name": "A", "fields": [{"name": "b", "type": "Missing"}]}',
            "invalid Avro schema",
            id="unknown-type",
        ),
    ],
)
def test_load_schema_error_names_file(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "broken.avsc" if text is None else _write(tmp_path, "broken.avsc", text)

    with pytest.raises(ConfigError) as raised:
        load_schema(path)

    assert message in str(raised.value)
    assert "broken.avsc" in str(raised.value)


def test_load_schema_alert_needs_event_reference() -> None:
    with pytest.raises(ConfigError, match="alert.avsc"):
        load_schema(REPOSITORY / "schemas" / "alert.avsc")


def test_load_schema_with_reference_from_repository() -> None:
    schema = load_schema(
        REPOSITORY / "schemas" / "alert.avsc", references=[REPOSITORY / "schemas" / "process_event.avsc"]
    )

    assert schema.name == "eql_stream.alert.Alert"


def test_ecs_field_names_of_shipped_schema() -> None:
    names = ecs_field_names(load_shipped_schema(PROCESS_EVENT_SCHEMA))

    assert "@timestamp" in names
    assert "process.parent.name" in names
    assert "ecs_extra" not in names
    assert all(not name.startswith("ecs_extra") for name in names)
