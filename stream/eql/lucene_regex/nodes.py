"""Syntax tree of a parsed Lucene regular expression, read by the emitter and the substring analysis."""

from __future__ import annotations

from dataclasses import dataclass

from stream.eql.lucene_regex.codepoints import _Range


@dataclass(frozen=True)
class _Literal:
    """A fixed sequence of code points: single characters and ``"..."`` strings (folded by ``regex~``)."""

    text: str


@dataclass(frozen=True)
class _CharSet:
    """One code point from a class. ``singles`` fold under ``regex~``, ``ranges`` never do."""

    singles: tuple[str, ...]
    ranges: tuple[_Range, ...]
    negated: bool = False


@dataclass(frozen=True)
class _AnyChar:
    """``.``: any single code point."""


@dataclass(frozen=True)
class _AnyString:
    """``@``: any string, the empty string included."""


@dataclass(frozen=True)
class _EmptyLanguage:
    """``#``: matches no string at all."""


@dataclass(frozen=True)
class _Interval:
    """``<low-high>``: decimal numbers in the closed interval. ``width`` 0 means no fixed width."""

    low: int
    high: int
    width: int


@dataclass(frozen=True)
class _Concat:
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Union:
    branches: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    """``body`` repeated ``low`` to ``high`` times. ``high`` is ``None`` when unbounded."""

    body: _Node
    low: int
    high: int | None


_Node = _Literal | _CharSet | _AnyChar | _AnyString | _EmptyLanguage | _Interval | _Concat | _Union | _Repeat
