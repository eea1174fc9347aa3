"""Value extraction from decoded events, typed by the field's mapping (see :mod:`stream.eql.mapping`).

A field's *value set* is every scalar reached by its dotted path, through
nested objects, dotted keys and any depth of arrays, with JSON ``null``
dropped. A query sees only the values the field's Elastic mapping indexes.
Keyword fields index text and skip values longer than ``ignore_above`` UTF-16
code units. Wildcard fields index text of any length. Numeric and boolean
fields also accept numeric or boolean strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from stream.eql.ip import canonical_ip_text
from stream.eql.mapping import FieldKind, FieldSpec
from stream.eql.text import utf16_length
from stream.errors import DecodeError

class FieldTypeError(DecodeError):
    """An event value that the field's mapping cannot index (Elasticsearch would reject the document)."""

    def __init__(self, field_name: str, value: Any, expected: str) -> None:
        # JSON, as the value was written in the event, with anything JSON cannot show in Python's form.
        value_text = json.dumps(value, ensure_ascii=False, default=repr)
        if len(value_text) > 80:
            value_text = value_text[:77] + "..."
        super().__init__(
            "invalid_field_type",
            f"field {field_name!r} contains {value_text}, but its mapping needs {expected}",
        )


Getter = Callable[[Mapping[str, Any]], list[Any]]


def make_raw_getter(path: tuple[str, ...]) -> Getter:
    """Build a function that returns every non-null scalar at ``path`` in an event.

    The event may use nested objects, dotted keys (``{"process.name": ...}``)
    or both; arrays are flattened at any depth. The key candidates for each
    step are computed here, once, so the per-event work is dictionary lookups.
    """
    size = len(path)
    steps: list[tuple[tuple[str, int], ...]] = []
    for start in range(size):
        steps.append(tuple((".".join(path[start:end]), end) for end in range(start + 1, size + 1)))
    frozen_steps = tuple(steps)

    # Objects at the end of the path are kept: the typed getters decide whether
    # they are an impossible value (keyword, numeric ...) or invisible (dynamic).
    def add_leaf(value: Any, out: list[Any]) -> None:
        if value.__class__ is list:
            for item in value:
                if item is not None:
                    add_leaf(item, out)
        else:
            out.append(value)

    def descend(value: Any, index: int, out: list[Any]) -> None:
        if value.__class__ is dict:
            walk(value, index, out)
        elif value.__class__ is list:
            for item in value:
                descend(item, index, out)

    def walk(node: Mapping[str, Any], index: int, out: list[Any]) -> None:
        for key, following in frozen_steps[index]:
            child = node.get(key)
            if child is None:
                continue
            if following == size:
                add_leaf(child, out)
            else:
                descend(child, following, out)

    if size == 1:
        (key,) = path

        def get_single(event: Mapping[str, Any]) -> list[Any]:
            value = event.get(key)
            if value is None:
                return []
            if value.__class__ is str:
                return [value]
            out: list[Any] = []
            add_leaf(value, out)
            return out

        return get_single

    if size == 2:
        return _two_segment_getter(path, add_leaf, descend)
    if size == 3:
        return _three_segment_getter(path, add_leaf, descend)

    def get(event: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        walk(event, 0, out)
        return out

    return get


def _two_segment_getter(
    path: tuple[str, ...],
    add_leaf: Callable[[Any, list[Any]], None],
    descend: Callable[[Any, int, list[Any]], None],
) -> Getter:
    """Build the getter of an ``a.b`` path with its lookups written out, the common case."""
    first, second = path
    dotted = f"{first}.{second}"

    def get(event: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        child = event.get(first)
        if child.__class__ is dict:
            value = child.get(second)
            if value is not None:
                if value.__class__ is str:
                    out.append(value)
                else:
                    add_leaf(value, out)
        elif child.__class__ is list:
            descend(child, 1, out)
        value = event.get(dotted)
        if value is not None:
            add_leaf(value, out)
        return out

    return get


def _three_segment_getter(
    path: tuple[str, ...],
    add_leaf: Callable[[Any, list[Any]], None],
    descend: Callable[[Any, int, list[Any]], None],
) -> Getter:
    """Build the getter of an ``a.b.c`` path: every split into nested and dotted keys, written out."""
    first, second, third = path
    second_third = f"{second}.{third}"
    first_second = f"{first}.{second}"
    whole = f"{first}.{second}.{third}"

    def from_middle(middle: Any, out: list[Any]) -> None:
        # ``middle`` is the value at ``a.b``: the last segment is still to be read.
        if middle.__class__ is dict:
            value = middle.get(third)
            if value is not None:
                add_leaf(value, out)
        elif middle.__class__ is list:
            descend(middle, 2, out)

    def get(event: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        child = event.get(first)
        if child.__class__ is dict:
            middle = child.get(second)
            if middle is not None:
                from_middle(middle, out)
            value = child.get(second_third)
            if value is not None:
                add_leaf(value, out)
        elif child.__class__ is list:
            descend(child, 1, out)

        middle = event.get(first_second)
        if middle is not None:
            from_middle(middle, out)
        value = event.get(whole)
        if value is not None:
            add_leaf(value, out)
        return out

    return get


def make_value_getter(name: str, path: tuple[str, ...], spec: FieldSpec) -> Getter:
    """Build a function that returns the *indexed* values of a field, typed by ``spec``.

    Keyword and wildcard fields return text (numbers and booleans as their
    JSON text); values over ``ignore_above`` are left out. Numeric fields
    return ``int``/``float``; boolean fields ``bool``; IP fields text.

    The returned function raises :class:`FieldTypeError` for a value the
    mapping cannot index, such as ``"abc"`` in a numeric field.
    """
    raw = make_raw_getter(path)
    kind = spec.kind

    if kind in (FieldKind.KEYWORD, FieldKind.WILDCARD) or (kind is FieldKind.DYNAMIC and spec.ignore_above):
        full = _text_getter(raw, name, spec.ignore_above)
        if len(path) == 2:
            return _nested_text_fast_path(path, spec.ignore_above, full)
        if len(path) == 3:
            return _nested_text_fast_path_3(path, spec.ignore_above, full)
        return full
    if kind is FieldKind.NUMBER and spec.integer:
        return _converting_getter(raw, name, _to_long, "a whole number in the long range")
    if kind is FieldKind.NUMBER:
        return _converting_getter(raw, name, _to_number, "a number")
    if kind is FieldKind.BOOLEAN:
        return _converting_getter(raw, name, _to_boolean, "true or false")
    if kind is FieldKind.IP:
        return _converting_getter(raw, name, _to_ip_text, "an IP address")
    return _without_objects(raw)


def _nested_text_fast_path(path: tuple[str, ...], limit: int | None, full: Getter) -> Getter:
    """Answer an ``a.b`` text field in one function when the event is plainly nested.

    The fast path applies when ``a`` is an object, the event has no dotted
    ``a.b`` key, and ``b`` holds one short string or nothing; every other shape
    goes to ``full``, the general getter.
    """
    first, second = path
    dotted = f"{first}.{second}"
    safe_length = (limit // 2) if limit is not None else None

    def get(event: Mapping[str, Any]) -> list[Any]:
        child = event.get(first)
        if child.__class__ is dict and dotted not in event:
            value = child.get(second)
            if value is None:
                return []
            if value.__class__ is str and (safe_length is None or len(value) <= safe_length):
                return [value]
        return full(event)

    return get


def _nested_text_fast_path_3(path: tuple[str, ...], limit: int | None, full: Getter) -> Getter:
    """Answer an ``a.b.c`` text field in one function when the event is plainly nested.

    The conditions mirror :func:`_nested_text_fast_path`: objects at ``a`` and
    ``a.b``, none of the dotted spellings ``a.b``, ``a.b.c`` or ``b.c`` present.
    """
    first, second, third = path
    first_second = f"{first}.{second}"
    whole = f"{first}.{second}.{third}"
    second_third = f"{second}.{third}"
    safe_length = (limit // 2) if limit is not None else None

    def get(event: Mapping[str, Any]) -> list[Any]:
        child = event.get(first)
        if child.__class__ is dict and first_second not in event and whole not in event and second_third not in child:
            middle = child.get(second)
            if middle is None:
                return []
            if middle.__class__ is dict:
                value = middle.get(third)
                if value is None:
                    return []
                if value.__class__ is str and (safe_length is None or len(value) <= safe_length):
                    return [value]
        return full(event)

    return get


def _without_objects(raw: Getter) -> Getter:
    """Drop object values: a field without a mapping that contains an object has no value of its own."""

    def get(event: Mapping[str, Any]) -> list[Any]:
        values = raw(event)
        for value in values:
            if value.__class__ is dict:
                return [value for value in values if value.__class__ is not dict]
        return values

    return get


def _text_getter(raw: Getter, name: str, limit: int | None) -> Getter:
    # A string of at most limit // 2 code points cannot exceed the limit in UTF-16 units.
    safe_length = (limit // 2) if limit is not None else None

    def get(event: Mapping[str, Any]) -> list[Any]:
        values = raw(event)
        for index, value in enumerate(values):
            if value.__class__ is not str:
                if value.__class__ is dict:
                    raise FieldTypeError(name, value, "text, a number or a boolean")
                values[index] = _text_form(value)
        if safe_length is None:
            return values
        for value in values:
            if len(value) > safe_length:
                return [value for value in values if len(value) <= safe_length or utf16_length(value) <= limit]
        return values

    return get


def _text_form(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _converting_getter(raw: Getter, name: str, convert: Callable[[Any], Any], expected: str) -> Getter:
    def get(event: Mapping[str, Any]) -> list[Any]:
        values = raw(event)
        for index, value in enumerate(values):
            converted = convert(value)
            if converted is None:
                raise FieldTypeError(name, value, expected)
            values[index] = converted
        return values

    return get


def _to_number(value: Any) -> int | float | None:
    if value.__class__ is int or value.__class__ is float:
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None


_LONG_RANGE = range(-(2**63), 2**63)


def _to_long(value: Any) -> int | None:
    """Return the value a long field indexes: a number or numeric text, truncated toward zero, or None.

    Elasticsearch's coerce setting (on by default) truncates fractions, and
    it rejects values outside the long range, which give None (a type
    error). Infinite and NaN values give None too; that case was not
    checked against Elasticsearch.
    """
    number = _to_number(value)
    if number is None:
        return None
    if number.__class__ is float:
        if not math.isfinite(number):
            return None
        number = int(number)
    return number if number in _LONG_RANGE else None


def _to_boolean(value: Any) -> bool | None:
    if value is True or value is False:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _to_ip_text(value: Any) -> str | None:
    return canonical_ip_text(value) if isinstance(value, str) else None
