"""Field mappings: how Elasticsearch indexes each ECS and Elastic Defend field that a query reads.

A field is a keyword, wildcard, number, boolean or IP field, or dynamic when
eql-stream has no mapping for it. Keyword and wildcard fields can have an
``ignore_above`` limit, beyond which Elasticsearch does not index a value.
:class:`FieldSchema` applies a deployment's settings (the keyword limit, the
index mode, per-field overrides) to the built-in mappings. Some fields, such
as ``message``, are text fields that EQL cannot query at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

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
