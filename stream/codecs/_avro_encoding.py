"""ECS-to-Avro conversion closures of :class:`stream.codecs.avro_names.EcsConverter`.

The attributes named here are described in :mod:`stream.codecs.avro_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stream.errors import ConfigError

ECS_NAME = "ecs_name"
ECS_FLATTEN = "ecs_flatten"
ECS_EXTRA = "ecs_extra"

_LONG_RANGE = (-(2**63), 2**63 - 1)
_INT_RANGE = (-(2**31), 2**31 - 1)

# Returned by an encoder when a value does not fit the field's Avro type.
MISMATCH: Any = object()


class Leftovers:
    """Values of a document that the Avro record does not hold, by dotted ECS path.

    ``unknown`` contains the values whose path the schema does not describe, and
    ``mismatched`` the values whose path it describes with another type (such as a
    string where the schema has ``long``).
    """

    __slots__ = ("unknown", "mismatched")

    def __init__(self) -> None:
        self.unknown: dict[str, Any] = {}
        self.mismatched: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.unknown or self.mismatched)

    def as_dict(self) -> dict[str, Any]:
        """Return every left-over value in one mapping of dotted path to value."""
        return {**self.unknown, **self.mismatched}


ToAvro = Callable[[Any, str, Leftovers], Any]


def non_null_branches(schema: Any) -> list[Any]:
    if isinstance(schema, list):
        return [branch for branch in schema if branch != "null"]
    return [schema]


def field_ecs_name(field: dict[str, Any]) -> str:
    return str(field.get(ECS_NAME, field["name"]))


def flatten_into(target: dict[str, Any], prefix: str, value: Any) -> None:
    """Add ``value`` to ``target`` under ``prefix``, with each nested object's keys joined to it by dots."""
    if type(value) is dict:
        for key, item in value.items():
            flatten_into(target, f"{prefix}.{key}", item)
    else:
        target[prefix] = value


class EncoderBuilder:
    """Builder of the ECS-to-Avro conversion closures, one per named record."""

    def __init__(self, named: dict[str, Any]) -> None:
        self._named = named
        self._records: dict[str, ToAvro] = {}

    def build(self, schema: Any) -> ToAvro:
        """Return the conversion of ECS values into values of ``schema``."""
        if isinstance(schema, list):
            branches = non_null_branches(schema)
            # NOTE: values of a union of several non-null types are passed to fastavro unchecked.
            return self.build(branches[0]) if len(branches) == 1 else _pass_through
        if isinstance(schema, str):
            definition = self._named.get(schema)
            return self.build(definition) if definition is not None else _primitive_to_avro(schema)

        kind = schema.get("type")
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            return _array_to_avro(self.build(schema["items"]))
        if kind == "map":
            return _map_to_avro(self.build(schema["values"]))
        if kind == "enum":
            return _enum_to_avro(frozenset(schema["symbols"]))
        if kind == "fixed":
            return _primitive_to_avro("bytes")
        return _primitive_to_avro(kind)

    def _record(self, schema: dict[str, Any]) -> ToAvro:
        name = schema["name"]
        if name in self._records:
            return self._records[name]

        built: list[ToAvro] = []
        self._records[name] = lambda value, path, leftovers: built[0](value, path, leftovers)

        fields: dict[str, tuple[str, ToAvro]] = {}
        for field in schema["fields"]:
            if field.get(ECS_EXTRA):
                continue
            ecs_name = field_ecs_name(field)
            if ecs_name in fields:
                raise ConfigError(
                    f"invalid schema {name}: two fields have the ECS name {ecs_name!r}; "
                    f"rename one or change its '{ECS_NAME}'"
                )
            fields[ecs_name] = (field["name"], self.build(field["type"]))

        built.append(_record_to_avro(fields))
        self._records[name] = built[0]
        return built[0]


def _record_to_avro(fields: dict[str, tuple[str, ToAvro]]) -> ToAvro:
    def convert(value: Any, path: str, leftovers: Leftovers) -> Any:
        if not isinstance(value, Mapping):
            return MISMATCH
        if any("." in key for key in value):
            value = _nest_dotted_keys(value)

        record: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            field = fields.get(key)
            if field is None:
                leftovers.unknown[path + key] = item
                continue
            converted = field[1](item, f"{path}{key}.", leftovers)
            if converted is MISMATCH:
                leftovers.mismatched[path + key] = item
            else:
                record[field[0]] = converted
        return record

    return convert


def _nest_dotted_keys(document: Mapping[str, Any]) -> dict[str, Any]:
    """Move each dotted key one level down: ``{"a.b": 1}`` becomes ``{"a": {"b": 1}}``.

    The input is not changed. A dotted key whose first part has a value that is
    not an object stays as it is, so that it ends up among the leftovers.
    """
    nested: dict[str, Any] = {}
    for key, value in document.items():
        head, dot, rest = key.partition(".")
        if not dot:
            existing = nested.get(key)
            if isinstance(existing, dict) and isinstance(value, Mapping):
                # NOTE: when a field is given both nested and dotted, the dotted value wins.
                nested[key] = {**value, **existing}
            else:
                nested[key] = value
            continue

        parent = nested.get(head)
        if parent is None:
            nested[head] = {rest: value}
        elif isinstance(parent, Mapping):
            nested[head] = {**parent, rest: value}
        else:
            nested[key] = value
    return nested


def _pass_through(value: Any, path: str, leftovers: Leftovers) -> Any:
    return value


def _primitive_to_avro(kind: str) -> ToAvro:
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda value: isinstance(value, str),
        "boolean": lambda value: isinstance(value, bool),
        "long": lambda value: _is_integer_in(value, _LONG_RANGE),
        "int": lambda value: _is_integer_in(value, _INT_RANGE),
        "double": _is_number,
        "float": _is_number,
        "bytes": lambda value: isinstance(value, bytes),
        "null": lambda value: value is None,
    }
    check = checks.get(kind)
    if check is None:
        raise ConfigError(f"unsupported Avro type {kind!r} in the schema")

    def convert(value: Any, path: str, leftovers: Leftovers) -> Any:
        return value if check(value) else MISMATCH

    return convert


def _is_integer_in(value: Any, bounds: tuple[int, int]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _enum_to_avro(symbols: frozenset[str]) -> ToAvro:
    def convert(value: Any, path: str, leftovers: Leftovers) -> Any:
        return value if value in symbols else MISMATCH

    return convert


def _array_to_avro(item: ToAvro) -> ToAvro:
    def convert(value: Any, path: str, leftovers: Leftovers) -> Any:
        values = value if isinstance(value, (list, tuple)) else [value]

        # Leftovers inside an item would have no unique path, so the whole array is kept
        # aside when any item does not fit completely.
        inner = Leftovers()
        converted = [item(element, path, inner) for element in values]
        if inner or any(element is MISMATCH for element in converted):
            return MISMATCH
        return converted

    return convert


def _map_to_avro(item: ToAvro) -> ToAvro:
    def convert(value: Any, path: str, leftovers: Leftovers) -> Any:
        if not isinstance(value, Mapping):
            return MISMATCH
        inner = Leftovers()
        converted = {key: item(element, path, inner) for key, element in value.items()}
        if inner or any(element is MISMATCH for element in converted.values()):
            return MISMATCH
        return converted

    return convert
