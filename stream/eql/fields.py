"""Field types and value extraction from decoded events.

A field's *value set* is every scalar reached by its dotted path, through
nested objects, dotted keys and any depth of arrays, with JSON ``null``
dropped. A query sees only the values the field's Elastic mapping indexes.
Keyword fields index text and skip values longer than ``ignore_above`` UTF-16
code units. Wildcard fields index text of any length. Numeric and boolean
fields also accept numeric or boolean strings.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from stream.eql.text import utf16_length
from stream.errors import DecodeError

DEFAULT_IGNORE_ABOVE = 1024
# The ignore_above that a logsdb data stream applies to keyword and wildcard fields that set none.
LOGSDB_IGNORE_ABOVE = 8191


class FieldKind(Enum):
    """Indexing kind of a field."""

    KEYWORD = "keyword"
    WILDCARD = "wildcard"
    NUMBER = "number"
    BOOLEAN = "boolean"
    IP = "ip"
    DYNAMIC = "dynamic"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """The indexing of one field: its kind and, for text, the ``ignore_above`` limit (``None``: no limit).

    ``integer`` marks a numeric field mapped as an integer type (``long``),
    whose fractional values Elasticsearch truncates toward zero when it
    indexes them.
    """

    kind: FieldKind
    ignore_above: int | None = None
    integer: bool = False


# Top-level ECS and Elastic Defend namespaces whose text fields are keyword
# fields with ``ignore_above: 1024`` in the ECS templates.
_ECS_NAMESPACES = frozenset(
    """agent client cloud container data_stream destination dll dns ecs email error event file group host http
    log network observer orchestrator organization os package process registry related rule server service
    source threat tls url user user_agent vulnerability""".split()
)

# Fields mapped as ``wildcard`` in ECS: searchable at any length.
_WILDCARD_SUFFIXES = (".command_line",)
_WILDCARD_FIELDS = frozenset(
    {
        "registry.data.strings",
        "url.full",
        "url.original",
        "error.stack_trace",
        "http.request.body.content",
        "http.response.body.content",
        "user_agent.original",
    }
)
# The public name of the wildcard fields listed by full name, which the rule lint compares field names with.
WILDCARD_FIELDS = _WILDCARD_FIELDS

# Numeric leaf names in ECS and Elastic Defend (long, integer, double, ...).
_NUMBER_LEAVES = frozenset(
    """pid ppid pgid args_count exit_code port bytes packets size entropy status_code uptime duration severity
    relative_file_creation_time relative_file_name_modify_time zone_identifier risk_score sequence
    unique_pid uid_number gid_number nice""".split()
)
# The numeric leaves above that ECS and Elastic Defend map as floating point; the others are long.
_FLOATING_LEAVES = frozenset({"entropy", "risk_score"})
_BOOLEAN_LEAVES = frozenset(
    "trusted exists interactive same_as_process is_managed".split()
)
_IP_LEAVES = frozenset({"ip"})


def builtin_field_spec(name: str, ignore_above: int = DEFAULT_IGNORE_ABOVE) -> FieldSpec:
    """Return the indexing of ``name`` as the ECS / Elastic Defend mappings define it.

    Fields outside the ECS namespaces get :attr:`FieldKind.DYNAMIC`: indexed as
    their JSON type, text without a length limit, as a streaming engine without
    mappings should treat them.
    """
    leaf = name.rsplit(".", 1)[-1]
    if leaf in _NUMBER_LEAVES:
        return FieldSpec(FieldKind.NUMBER, integer=leaf not in _FLOATING_LEAVES)
    if leaf in _BOOLEAN_LEAVES:
        return FieldSpec(FieldKind.BOOLEAN)
    if leaf in _IP_LEAVES:
        return FieldSpec(FieldKind.IP)
    if name in _WILDCARD_FIELDS or name.endswith(_WILDCARD_SUFFIXES):
        return FieldSpec(FieldKind.WILDCARD)
    if _is_ecs_field(name):
        return FieldSpec(FieldKind.KEYWORD, ignore_above)
    return FieldSpec(FieldKind.DYNAMIC)


# Fields that ECS maps as match_only_text: analysed, so Elasticsearch EQL cannot query them.
_TEXT_FIELDS = frozenset({"message", "error.message"})
# ECS names the text multi-field of a keyword or wildcard field ``<field>.text`` (user.name.text,
# process.command_line.text). Elastic Defend's process.io.text is a wildcard field of its own.
_TEXT_MULTI_FIELD_LEAF = "text"
_NOT_TEXT_MULTI_FIELDS = frozenset({"process.io.text"})


# The lower-cased sub-fields that Elastic Defend's process mapping defines.
_CASELESS_FIELDS = frozenset(
    f"process.{leaf}.caseless" for leaf in ("command_line", "executable", "name", "working_directory")
)


def _is_ecs_field(name: str) -> bool:
    return bool(name) and name.split(".", 1)[0] in _ECS_NAMESPACES


def unqueryable_field_reason(name: str) -> tuple[str, bool] | None:
    """Return why a rule cannot name field ``name``, and whether Elasticsearch accepts it; ``None`` when it can.

    Text fields are rejected by Elasticsearch. Elastic Defend's ``.caseless``
    sub-fields (keyword fields lower-cased by their mapping) are valid there, but
    eql-stream does not emulate their lower-casing yet.
    """
    parent, _, leaf = name.rpartition(".")
    if name in _TEXT_FIELDS:
        return (
            f"field '{name}' is a text field, which Elasticsearch EQL cannot query: match a keyword field "
            "instead, such as process.command_line",
            False,
        )
    if leaf == _TEXT_MULTI_FIELD_LEAF and _is_ecs_field(parent) and name not in _NOT_TEXT_MULTI_FIELDS:
        return (
            f"field '{name}' is the text multi-field of '{parent}', which Elasticsearch EQL cannot query: "
            f"match '{parent}' instead, with ':' for a case-insensitive match",
            False,
        )
    if name in _CASELESS_FIELDS:
        return (
            f"field '{name}' is Elastic Defend's lower-cased sub-field, which eql-stream does not emulate yet: "
            f"match '{parent}' with ':' or 'in~' for a case-insensitive match",
            True,
        )
    return None


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """Field indexing used by the compiler.

    ``ignore_above`` overrides the limit per field name (``None`` removes it);
    ``default_ignore_above`` is the limit of the ECS keyword fields, which
    their mapping sets (1024). ``unset_ignore_above`` is the limit of the
    fields whose mapping sets none, the wildcard fields and the fields
    outside ECS: ``None`` (no limit) in a standard index, and
    :data:`LOGSDB_IGNORE_ABOVE` in a ``logsdb`` data stream, which applies
    it index-wide. ``known_fields``, when set, lists every field the
    deployment defines: ``?field`` outside it evaluates to ``null``.
    """

    default_ignore_above: int = DEFAULT_IGNORE_ABOVE
    ignore_above: Mapping[str, int | None] = field(default_factory=dict)
    known_fields: frozenset[str] | None = None
    unset_ignore_above: int | None = None

    def spec(self, name: str) -> FieldSpec:
        """Return the indexing of field ``name``."""
        spec = builtin_field_spec(name, self.default_ignore_above)
        if spec.kind not in (FieldKind.KEYWORD, FieldKind.WILDCARD, FieldKind.DYNAMIC):
            return spec
        if name in self.ignore_above:
            return _with_limit(spec, self.ignore_above[name])
        if spec.ignore_above is None and self.unset_ignore_above is not None:
            return _with_limit(spec, self.unset_ignore_above)
        return spec

    def is_known(self, name: str) -> bool:
        """Return whether ``name`` is defined (always true without ``known_fields``)."""
        return self.known_fields is None or name in self.known_fields


def _with_limit(spec: FieldSpec, limit: int | None) -> FieldSpec:
    """Return ``spec`` with the length limit ``limit``; a wildcard field with a limit reads as a keyword field."""
    kind = spec.kind if spec.kind is not FieldKind.WILDCARD or limit is None else FieldKind.KEYWORD
    return FieldSpec(kind, limit)


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


def canonical_ip_text(text: str) -> str | None:
    """Return the address in ``text`` in the form Elasticsearch gives an indexed IP, or None for a text that is no address.

    Elasticsearch indexes an IPv4 address as the IPv4-mapped IPv6 address,
    so ``10.1.2.3`` and ``::ffff:10.1.2.3`` are one value, and it writes an
    IPv6 address in lower case with zeros compressed (``2001:DB8:0::1`` is
    ``2001:db8::1``). Comparing these texts therefore compares addresses.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


IpTerm = str | ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip_term(text: str) -> IpTerm:
    """Return what ``text`` matches when an IP field is compared with it: one address, or a block.

    Elasticsearch's term query on an IP field reads a text with ``/`` as an
    address block (``10.0.0.0/8`` matches every address in it), and any
    other text as one address, returned here in canonical form (see
    :func:`canonical_ip_text`).

    Raises:
        ValueError: ``text`` is neither an address nor a block. Elasticsearch
            rejects such a query, so the rule cannot run there either.
    """
    if "/" in text:
        return _ip_block(text)
    canonical = canonical_ip_text(text)
    if canonical is None:
        raise ValueError(f"{text!r} is not an IP address")
    return canonical


def _ip_block(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse ``address/length`` as Elasticsearch's ``InetAddresses.parseCidr`` does.

    Raises:
        ValueError: the address or the length is invalid, the length exceeds
            the address's bits, or the address is IPv4-mapped IPv6, whose
            prefix length would be ambiguous.
    """
    address_text, _, length_text = text.partition("/")
    if not length_text.isdecimal() or not length_text.isascii():
        raise ValueError(f"{text!r} has no prefix length in bits after '/'")
    address = ipaddress.ip_address(address_text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"{text!r} is an IPv4-mapped IPv6 address with a prefix length; write the IPv4 block")
    length = int(length_text)
    if length > address.max_prefixlen:
        raise ValueError(f"{text!r} has a prefix longer than the {address.max_prefixlen} bits of its address")
    return ipaddress.ip_network((address, length), strict=False)


def ip_sort_key(text: str) -> bytes | None:
    """Return the 16 bytes by which Elasticsearch orders IP addresses (IPv4 as IPv4-mapped IPv6), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return b"\x00" * 10 + b"\xff\xff" + address.packed
    return address.packed
