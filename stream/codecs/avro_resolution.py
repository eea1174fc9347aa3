"""Static check of Avro schema resolution: the writer fields whose values a reader schema cannot read.

Avro resolves a writer schema to a reader schema per value: fastavro raises
only when a message contains a value that does not resolve. A writer schema
whose ``process`` field is a string, where the reader expects a record, thus
starts without complaint and then fails on every message that has the field.
:func:`unreadable_fields` walks both schemas along the rules of the Avro
specification's "Schema Resolution" section and names such fields, so that
the decoder can log them once when it first meets the writer schema.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unreadable_fields"]

# Writer types that a reader type also accepts, besides the same type (Avro's promotions).
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
_NAMED_KINDS = ("record", "error", "enum", "fixed")


def unreadable_fields(writer: Any, reader: Any, limit: int = 10) -> list[str]:
    """Return up to ``limit`` descriptions of the values of ``writer`` that ``reader`` cannot read.

    Both are parsed schemas (as ``fastavro.parse_schema`` returns them).
    Each description names the field path and both types. An empty list
    means that every value of ``writer`` resolves. A field that only the
    writer has is no problem, because the reader skips it.
    """
    check = _Resolution(_named_types(writer), _named_types(reader))
    check.compare(writer, reader, "")
    return check.problems[:limit]


class _Resolution:
    def __init__(self, writer_named: dict[str, Any], reader_named: dict[str, Any]) -> None:
        self._writer_named = writer_named
        self._reader_named = reader_named
        self._compared: set[tuple[str, str]] = set()
        self.problems: list[str] = []

    def compare(self, writer: Any, reader: Any, path: str) -> None:
        """Record a problem for each value of ``writer`` at ``path`` that ``reader`` cannot read."""
        writer = _resolve(writer, self._writer_named)
        reader = _resolve(reader, self._reader_named)
        if isinstance(writer, list):
            for branch in writer:
                self.compare(branch, reader, path)
            return
        if isinstance(reader, list):
            branch = next((branch for branch in reader if self._matches(writer, _resolve(branch, self._reader_named))), None)
            if branch is None:
                self._problem(path, writer, reader)
            else:
                self.compare(writer, branch, path)
            return

        if not self._matches(writer, reader):
            self._problem(path, writer, reader)
        elif _kind(writer) in ("record", "error"):
            self._compare_records(writer, reader, path)
        elif _kind(writer) == "array":
            self.compare(writer["items"], reader["items"], f"{path}[]")
        elif _kind(writer) == "map":
            self.compare(writer["values"], reader["values"], f"{path}{{}}")

    def _compare_records(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        pair = (writer["name"], reader["name"])
        if pair in self._compared:
            return
        self._compared.add(pair)

        writer_fields = {field["name"]: field for field in writer.get("fields", [])}
        for field in reader.get("fields", []):
            names = [field["name"], *field.get("aliases", [])]
            source = next((writer_fields[name] for name in names if name in writer_fields), None)
            field_path = f"{path}.{field['name']}" if path else field["name"]
            if source is not None:
                self.compare(source["type"], field["type"], field_path)
            elif "default" not in field:
                self.problems.append(f"{field_path}: the reader schema needs the field, and the writer schema has no such field")

    def _matches(self, writer: Any, reader: Any) -> bool:
        """Return whether a value of type ``writer`` (not a union) can be read as ``reader`` (not a union)."""
        if isinstance(reader, list):
            return False
        writer_kind, reader_kind = _kind(writer), _kind(reader)
        if writer_kind in _NAMED_KINDS or reader_kind in _NAMED_KINDS:
            if writer_kind != reader_kind or not _same_name(writer, reader):
                return False
            return writer_kind != "fixed" or writer.get("size") == reader.get("size")
        return writer_kind == reader_kind or reader_kind in _PROMOTIONS.get(writer_kind, ())

    def _problem(self, path: str, writer: Any, reader: Any) -> None:
        where = path or "the top level"
        self.problems.append(f"{where}: the writer's {_describe(writer)} cannot be read as the reader's {_describe(reader)}")


def _named_types(schema: Any) -> dict[str, Any]:
    return schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}


def _resolve(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        return named[schema]
    if isinstance(schema, dict) and schema.get("type") not in (*_NAMED_KINDS, "array", "map"):
        return schema.get("type")
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return str(schema)


def _same_name(writer: dict[str, Any], reader: dict[str, Any]) -> bool:
    """Return whether a named writer type resolves to ``reader`` by full name or by one of its aliases."""
    writer_name = writer.get("name", "")
    short = writer_name.rpartition(".")[2]
    accepted = {reader.get("name", ""), *reader.get("aliases", [])}
    return writer_name in accepted or short in {name.rpartition(".")[2] for name in accepted}


def _describe(schema: Any) -> str:
    if isinstance(schema, list):
        return "union of " + ", ".join(_describe(branch) for branch in schema)
    if isinstance(schema, dict):
        name = schema.get("name")
        return f"{schema.get('type')} {name}" if name else str(schema.get("type"))
    return str(schema)
