"""Avro schemas: loading from files, self-contained definitions and the shipped schemas.

The shipped schemas are package data in ``stream/schemas/`` (``schemas/`` at the
repository root links to them). ``alert.avsc`` uses the named types of
``process_event.avsc`` for its copy of the source event, so loading it needs that
file as a reference. Every :class:`AvroSchema` defines all its named types itself,
so it can be registered in a Schema Registry or written into a file header as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from stream.codecs._avro_encoding import ECS_EXTRA, field_ecs_name
from stream.codecs.avro_names import EcsConverter
from stream.codecs.avro_reader import EcsReader, compile_ecs_reader
from stream.errors import ConfigError

__all__ = [
    "ALERT_SCHEMA",
    "PROCESS_EVENT_SCHEMA",
    "AvroSchema",
    "ecs_field_names",
    "load_schema",
    "load_shipped_schema",
    "parse_definition",
    "shipped_schema_path",
]

PROCESS_EVENT_SCHEMA = "process_event"
ALERT_SCHEMA = "alert"

# Shipped schemas and the shipped schemas whose named types they use.
_SHIPPED_REFERENCES: dict[str, tuple[str, ...]] = {
    PROCESS_EVENT_SCHEMA: (),
    ALERT_SCHEMA: (PROCESS_EVENT_SCHEMA,),
}

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_RECORD_KINDS = frozenset({"record", "error"})
_NAMED_KINDS = _RECORD_KINDS | {"enum", "fixed"}


@dataclass(frozen=True, eq=False)
class AvroSchema:
    """A parsed Avro schema and its self-contained JSON definition.

    ``definition`` defines every named type it uses. ``parsed`` is fastavro's parsed
    form, made once and passed to every read and write. ``source`` names where the
    schema came from (a file, a registry id or a file header) for error messages.
    """

    name: str
    source: str
    definition: dict[str, Any]
    parsed: dict[str, Any]

    @cached_property
    def text(self) -> str:
        """The definition as compact JSON, as registered in a Schema Registry."""
        return json.dumps(self.definition, separators=(",", ":"))

    @cached_property
    def canonical_form(self) -> str:
        """Avro's Parsing Canonical Form: equal for schemas that read and write the same bytes."""
        return str(to_parsing_canonical_form(self.parsed))

    @cached_property
    def converter(self) -> EcsConverter:
        """The converter between ECS documents and records of this schema, built on first use.

        Raises ConfigError when the schema's top level is not a record.
        """
        return EcsConverter(self.parsed)

    @cached_property
    def without_logical_types(self) -> AvroSchema:
        """This schema with every ``logicalType`` attribute removed, or the schema itself when it has none.

        Both read and write the same bytes. eql-stream reads Avro values as
        their underlying types, as the ECS fields define them: a ``long``
        with ``timestamp-millis`` stays a number, a ``string`` with ``uuid``
        stays text.
        """
        definition = _strip_logical_types(self.definition)
        if definition == self.definition:
            return self
        return parse_definition(definition, source=self.source)

    @cached_property
    def min_record_size(self) -> int:
        """The minimum size, in bytes, of an encoded value of this schema (a recursive type counts 0 where it recurs)."""
        return _min_encoded_size(self.parsed, self.parsed.get("__named_schemas", {}) if isinstance(self.parsed, dict) else {}, set())

    @cached_property
    def ecs_reader(self) -> EcsReader | None:
        """The compiled reader of records written with this schema, or None when only fastavro reads them.

        Compiled on first use (see :mod:`stream.codecs.avro_reader`).
        """
        return compile_ecs_reader(self.parsed)


def load_schema(path: str | Path, *, references: Sequence[str | Path] = ()) -> AvroSchema:
    """Load the Avro schema in the JSON file ``path`` and parse it once.

    ``references`` are schema files whose named types ``path`` uses without
    defining them. Their definitions are copied into the result where first used.

    Raises:
        ConfigError: a file cannot be read, is not JSON, or is not a valid Avro
            schema. The message names the file.
    """
    available: dict[str, dict[str, Any]] = {}
    for reference in references:
        _collect_named_types(_read_json(Path(reference)), "", available)

    definition = _read_json(Path(path))
    return parse_definition(_inline_references(definition, available), source=str(path))


def load_shipped_schema(name: str) -> AvroSchema:
    """Load a schema shipped with the package: :data:`PROCESS_EVENT_SCHEMA` or :data:`ALERT_SCHEMA`.

    Raises:
        ConfigError: ``name`` is not a shipped schema, or the package data is broken.
    """
    if name not in _SHIPPED_REFERENCES:
        raise ConfigError(
            f"unknown shipped Avro schema {name!r}: expected one of {', '.join(sorted(_SHIPPED_REFERENCES))}"
        )
    with resources.as_file(shipped_schema_path(name)) as path:
        references = [shipped_schema_path(reference) for reference in _SHIPPED_REFERENCES[name]]
        return load_schema(path, references=[str(reference) for reference in references])


def shipped_schema_path(name: str) -> Any:
    """Return the package resource (a ``Traversable``) of the shipped schema file ``<name>.avsc``."""
    return resources.files("stream").joinpath("schemas", f"{name}.avsc")


def parse_definition(definition: Any, *, source: str) -> AvroSchema:
    """Parse a self-contained schema definition (JSON value) into an :class:`AvroSchema`.

    Raises:
        ConfigError: the definition is not a valid Avro schema. The message names ``source``.
    """
    try:
        parsed = fastavro.parse_schema(definition)
    except UnknownType as exc:
        raise ConfigError(
            f"{source}: invalid Avro schema: it uses the named type {exc.name!r} without defining it. Define the "
            "type in the file, or use a schema that does (the shipped alert.avsc takes its types from "
            "process_event.avsc and cannot be read alone)"
        ) from exc
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{source}: invalid Avro schema: {exc}") from exc

    name = parsed.get("name", parsed.get("type")) if isinstance(parsed, dict) else str(parsed)
    return AvroSchema(name=str(name), source=source, definition=definition, parsed=parsed)


def ecs_field_names(schema: AvroSchema) -> frozenset[str]:
    """Return the dotted ECS names of the leaf fields of ``schema``, such as ``@timestamp`` for ``timestamp``.

    A record is one level of a name and an array or a union is not. The
    ``ecs_extra`` field, which contains the values the schema has no field
    for, is left out. A schema that contains no record gives an empty set.
    """
    parsed = schema.parsed
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    names: set[str] = set()
    _collect_leaf_names(parsed, named, "", names, frozenset())
    return frozenset(names)


def _collect_leaf_names(
    schema: Any, named: Mapping[str, Any], path: str, names: set[str], records_on_path: frozenset[str]
) -> None:
    """Add to ``names`` the dotted ECS path of every leaf of the parsed Avro ``schema`` found at ``path``.

    A record is one level of the path and an array is not, as in
    :mod:`stream.codecs.avro_names`. A map or any other type is a leaf. The
    ``ecs_extra`` field, which contains the values the schema has no field
    for, is left out. A recursive record is followed once.
    """
    if isinstance(schema, list):
        for branch in schema:
            _collect_leaf_names(branch, named, path, names, records_on_path)
        return
    if schema == "null":
        return
    if isinstance(schema, str) and schema in named:
        schema = named[schema]

    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "array":
        _collect_leaf_names(schema["items"], named, path, names, records_on_path)
    elif kind == "record" and schema["name"] not in records_on_path:
        inner = records_on_path | {schema["name"]}
        for field in schema["fields"]:
            if not field.get(ECS_EXTRA):
                name = field_ecs_name(field)
                _collect_leaf_names(field["type"], named, f"{path}.{name}" if path else name, names, inner)
    elif kind != "record" and path:
        names.add(path)


def _strip_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _strip_logical_types(value) for key, value in node.items() if key != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical_types(item) for item in node]
    return node


# Encoded sizes of the primitive types with a fixed or smallest size, in bytes.
_MIN_PRIMITIVE_SIZES = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8, "bytes": 1, "string": 1}


def _min_encoded_size(schema: Any, named: dict[str, Any], visiting: set[str]) -> int:
    """Return the fewest bytes of an encoded value of ``schema`` (a parsed schema)."""
    if isinstance(schema, list):
        # The branch index takes a byte, then the smallest branch.
        return 1 + min((_min_encoded_size(branch, named, visiting) for branch in schema), default=0)
    if isinstance(schema, str):
        if schema in _MIN_PRIMITIVE_SIZES:
            return _MIN_PRIMITIVE_SIZES[schema]
        if schema in visiting or schema not in named:
            return 0
        return _min_encoded_size(named[schema], named, visiting)

    kind = schema.get("type")
    if kind == "record":
        visiting = visiting | {schema.get("name", "")}
        return sum(_min_encoded_size(field["type"], named, visiting) for field in schema.get("fields", []))
    if kind == "fixed":
        size = schema.get("size")
        return size if type(size) is int and size > 0 else 0
    if kind in ("enum", "array", "map"):
        return 1
    return _MIN_PRIMITIVE_SIZES.get(kind, 0) if isinstance(kind, str) else 0


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read Avro schema file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid Avro schema file: it is not UTF-8 text ({exc})") from exc

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid Avro schema file: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _named_full_name(schema: dict[str, Any], namespace: str) -> str:
    return _full_name(str(schema["name"]), str(schema.get("namespace", namespace) or ""))


def _collect_named_types(schema: Any, namespace: str, found: dict[str, dict[str, Any]]) -> None:
    """Add every named type that ``schema`` defines to ``found``, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            _collect_named_types(branch, namespace, found)
        return
    if not isinstance(schema, dict):
        return

    kind = schema.get("type")
    if kind in _NAMED_KINDS:
        full_name = _named_full_name(schema, namespace)
        found[full_name] = schema
        if kind in _RECORD_KINDS:
            for field in schema.get("fields", []):
                _collect_named_types(field.get("type"), full_name.rpartition(".")[0], found)
    elif kind == "array":
        _collect_named_types(schema.get("items"), namespace, found)
    elif kind == "map":
        _collect_named_types(schema.get("values"), namespace, found)


def _inline_references(schema: Any, available: dict[str, dict[str, Any]]) -> Any:
    """Return a copy of ``schema`` in which the first use of each type of ``available`` is its definition.

    Avro requires a named type to be defined before, or where, it is first used, in
    depth-first order. Later uses stay references by full name.
    """
    return _inline(schema, "", available, set())


def _inline(schema: Any, namespace: str, available: dict[str, dict[str, Any]], defined: set[str]) -> Any:
    if isinstance(schema, list):
        return [_inline(branch, namespace, available, defined) for branch in schema]

    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        full_name = _full_name(schema, namespace)
        if full_name in defined or full_name not in available:
            # An unknown name stays as it is, so that fastavro reports it.
            return schema
        # A copied definition carries its full name, because the namespace around it may differ.
        definition = {**available[full_name], "name": full_name}
        definition.pop("namespace", None)
        return _inline(definition, namespace, available, defined)

    if not isinstance(schema, dict):
        return schema

    kind = schema.get("type")
    if kind in _NAMED_KINDS:
        full_name = _named_full_name(schema, namespace)
        if full_name in defined:
            return full_name
        defined.add(full_name)
        if kind not in _RECORD_KINDS:
            return dict(schema)
        inner = full_name.rpartition(".")[0]
        fields = [
            {**field, "type": _inline(field.get("type"), inner, available, defined)}
            for field in schema.get("fields", [])
        ]
        return {**schema, "fields": fields}

    if kind == "array":
        return {**schema, "items": _inline(schema.get("items"), namespace, available, defined)}
    if kind == "map":
        return {**schema, "values": _inline(schema.get("values"), namespace, available, defined)}
    return schema
