"""Raw-bytes prefilter: skip messages that no rule can match, without decoding them.

Every compiled rule has a set of *necessary literals*: strings, ASCII
lower-cased, at least one of which appears in some field value of every event
the rule matches. If the raw message bytes, ASCII lower-cased, contain none of
the literals of any rule, no rule can match and the message is skipped.

The test must never skip a message that the full matcher would alert on:

* Case: ``bytes.lower`` folds exactly the ASCII letters, like the literals, and
  leaves UTF-8 multi-byte sequences unchanged.
* JSON escapes: a value's characters appear in the JSON text as themselves,
  with a few exceptions. ``"`` and ``\\`` are written ``\\"`` and ``\\\\``, so
  the literals are searched in that escaped form too. Control characters and
  any character a producer chooses to write as ``\\uXXXX`` or ``\\/`` can hide a
  literal, so a message containing a ``\\u`` or ``\\/`` escape is always decoded.
* Numbers: a keyword field indexes a JSON number as text, which need not be
  the text written in the message (``1e3`` is indexed as ``1000.0``), so a rule
  with a literal that could be a number's text disables the prefilter.
* Avro: strings are stored as raw UTF-8 bytes after a length prefix, so the
  same byte search is sound for Avro payloads (the JSON escape rule does not
  apply, and is harmless there).

A rule without necessary literals disables the prefilter, because it can
match any message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBER_TEXT = re.compile(r"[0-9.eE+-]+")
_CONTROL = re.compile(r"[\x00-\x1f]")

_BACKSLASH = 0x5C
_ESCAPE_CANDIDATE = re.compile(rb"\\[u/]")


class Prefilter:
    """Decide from raw bytes whether a message may match any rule.

    Built once from the necessary-literal sets of all loaded rules (``None``
    for a rule without such a set).
    """

    def __init__(self, literal_sets: Iterable[frozenset[str] | None]) -> None:
        sets = list(literal_sets)
        self.enabled = bool(sets) and all(
            literals is not None and all(_is_searchable(text) for text in literals) for literals in sets
        )
        needles: set[bytes] = set()
        if self.enabled:
            for literals in sets:
                for text in literals or ():
                    needles.update(_byte_forms(text))
        self.needles: tuple[bytes, ...] = tuple(sorted(needles, key=len, reverse=True))
        # One alternation is faster than a substring test per needle, measured on
        # 2 KB Windows events whose common letters slow down bytes.__contains__.
        self._pattern = re.compile(b"|".join(re.escape(needle) for needle in self.needles)) if self.needles else None

    def may_match(self, payload: bytes) -> bool:
        """Return False only when no rule can match the message in ``payload``."""
        if not self.enabled:
            return True
        if self._pattern is not None and self._pattern.search(payload.lower()) is not None:
            return True
        return _has_hiding_escape(payload)


def _is_searchable(text: str) -> bool:
    """Return whether ``text`` can be searched in raw bytes (see the module docstring)."""
    return bool(text) and not _NUMBER_TEXT.fullmatch(text) and not _CONTROL.search(text)


def _byte_forms(text: str) -> set[bytes]:
    """Return the UTF-8 bytes of ``text`` as written plainly and inside a JSON string."""
    plain = text.encode("utf-8")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8")
    return {plain, escaped}


def _has_hiding_escape(payload: bytes) -> bool:
    """Return whether ``payload`` contains a \\u or \\/ escape.

    A backslash before 'u' or '/' starts an escape only when an even number of
    backslashes precede it, so that an escaped backslash followed by 'u' (as
    in "C:\\\\users") does not count.
    """
    for candidate in _ESCAPE_CANDIDATE.finditer(payload):
        position = candidate.start()
        run_start = position
        while run_start > 0 and payload[run_start - 1] == _BACKSLASH:
            run_start -= 1
        if (position - run_start) % 2 == 0:
            return True
    return False
