"""Raw-bytes prefilter: skip messages that no rule can match, and the rules that cannot match a message.

Every compiled rule has a set of *necessary literals*: strings, ASCII
lower-cased, at least one of which appears in some field value of every event
the rule matches. If the raw message bytes, compared with ASCII case folding,
contain none of the literals of any rule, no rule can match and the message is
skipped.

The test must never skip a message that the full matcher would alert on:

* Case: the search folds exactly the ASCII letters, like the literals, and
  leaves UTF-8 multi-byte sequences unchanged.
* JSON escapes: a value's characters appear in the JSON text as themselves,
  with a few exceptions. ``"`` and ``\\`` are written ``\\"`` and ``\\\\``, so
  the literals are searched in that escaped form too. Control characters and
  any character a producer chooses to write as ``\\uXXXX`` or ``\\/`` can hide a
  literal, so a message containing a ``\\u`` or ``\\/`` escape selects every rule.
* Numbers: a keyword field indexes a JSON number as text, which need not be
  the text written in the message (``1e3`` is indexed as ``1000.0``), so a rule
  with a literal that could be a number's text is selected for every message.
* Avro: strings are stored as raw UTF-8 bytes after a length prefix, so the
  same byte search is sound for Avro payloads (the JSON escape rule does not
  apply, and is harmless there).

The search runs in Hyperscan over a whole batch of payloads at once (vectored
mode, so the payloads are not copied). On the benchmark machine that cost
0.6 to 0.9 microseconds per 2 KB event. A rule without necessary literals can match any message: it is
selected for every message, so no message is skipped outright.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

import hyperscan

_NUMBER_TEXT = re.compile(r"[0-9.eE+-]+")
_CONTROL = re.compile(r"[\x00-\x1f]")

_BACKSLASH = 0x5C
# The two escapes that can hide a literal. JSON has no upper-case \U escape.
_HIDING_ESCAPES = (b"\\u", b"\\/")

Selection = tuple[int, ...]


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
        self.always: Selection = tuple(
            index
            for index, literals in enumerate(sets)
            if literals is None or not all(_is_searchable(text) for text in literals)
        )
        self.enabled = bool(sets) and not self.always
        self._all_rules: Selection = tuple(range(self.rule_count))

        rules_by_needle: dict[bytes, set[int]] = {}
        for index, literals in enumerate(sets):
            if index in self.always or literals is None:
                continue
            for text in literals:
                for needle in _byte_forms(text):
                    rules_by_needle.setdefault(needle, set()).add(index)

        # Pattern ids 0 to n-1 are the needles, and the hiding escapes come after them.
        self._rules_by_pattern: list[frozenset[int]] = [frozenset(rules) for rules in rules_by_needle.values()]
        self._first_escape_id = len(self._rules_by_pattern)
        self._database = _compile(list(rules_by_needle)) if rules_by_needle else None

    def select(self, payload: bytes) -> Selection:
        """Return the indexes, in rule order, of the rules that may match the message in ``payload``.

        All rules are returned when an escape could hide a literal.
        """
        return self.select_batch([payload]).get(0, ())

    def may_match(self, payload: bytes) -> bool:
        """Return False only when no rule can match the message in ``payload``."""
        return bool(self.select(payload))

    def select_batch(self, payloads: Sequence[bytes]) -> dict[int, Selection]:
        """Return, for each payload that some rule may match, its position in ``payloads`` and its selection.

        A payload absent from the result matches no rule. With a rule that
        has no searchable literal (``enabled`` is false), every payload is in
        the result. An empty payload is fine; ``None`` is not.
        """
        if self._database is None:
            return dict.fromkeys(range(len(payloads)), self.always) if self.always else {}

        hits: list[tuple[int, int]] = []
        self._database.scan(list(payloads), match_event_handler=_collect_hit, context=hits)
        if not hits:
            return dict.fromkeys(range(len(payloads)), self.always) if self.always else {}

        return self._selections_from_hits(payloads, hits)

    def _selections_from_hits(self, payloads: Sequence[bytes], hits: list[tuple[int, int]]) -> dict[int, Selection]:
        # A hit's end offset counts across the payloads laid end to end.
        ends = list(accumulate(map(len, payloads)))
        rules_by_payload: dict[int, set[int]] = {}
        hidden: set[int] = set()
        for pattern_id, end in hits:
            index = bisect_right(ends, end - 1)
            if pattern_id < self._first_escape_id:
                rules_by_payload.setdefault(index, set(self.always)).update(self._rules_by_pattern[pattern_id])
                continue

            escape_start = end - 2 - (ends[index - 1] if index else 0)
            # A match across two payloads belongs to neither, and only a real escape hides text.
            if escape_start >= 0 and _starts_escape(payloads[index], escape_start):
                hidden.add(index)

        selections: dict[int, Selection] = dict.fromkeys(range(len(payloads)), self.always) if self.always else {}
        for index, rules in rules_by_payload.items():
            selections[index] = tuple(sorted(rules))
        for index in hidden:
            selections[index] = self._all_rules
        return selections


def _compile(needles: list[bytes]) -> hyperscan.Database:
    """Compile the needles (ASCII case-insensitive) and the hiding escapes (exact) into one vectored database."""
    expressions = [*needles, *_HIDING_ESCAPES]
    flags = [hyperscan.HS_FLAG_CASELESS] * len(needles) + [0] * len(_HIDING_ESCAPES)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_VECTORED)
    database.compile(
        expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags, literal=True
    )
    return database


def _collect_hit(pattern_id: int, start: int, end: int, flags: int, hits: list[tuple[int, int]]) -> None:
    # Returning a true value would stop the scan.
    hits.append((pattern_id, end))


def _is_searchable(text: str) -> bool:
    """Return whether ``text`` can be searched in raw bytes (see the module docstring)."""
    return bool(text) and not _NUMBER_TEXT.fullmatch(text) and not _CONTROL.search(text)


def _byte_forms(text: str) -> set[bytes]:
    """Return the UTF-8 bytes of ``text`` as written plainly and inside a JSON string."""
    plain = text.encode("utf-8")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8")
    return {plain, escaped}


def _starts_escape(payload: bytes, position: int) -> bool:
    """Return whether the backslash at ``position`` starts an escape.

    It does when an even number of backslashes precede it, so that an escaped
    backslash followed by 'u' (as in "C:\\\\users") does not count.
    """
    run_start = position
    while run_start > 0 and payload[run_start - 1] == _BACKSLASH:
        run_start -= 1
    return (position - run_start) % 2 == 0
