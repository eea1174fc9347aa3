"""Raw-bytes prefilter: skip messages that no rule can match, and the rules that cannot match a message.

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

Literals are looked up per rule with one Aho-Corasick automaton, so a message
is evaluated only against the rules whose literals it contains, and skipped
when there is none. A rule without necessary literals can match any message:
it is evaluated on every message, so no message is skipped outright.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick

_NUMBER_TEXT = re.compile(r"[0-9.eE+-]+")
_CONTROL = re.compile(r"[\x00-\x1f]")

_BACKSLASH = 0x5C
_MAX_SCREEN_NEEDLES = 32
_ESCAPE_CANDIDATE = re.compile(rb"\\[u/]")


class Prefilter:
    """Decide from raw bytes which rules may match a message.

    Built once from the necessary-literal sets of the loaded rules, in rule
    order (``None`` for a rule without such a set). Every rule without a
    searchable set is selected for every message, so with such a rule
    (``enabled`` is false) no message is skipped outright, but the other rules
    are still selected by their literals.
    """

    def __init__(self, literal_sets: Iterable[frozenset[str] | None]) -> None:
        sets = list(literal_sets)
        self.rule_count = len(sets)
        self.always: tuple[int, ...] = tuple(
            index
            for index, literals in enumerate(sets)
            if literals is None or not all(_is_searchable(text) for text in literals)
        )
        self.enabled = bool(sets) and not self.always

        # Needles are searched as Latin-1 text, which maps each byte to one
        # character, so that the automaton works on the raw UTF-8 bytes.
        rules_by_needle: dict[str, set[int]] = {}
        for index, literals in enumerate(sets):
            if index in self.always or literals is None:
                continue
            for text in literals:
                for needle in _byte_forms(text):
                    rules_by_needle.setdefault(needle.decode("latin-1"), set()).add(index)

        # With few needles one regex alternation answers "any needle at all?" about
        # three times faster than the automaton (measured on 2 KB events), and most
        # messages contain none; with many needles the alternation gets slow.
        self._screen: re.Pattern[bytes] | None = None
        if 0 < len(rules_by_needle) <= _MAX_SCREEN_NEEDLES:
            needles = sorted((needle.encode("latin-1") for needle in rules_by_needle), key=len, reverse=True)
            self._screen = re.compile(b"|".join(re.escape(needle) for needle in needles))

        self._automaton: ahocorasick.Automaton | None = None
        if rules_by_needle:
            automaton = ahocorasick.Automaton()
            for needle, rules in rules_by_needle.items():
                automaton.add_word(needle, frozenset(rules))
            automaton.make_automaton()
            self._automaton = automaton
        self._all_rules = tuple(range(self.rule_count))

    def select(self, payload: bytes) -> tuple[int, ...]:
        """Return the indexes, in rule order, of the rules that may match the message in ``payload``.

        All rules are returned when an escape could hide a literal.
        """
        if self._automaton is None:
            return self._all_rules if _has_hiding_escape(payload) else self.always

        lowered = payload.lower()
        if self._screen is not None and self._screen.search(lowered) is None:
            return self._all_rules if _has_hiding_escape(payload) else self.always
        if _has_hiding_escape(payload):
            return self._all_rules

        selected = set(self.always)
        for _, rules in self._automaton.iter(lowered.decode("latin-1")):
            selected.update(rules)
        return tuple(sorted(selected))

    def may_match(self, payload: bytes) -> bool:
        """Return False only when no rule can match the message in ``payload``."""
        return bool(self.select(payload))


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
