"""Wildcard patterns of ``:``, ``like`` and ``like~``.

``*`` matches any run of code points (line breaks included), ``?`` exactly one
code point, and every other character, the backslash included, matches
itself: there is no escape character. A pattern matches the whole value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from stream.eql.text import ANY_BUT_JAVA_LINE_BREAK


def has_wildcard(pattern: str) -> bool:
    """Return whether ``pattern`` contains ``*`` or ``?``."""
    return "*" in pattern or "?" in pattern


def wildcard_to_regex(pattern: str, *, cross_lines: bool = True) -> str:
    """Return Python regex source matching exactly what ``pattern`` matches.

    With ``cross_lines`` false, ``*`` and ``?`` do not match line breaks (the
    behaviour of Elasticsearch's script path for function results).
    """
    any_char = "(?s:.)" if cross_lines else ANY_BUT_JAVA_LINE_BREAK
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(any_char + "*")
        elif char == "?":
            parts.append(any_char)
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def compile_patterns(patterns: Iterable[str], *, cross_lines: bool = True) -> Callable[[str], bool]:
    """Compile several patterns into one test that is true when any pattern matches.

    Patterns are sorted into plain values, prefixes (``abc*``), suffixes
    (``*abc``), substrings (``*abc*``) and general patterns, so the common
    shapes avoid the regex engine. Folding, when wanted, is the caller's job:
    fold the patterns before and the value before each call.
    """
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    substrings: list[str] = []
    general: list[str] = []

    for pattern in patterns:
        core = pattern.strip("*")
        if not has_wildcard(pattern):
            exact.add(pattern)
        elif has_wildcard(core) or not cross_lines:
            general.append(wildcard_to_regex(pattern, cross_lines=cross_lines))
        elif core == "":
            substrings.append("")
        elif pattern.startswith("*") and pattern.endswith("*") and len(pattern) >= len(core) + 2:
            substrings.append(core)
        elif pattern.endswith("*") and not pattern.startswith("*"):
            prefixes.append(core)
        elif pattern.startswith("*") and not pattern.endswith("*"):
            suffixes.append(core)
        else:
            general.append(wildcard_to_regex(pattern))

    return _build_test(
        frozenset(exact),
        tuple(prefixes),
        tuple(suffixes),
        tuple(substrings),
        re.compile("|".join(f"(?:{source})" for source in general)).fullmatch if general else None,
    )


def _build_test(
    exact: frozenset[str],
    prefixes: tuple[str, ...],
    suffixes: tuple[str, ...],
    substrings: tuple[str, ...],
    fullmatch: Callable[[str], object] | None,
) -> Callable[[str], bool]:
    if not prefixes and not suffixes and not substrings and fullmatch is None:
        return exact.__contains__

    def test(value: str) -> bool:
        if value in exact:
            return True
        if prefixes and value.startswith(prefixes):
            return True
        if suffixes and value.endswith(suffixes):
            return True
        for part in substrings:
            if part in value:
                return True
        return fullmatch is not None and fullmatch(value) is not None

    return test
