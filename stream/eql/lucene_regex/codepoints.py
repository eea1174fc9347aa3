"""Code point ranges, and the case variants of one character that ``regex~`` matches."""

from __future__ import annotations

import functools
from collections.abc import Callable

_MAX_CODE_POINT = 0x10FFFF

_Range = tuple[int, int]


def _normalize(ranges: list[_Range]) -> list[_Range]:
    merged: list[_Range] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _complement(ranges: tuple[_Range, ...] | list[_Range]) -> tuple[_Range, ...]:
    gaps: list[_Range] = []
    next_low = 0
    for low, high in _normalize(list(ranges)):
        if low > next_low:
            gaps.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= _MAX_CODE_POINT:
        gaps.append((next_low, _MAX_CODE_POINT))
    return tuple(gaps)


_CaseVariants = Callable[[str], frozenset[str]]


def _ascii_variants(character: str) -> frozenset[str]:
    if character.isascii() and character.isalpha():
        return frozenset((character.lower(), character.upper()))
    return frozenset(character)


def _simple_fold(character: str) -> str:
    """Approximate Unicode simple case folding of one code point with Python's full mappings."""
    for mapped in (character.casefold(), character.lower()):
        if len(mapped) == 1:
            return mapped
    return character


@functools.cache
def _unicode_fold_classes() -> dict[str, frozenset[str]]:
    """Map each folded code point to all code points that fold to it, scanning every code point once."""
    groups: dict[str, set[str]] = {}
    for code_point in range(_MAX_CODE_POINT + 1):
        character = chr(code_point)
        folded = _simple_fold(character)
        if folded != character:
            groups.setdefault(folded, {folded}).add(character)
    return {folded: frozenset(members) for folded, members in groups.items()}


def _unicode_variants(character: str) -> frozenset[str]:
    # NOTE: Python exposes only full case mappings, so a code point whose full folding has several
    # characters only gets its simple lower-case partner. Lucene 10's own table also differs (it groups
    # i, I, U+0130 and U+0131).
    return _unicode_fold_classes().get(_simple_fold(character), frozenset(character))
