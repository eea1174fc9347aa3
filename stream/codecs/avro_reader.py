"""Avro readers compiled from a schema into Python code that builds ECS documents directly.

The general path reads a record with fastavro, which returns a dictionary of
Avro names with every null kept, and then converts that dictionary into an ECS
document (:mod:`stream.codecs.avro_names`). For a process event of the shipped
schema, the two passes took about 100 microseconds on the benchmark machine,
most of it in fastavro's work for each of the 200 optional fields.

A compiled reader does both passes in one, in about 30 microseconds. It is
Python source generated from the schema: it reads the fields in order from the
payload bytes and adds each present value to the document under its ECS name.
An absent optional field costs one byte comparison. The documents equal the
general path's in keys, values and key order; the tests compare the two on
generated records.

Only the Avro binary encoding of the schema itself is compiled: when the reader
schema differs from the writer schema, the general path resolves them. A
schema with a logical type, or with a union of several non-null types, also
takes the general path, because fastavro converts those values in ways this
module does not repeat.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

from stream.codecs._avro_encoding import ECS_FLATTEN, field_ecs_name, flatten_into

__all__ = ["READ_ERRORS", "EcsReader", "compile_ecs_reader"]

# A reader takes the payload and the offset where the record starts (default 0), and
# returns the document and the offset just past the record.
EcsReader = Callable[..., tuple[dict[str, Any], int]]

# The exceptions a compiled reader raises on bytes that are not a record of its schema.
# IndexError means only that the payload ends in the middle of the record. EOFError means
# a string or byte run longer than the rest of the payload. ValueError means an invalid
# union or enum index, or invalid UTF-8. struct.error means a truncated float.
READ_ERRORS = (IndexError, EOFError, ValueError, struct.error)

logger = logging.getLogger(__name__)

# Records are written inline where they occur, so a schema whose record types each use
# another several times would grow the source exponentially. Beyond this many inline
# records, or this many fields written out, fastavro reads the schema. The shipped schemas
# have 39 and 50 inline records (process event and alert) and 244 and 318 fields.
MAX_INLINE_RECORDS = 2_000
MAX_GENERATED_FIELDS = 20_000

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_ABSENT = object()


class _Unsupported(Exception):
    """The schema uses a feature that only the general path reads."""


def compile_ecs_reader(parsed_schema: dict[str, Any]) -> EcsReader | None:
    """Return a reader of records of ``parsed_schema`` (as ``fastavro.parse_schema`` returns it).

    The reader takes the payload bytes, and optionally the offset where the
    record starts. It returns the ECS document, without the ``ecs_extra``
    merge that :meth:`EcsConverter.to_ecs` adds, and the offset where the
    record ends. It raises one of :data:`READ_ERRORS` on
    bytes that are not a record of the schema. Returns None when the schema
    needs the general path (see the module docstring).
    """
    try:
        source, entry = _ReaderSource(parsed_schema.get("__named_schemas", {})).module(parsed_schema)
        code = compile(source, "<avro reader>", "exec")
    except (_Unsupported, RecursionError):
        return None
    except (SyntaxError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        # Python limits how deeply blocks nest, so fastavro reads a schema that nests deeper. The
        # other errors come from attribute values that fastavro's parser lets through.
        logger.debug("no compiled reader for schema %r: %s", parsed_schema.get("name"), exc)
        return None

    namespace: dict[str, Any] = {
        "_read_long": _read_long,
        "_read_union_index": _read_union_index,
        "_eof": _eof,
        "_flatten_into": flatten_into,
        "_ABSENT": _ABSENT,
        "_unpack_float": struct.Struct("<f").unpack_from,
        "_unpack_double": struct.Struct("<d").unpack_from,
    }
    # Names and symbols of the schema enter the source only as repr() literals.
    exec(code, namespace)  # noqa: S102
    read_record = namespace[entry]

    def read(payload: bytes, position: int = 0) -> tuple[dict[str, Any], int]:
        return read_record(payload, position)

    return read


class _ReaderSource:
    """Generator of the Python source of a reader.

    Record types are written inline where they occur, so reading a nested
    record costs no function call. A record type that contains itself gets a
    function of its own at the point of recursion.
    """

    def __init__(self, named: dict[str, Any]) -> None:
        self._named = named
        self._functions: dict[str, str] = {}
        self._sources: list[str] = []
        self._constants: list[str] = []
        self._inlining: list[str] = []
        self._inlined_records = 0
        self._generated_fields = 0
        self._enum_constants: dict[str, str] = {}
        self._temporaries = 0

    def module(self, schema: dict[str, Any]) -> tuple[str, str]:
        """Return the module source and the name of the top-level record's function."""
        if schema.get("type") != "record":
            raise _Unsupported
        entry = self._record_function(schema)
        return "\n\n".join([*self._constants, *self._sources]) + "\n", entry

    # Records -----------------------------------------------------------------

    def _record_function(self, schema: dict[str, Any]) -> str:
        name = schema["name"]
        if name in self._functions:
            return self._functions[name]
        function = f"_read_record_{len(self._functions)}"
        self._functions[name] = function

        lines = [f"def {function}(buf, pos):", "    limit = len(buf)"]
        lines += self._record(schema, "doc", 1)
        lines.append("    return doc, pos")
        self._sources.append("\n".join(lines))
        return function

    def _record(self, schema: dict[str, Any], doc: str, depth: int) -> list[str]:
        """Return lines that read a record into a new dictionary in the local ``doc``."""
        if _renames_collide(schema["fields"]):
            # The general path would then overwrite one value with another, in an order this code does not repeat.
            raise _Unsupported
        self._inlined_records += 1
        if self._inlined_records > MAX_INLINE_RECORDS:
            raise _Unsupported
        pad = "    " * depth
        self._inlining.append(schema["name"])
        lines = [f"{pad}{doc} = {{}}"]
        late: list[tuple[str, str, bool]] = []
        for field in schema["fields"]:
            ecs_name = field_ecs_name(field)
            flattened = bool(field.get(ECS_FLATTEN))
            if ecs_name == field["name"] and not flattened:
                lines += self._field(field["type"], f"{doc}[{ecs_name!r}]", depth)
            else:
                local = self._temporary("late")
                lines.append(f"{pad}{local} = _ABSENT")
                lines += self._field(field["type"], local, depth)
                late.append((local, ecs_name, flattened))
        self._inlining.pop()

        # The general path moves renamed fields to the end, then replaces flattened ones by their dotted keys.
        for local, ecs_name, flattened in late:
            if not flattened:
                lines.append(f"{pad}if {local} is not _ABSENT: {doc}[{ecs_name!r}] = {local}")
        for local, ecs_name, flattened in late:
            if flattened:
                lines.append(f"{pad}if {local} is not _ABSENT: _flatten_into({doc}, {ecs_name!r}, {local})")
        return lines

    def _field(self, schema: Any, target: str, depth: int) -> list[str]:
        """Return lines that read a field of ``schema`` and assign it to ``target`` when the ECS document keeps it.

        The general path drops a null value, and a converted value that is
        an empty object (a record or map of records without values).
        """
        self._generated_fields += 1
        if self._generated_fields > MAX_GENERATED_FIELDS:
            raise _Unsupported
        pad = "    " * depth
        value = self._temporary("value")
        if not self._converted(schema):
            # A value that is never dropped is read straight into its place.
            value = target
        if not isinstance(schema, list):
            if self._resolve(schema) == "null":
                return []
            return [*self._value(schema, value, depth), *self._keep(schema, value, target, depth)]

        branches = self._non_null(schema)
        if len(branches) > 1:
            raise _Unsupported
        if schema == ["null", branches[0]] if branches else False:
            # The common optional field: its null is the single byte 0 and its value starts with the byte 2.
            return [
                f"{pad}index = buf[pos]",
                f"{pad}if index == 0:",
                f"{pad}    pos += 1",
                f"{pad}else:",
                f"{pad}    if index == 2:",
                f"{pad}        pos += 1",
                f"{pad}    else:",
                f"{pad}        index, pos = _read_union_index(buf, pos, 2)",
                f"{pad}    if index:",
                *self._value(branches[0], value, depth + 2),
                *self._keep(branches[0], value, target, depth + 2),
            ]

        lines = self._union_index(schema, depth)
        for position, branch in enumerate(schema):
            if branch != "null":
                lines.append(f"{pad}if index == {position}:")
                lines += self._value(branch, value, depth + 1)
                lines += self._keep(branch, value, target, depth + 1)
        return lines

    def _keep(self, schema: Any, value: str, target: str, depth: int) -> list[str]:
        pad = "    " * depth
        if value == target:
            return []
        if self._converted(schema):
            return [f"{pad}if {value}: {target} = {value}" if self._is_record(schema) else f"{pad}if {value} != {{}}: {target} = {value}"]
        return [f"{pad}{target} = {value}"]

    def _union_index(self, schema: list[Any], depth: int) -> list[str]:
        return [f"{'    ' * depth}index, pos = _read_union_index(buf, pos, {len(schema)})"]

    # Values ------------------------------------------------------------------

    def _value(self, schema: Any, target: str, depth: int) -> list[str]:
        """Return lines that read one value of ``schema`` into the local ``target``, as the general path has it."""
        pad = "    " * depth
        resolved = self._resolve(schema)
        if isinstance(resolved, list):
            return self._union_value(resolved, target, depth)
        if isinstance(resolved, str):
            return self._primitive(resolved, target, depth)

        kind = resolved["type"]
        if kind == "record":
            if resolved["name"] in self._inlining:
                return [f"{pad}{target}, pos = {self._record_function(resolved)}(buf, pos)"]
            return self._record(resolved, target, depth)
        if kind == "enum":
            symbols = self._enum_symbols(resolved)
            return [
                *self._long("index", depth),
                f"{pad}if not 0 <= index < {len(resolved['symbols'])}: raise ValueError(f'enum index {{index}} is out of range')",
                f"{pad}{target} = {symbols}[index]",
            ]
        if kind == "fixed":
            size = resolved.get("size")
            if type(size) is not int or size < 0:
                raise _Unsupported
            return [
                f"{pad}end = pos + {size}",
                f"{pad}if end > limit: _eof()",
                f"{pad}{target} = bytes(buf[pos:end])",
                f"{pad}pos = end",
            ]
        if kind == "array":
            return self._blocks(resolved["items"], target, depth, keyed=False)
        if kind == "map":
            return self._blocks(resolved["values"], target, depth, keyed=True)
        raise _Unsupported

    def _union_value(self, schema: list[Any], target: str, depth: int) -> list[str]:
        """Read a union that is an array item or a map value: its null stays a None."""
        pad = "    " * depth
        branches = self._non_null(schema)
        if len(branches) > 1:
            raise _Unsupported
        lines = [*self._union_index(schema, depth), f"{pad}{target} = None"]
        if branches:
            lines.append(f"{pad}if index == {schema.index(branches[0])}:")
            lines += self._value(branches[0], target, depth + 1)
        return lines

    def _blocks(self, item_schema: Any, target: str, depth: int, *, keyed: bool) -> list[str]:
        """Read an array or a map: blocks of items, each block led by its item count."""
        pad = "    " * depth
        item = self._temporary("item")
        count = self._temporary("count")
        converted = self._converted(item_schema)
        lines = [
            f"{pad}{target} = {{}}" if keyed else f"{pad}{target} = []",
            f"{pad}while True:",
            *self._long(count, depth + 1),
            f"{pad}    if {count} == 0: break",
            f"{pad}    if {count} < 0:",
            f"{pad}        {count} = -{count}",
            *self._long("_", depth + 2),
            # Each item takes at least a byte unless its type is empty, such as null. A longer
            # block than the payload is corrupt, or would make a list of billions of items.
            f"{pad}    if {count} > limit: raise ValueError(f'a block of {{{count}}} items is longer than the payload')",
            f"{pad}    for _ in range({count}):",
        ]
        if keyed:
            key = self._temporary("key")
            lines += self._primitive("string", key, depth + 2)
        lines += self._value(item_schema, item, depth + 2)
        store = f"{target}[{key}] = {item}" if keyed else f"{target}.append({item})"
        # The general path drops null items only where it converts the items.
        lines.append(f"{pad}        if {item} is not None: {store}" if converted else f"{pad}        {store}")
        return lines

    def _primitive(self, kind: str, target: str, depth: int) -> list[str]:
        pad = "    " * depth
        if kind == "null":
            return [f"{pad}{target} = None"]
        if kind == "boolean":
            return [f"{pad}{target} = buf[pos] != 0", f"{pad}pos += 1"]
        if kind in ("int", "long"):
            return self._long(target, depth)
        if kind == "float":
            return [f"{pad}{target} = _unpack_float(buf, pos)[0]", f"{pad}pos += 4"]
        if kind == "double":
            return [f"{pad}{target} = _unpack_double(buf, pos)[0]", f"{pad}pos += 8"]
        if kind in ("string", "bytes"):
            # A length under 64 is one byte; an odd byte would be a negative length.
            read = ".decode()" if kind == "string" else ""
            wrap = "bytes" if kind == "bytes" else ""
            return [
                f"{pad}byte = buf[pos]",
                f"{pad}if byte < 0x80:",
                f"{pad}    end = pos + 1 + (byte >> 1)",
                f"{pad}    if byte & 1 or end > limit: _eof()",
                f"{pad}    {target} = {wrap}(buf[pos + 1:end]){read}",
                f"{pad}else:",
                f"{pad}    size, pos = _read_long(buf, pos)",
                f"{pad}    end = pos + size",
                f"{pad}    if size < 0 or end > limit: _eof()",
                f"{pad}    {target} = {wrap}(buf[pos:end]){read}",
                f"{pad}pos = end",
            ]
        raise _Unsupported

    def _long(self, target: str, depth: int) -> list[str]:
        """Read a zig-zag varint: one byte inline, longer ones in a helper."""
        pad = "    " * depth
        return [
            f"{pad}byte = buf[pos]",
            f"{pad}if byte < 0x80:",
            f"{pad}    pos += 1",
            f"{pad}    {target} = (byte >> 1) ^ -(byte & 1)",
            f"{pad}else:",
            f"{pad}    {target}, pos = _read_long(buf, pos)",
        ]

    # Schema look-ups -----------------------------------------------------------

    def _resolve(self, schema: Any) -> Any:
        """Return the definition of a named type, and the primitive name of a plain type object."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return schema
            if schema not in self._named:
                raise _Unsupported
            return self._resolve(self._named[schema])
        if isinstance(schema, dict):
            if "logicalType" in schema:
                raise _Unsupported
            if schema.get("type") in _PRIMITIVES:
                return schema["type"]
        return schema

    def _converted(self, schema: Any) -> bool:
        """Return whether the general path converts values of ``schema`` (see ``_DecoderBuilder.build``)."""
        resolved = self._resolve(schema)
        if isinstance(resolved, list):
            branches = self._non_null(resolved)
            return len(branches) == 1 and self._converted(branches[0])
        if isinstance(resolved, str):
            return False
        kind = resolved.get("type")
        if kind == "record":
            return True
        if kind == "array":
            return self._converted(resolved["items"])
        if kind == "map":
            return self._converted(resolved["values"])
        return False

    def _is_record(self, schema: Any) -> bool:
        resolved = self._resolve(schema)
        return isinstance(resolved, dict) and resolved.get("type") == "record"

    def _enum_symbols(self, schema: dict[str, Any]) -> str:
        """Return the name of the constant with the enum's symbols, written once per enum type."""
        name = self._enum_constants.get(schema["name"])
        if name is None:
            name = f"_SYMBOLS_{len(self._constants)}"
            self._constants.append(f"{name} = {tuple(schema['symbols'])!r}")
            self._enum_constants[schema["name"]] = name
        return name

    def _non_null(self, schema: Any) -> list[Any]:
        """Return the branches of a union other than ``"null"``.

        fastavro keeps a null branch written as ``{"type": "null"}``, and the
        general path then takes it for a value branch, so such a union is
        left to the general path.
        """
        if not isinstance(schema, list):
            return [schema]
        if any(isinstance(branch, dict) and branch.get("type") == "null" for branch in schema):
            raise _Unsupported
        return [branch for branch in schema if branch != "null"]

    def _temporary(self, stem: str) -> str:
        self._temporaries += 1
        return f"{stem}_{self._temporaries}"


def _renames_collide(fields: list[dict[str, Any]]) -> bool:
    """Return whether two fields would have the same ECS name, or a renamed field takes another field's Avro name."""
    ecs_names = [field_ecs_name(field) for field in fields]
    avro_names = {field["name"] for field in fields}
    renamed = {field_ecs_name(field) for field in fields if field_ecs_name(field) != field["name"]}
    return len(set(ecs_names)) != len(ecs_names) or bool(renamed & avro_names)


def _read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag varint of up to 10 bytes at ``pos`` and return the value and the next offset."""
    shift = 0
    value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if shift == 63 and byte > 1:
            raise ValueError("a varint exceeds the 64 bits of an Avro long")
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def _read_union_index(buf: bytes, pos: int, branches: int) -> tuple[int, int]:
    """Read a union's branch index at ``pos``; return it and the next offset.

    Raises:
        ValueError: the index is not one of the union's ``branches``.
    """
    index, pos = _read_long(buf, pos)
    if not 0 <= index < branches:
        raise ValueError(f"union branch {index} is out of range: the union has {branches} branches")
    return index, pos


def _eof() -> None:
    raise EOFError("a string or byte run has a negative length or runs past the end of the payload")
