"""The misspelt-field check: a field that differs from a field of the shipped schema by a likely typo."""

from __future__ import annotations

import difflib
import functools

from stream.codecs.avro_schema import PROCESS_EVENT_SCHEMA, ecs_field_names, load_shipped_schema
from stream.eql.ast import Query
from stream.eql.mapping import WILDCARD_FIELDS, FieldKind, builtin_field_spec
from stream.rules.lint._syntax import iter_fields
from stream.rules.model import Rule

# Kinds that builtin_field_spec gives only to fields it lists by full name or leaf name. It maps
# every other field of an ECS namespace as keyword, whether ECS defines the field or not.
_TYPED_FIELD_KINDS = frozenset({FieldKind.NUMBER, FieldKind.BOOLEAN, FieldKind.IP, FieldKind.WILDCARD})

# The minimum difflib ratio between a misspelt segment of a field name and the segment of a known
# field. A swap or change of one character in a segment of three or more characters scores at least
# 2/3. Elastic's prebuilt rules name no field that this check flags.
_FIELD_MATCH_CUTOFF = 0.65


@functools.cache
def known_field_names() -> frozenset[str]:
    """Return the dotted ECS names of the fields that the misspelt-field check compares field names with.

    They are the leaf fields of the shipped process event schema, under
    their ECS names (``@timestamp``, not ``timestamp``), and the fields that
    :mod:`stream.eql.mapping` maps as wildcard by full name.

    Raises:
        ConfigError: the shipped schema cannot be loaded (broken package data).
    """
    schema = load_shipped_schema(PROCESS_EVENT_SCHEMA)
    return ecs_field_names(schema) | WILDCARD_FIELDS


def misspelt_field_warnings(rule: Rule, query: Query) -> list[str]:
    """Return one warning per field of ``query`` that looks like a misspelling of a known field.

    A field gets a warning when it is not written ``?field``, is not in
    :func:`known_field_names`, gets no type from
    :func:`~stream.eql.mapping.builtin_field_spec` (such as ``process.pgid``,
    a number by its leaf name), and a known field with the same number of
    segments matches it, ignoring case, in every segment but one. That
    segment must start with the same character as the known field's and
    reach a difflib ratio of :data:`_FIELD_MATCH_CUTOFF`. Typos that add or
    remove a dot, or that change the first character of a segment, get no
    warning. A field named several times gets one warning.
    """
    known = known_field_names()
    warnings = []
    seen: set[str] = set()
    for field in iter_fields(query.condition):
        if field.optional or field.name in seen:
            continue
        seen.add(field.name)
        if field.name in known or builtin_field_spec(field.name).kind in _TYPED_FIELD_KINDS:
            continue

        suggestion = _closest_known_field(field.name, known)
        if suggestion is not None:
            warnings.append(
                f"rule {rule.display_name!r}: field {field.name!r} on line {field.line} of the query is not in the "
                f"shipped process event schema, so it has no value in those events, and Elasticsearch rejects a "
                f"rule whose field no index maps. Did you mean {suggestion!r}? If the name is right, write "
                f"?{field.name}"
            )
    return warnings


def _closest_known_field(name: str, known: frozenset[str]) -> str | None:
    """Return the known field that ``name`` most likely misspells, or ``None``. Ties go to the first in sorted order."""
    written = name.lower().split(".")
    best: str | None = None
    best_score = 0.0
    for candidate in sorted(known):
        score = _misspelling_score(written, candidate.lower().split("."))
        if score > best_score:
            best, best_score = candidate, score
    return best


def _misspelling_score(written: list[str], candidate: list[str]) -> float:
    """Return how likely the lower-cased segments ``written`` misspell ``candidate``, from 0 (not at all) to 1."""
    if len(written) != len(candidate):
        return 0.0
    differing = [(mine, theirs) for mine, theirs in zip(written, candidate) if mine != theirs]
    if not differing:
        return 1.0
    if len(differing) > 1:
        return 0.0

    ((mine, theirs),) = differing
    if mine[:1] != theirs[:1]:
        return 0.0
    score = difflib.SequenceMatcher(None, mine, theirs).ratio()
    return score if score >= _FIELD_MATCH_CUTOFF else 0.0
