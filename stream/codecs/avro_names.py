"""Conversion between ECS documents and the records of an Avro schema.

Avro names contain only ASCII letters, digits and underscores, so an ECS document
cannot be written with its own keys. The schema states the mapping:

- A nested record is one level of a dotted ECS path: ``process.parent.name`` is the
  field ``name`` of the record in field ``parent`` of the record in field ``process``.
- A field with the attribute ``"ecs_name"`` has that ECS key instead of its Avro
  name (the field ``timestamp`` is ``@timestamp``).
- A record field with ``"ecs_flatten": true`` appears in the ECS document as dotted
  keys (``kibana.alert.rule.name``), the way Elastic stores alert fields.
- A top-level string field with ``"ecs_extra": true`` contains the document's values
  that the schema has no field for, or whose type does not fit, as a JSON object
  with dotted keys.

Each converter is built once per schema: per document, only dictionary look-ups by
precomputed names and type checks run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from stream.codecs._avro_encoding import (
    ECS_EXTRA,
    ECS_FLATTEN,
    MISMATCH,
    EncoderBuilder,
    Leftovers,
    field_ecs_name,
    flatten_into,
    non_null_branches,
)
from stream.errors import ConfigError, DecodeError

__all__ = ["EcsConverter", "Leftovers"]

ToEcs = Callable[[Any], Any]


class EcsConverter:
    """Converter between ECS documents and the records of one parsed Avro schema.

    The schema's top level must be a record. Raises ``ConfigError`` when the schema
    uses the ``ecs_*`` attributes in a way this module does not support.
    """

    __slots__ = ("_to_ecs", "_to_avro", "_extra_field")

    def __init__(self, parsed_schema: dict[str, Any]) -> None:
        if not isinstance(parsed_schema, dict) or parsed_schema.get("type") != "record":
            raise ConfigError(
                "invalid schema: its top level must be an Avro record, "
                f"got {_describe_type(parsed_schema)}"
            )
        named = parsed_schema.get("__named_schemas", {})

        self._extra_field = _find_extra_field(parsed_schema)
        self._to_ecs = _DecoderBuilder(named).build(parsed_schema)
        self._to_avro = EncoderBuilder(named).build(parsed_schema)

    def to_ecs(self, record: dict[str, Any]) -> dict[str, Any]:
        """Convert a record read by fastavro into an ECS document.

        Null values and records without values are dropped, ECS names and
        flattened keys are restored, and the ``ecs_extra`` field is merged back.

        Raises:
            DecodeError: reason ``invalid_avro`` when the ``ecs_extra`` field is
                not a JSON object.
        """
        assert self._to_ecs is not None
        return self.merge_extra(self._to_ecs(record))

    def merge_extra(self, document: dict[str, Any]) -> dict[str, Any]:
        """Replace the ``ecs_extra`` field of a converted ``document`` by the values it holds, in place.

        Raises:
            DecodeError: reason ``invalid_avro`` when the field is not a JSON object.
        """
        if self._extra_field is not None:
            extra = document.pop(self._extra_field, None)
            if extra is not None:
                document.update(_parse_extra(extra, self._extra_field))
        return document

    def to_avro(self, document: Mapping[str, Any]) -> tuple[dict[str, Any], Leftovers]:
        """Convert an ECS document (nested objects, dotted keys or a mix) into a record.

        Returns the record, ready for fastavro's writers, and the values it does
        not hold. When the schema has an ``ecs_extra`` field, those values are also
        written into it. A scalar given for an array field becomes a one-item
        array, as Elasticsearch indexes both the same way.
        """
        leftovers = Leftovers()
        record = self._to_avro(document, "", leftovers)
        if record is MISMATCH:
            raise TypeError(f"an ECS document must be a mapping, got {type(document).__name__}")

        if self._extra_field is not None and leftovers:
            record[self._extra_field] = orjson.dumps(leftovers.as_dict()).decode()
        return record, leftovers


def _describe_type(schema: Any) -> str:
    if isinstance(schema, dict):
        return f"type {schema.get('type')!r}"
    return f"type {schema!r}"


def _find_extra_field(record_schema: dict[str, Any]) -> str | None:
    extra = [field for field in record_schema["fields"] if field.get(ECS_EXTRA)]
    if not extra:
        return None
    if len(extra) > 1 or non_null_branches(extra[0]["type"]) != ["string"]:
        raise ConfigError(
            f"invalid schema {record_schema['name']}: it needs at most one '{ECS_EXTRA}' field, "
            "of type string or [\"null\", \"string\"]"
        )
    return str(extra[0]["name"])


def _parse_extra(text: str, field_name: str) -> dict[str, Any]:
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid_avro", f"field {field_name!r} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise DecodeError("invalid_avro", f"field {field_name!r} must hold a JSON object, got {text[:80]!r}")
    return values


class _DecoderBuilder:
    """Builder of the Avro-to-ECS conversion closures, one per named record."""

    def __init__(self, named: dict[str, Any]) -> None:
        self._named = named
        self._records: dict[str, ToEcs] = {}

    def build(self, schema: Any) -> ToEcs | None:
        """Return the conversion of values of ``schema``, or None when fastavro's value is already ECS."""
        if isinstance(schema, list):
            branches = [self.build(branch) for branch in non_null_branches(schema)]
            # NOTE: a union of several non-null types is returned as fastavro reads it,
            # because the value does not say which branch it came from.
            return branches[0] if len(branches) == 1 else None
        if isinstance(schema, str):
            definition = self._named.get(schema)
            return None if definition is None else self.build(definition)

        kind = schema.get("type")
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            item = self.build(schema["items"])
            return None if item is None else _array_to_ecs(item)
        if kind == "map":
            value = self.build(schema["values"])
            return None if value is None else _map_to_ecs(value)
        return None

    def _record(self, schema: dict[str, Any]) -> ToEcs:
        name = schema["name"]
        if name in self._records:
            return self._records[name]

        # A forward reference lets a recursive record type refer to itself.
        built: list[ToEcs] = []
        self._records[name] = lambda record: built[0](record)

        children = []
        renames = []
        flattened = []
        for field in schema["fields"]:
            child = self.build(field["type"])
            if child is not None:
                children.append((field["name"], child))
            if field_ecs_name(field) != field["name"]:
                renames.append((field["name"], field_ecs_name(field)))
            if field.get(ECS_FLATTEN):
                flattened.append(field_ecs_name(field))

        built.append(_record_to_ecs(tuple(children), tuple(renames), tuple(flattened)))
        self._records[name] = built[0]
        return built[0]


def _record_to_ecs(
    children: tuple[tuple[str, ToEcs], ...],
    renames: tuple[tuple[str, str], ...],
    flattened: tuple[str, ...],
) -> ToEcs:
    def convert(record: dict[str, Any]) -> dict[str, Any]:
        document = {key: value for key, value in record.items() if value is not None}

        for name, child in children:
            value = document.get(name)
            if value is None:
                continue
            converted = child(value)
            # A record whose fields are all null stands for an absent object.
            if converted == {}:
                del document[name]
            else:
                document[name] = converted

        for avro_name, ecs_name in renames:
            if avro_name in document:
                document[ecs_name] = document.pop(avro_name)
        for ecs_name in flattened:
            if ecs_name in document:
                flatten_into(document, ecs_name, document.pop(ecs_name))
        return document

    return convert


def _array_to_ecs(item: ToEcs) -> ToEcs:
    def convert(values: list[Any]) -> list[Any]:
        return [item(value) for value in values if value is not None]

    return convert


def _map_to_ecs(item: ToEcs) -> ToEcs:
    def convert(values: dict[str, Any]) -> dict[str, Any]:
        return {key: item(value) for key, value in values.items() if value is not None}

    return convert
