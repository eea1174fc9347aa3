"""Expected results of an Avro round trip, computed from the schema without the codec's converter.

A round trip keeps exactly the leaf fields that the schema describes: values under
other paths are dropped, null values and empty objects disappear, and a scalar
given for an array field comes back as a one-item array.
"""

from __future__ import annotations

from typing import Any

from stream.codecs.avro_schema import AvroSchema


def leaf_fields(schema: AvroSchema, *, into_arrays: bool = False) -> dict[str, bool]:
    """Return every leaf ECS path of ``schema``, mapped to whether it is an array.

    Arrays are leaves, unless ``into_arrays`` is set: then the fields of records
    inside arrays are listed as well.
    """
    named = schema.parsed["__named_schemas"]
    leaves: dict[str, bool] = {}
    _walk(schema.parsed, "", named, leaves, into_arrays)
    return leaves


def _walk(schema: Any, prefix: str, named: dict[str, Any], leaves: dict[str, bool], into_arrays: bool) -> None:
    for field in schema["fields"]:
        path = prefix + field.get("ecs_name", field["name"])
        branch = _non_null(field["type"], named)
        if isinstance(branch, dict) and branch["type"] == "record":
            _walk(branch, path + ".", named, leaves, into_arrays)
            continue

        is_array = isinstance(branch, dict) and branch["type"] == "array"
        leaves[path] = is_array
        items = _non_null(branch["items"], named) if is_array else None
        if into_arrays and isinstance(items, dict) and items["type"] == "record":
            _walk(items, path + ".", named, leaves, into_arrays)


def _non_null(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        (schema,) = [branch for branch in schema if branch != "null"]
    if isinstance(schema, str) and schema in named:
        return named[schema]
    return schema


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return the document's values by dotted path; lists are leaves and nulls are left out."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif value is not None:
            flat[prefix + key] = value
    return flat


def expected_round_trip(document: dict[str, Any], leaves: dict[str, bool]) -> dict[str, Any]:
    """Return the flattened document restricted to the schema's leaves, as a round trip gives it back."""
    expected: dict[str, Any] = {}
    for path, value in flatten(document).items():
        if path not in leaves:
            continue
        is_array = leaves[path]
        expected[path] = value if not is_array or isinstance(value, list) else [value]
    return expected
