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
  apply, and is harmless there). A value a writer schema stores otherwise,
  as an enum symbol's number, does not appear in the bytes. Such a record
  cannot alert either, because the decoder resolves it to the shipped reader
  schema, whose text fields are strings, and an enum does not resolve to a
  string.

The search runs in Hyperscan over a whole batch of payloads at once, joined
into one buffer. On the benchmark machine, copying a batch of 2 KB events and
scanning it in block mode took 1.0 microseconds per event with the shipped
rule. Vectored mode over the separate payloads took 1.15. A rule without
necessary literals can match any message: it is selected for every message,
so no message is skipped outright. Each occurrence of a literal costs a call
into Python, so literals found in nearly every message are dropped from the
search after a sample of the stream (see :class:`Prefilter`).
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate, repeat
from operator import sub
from typing import TYPE_CHECKING

import hyperscan

if TYPE_CHECKING:
    from stream.eql import CompiledQuery

logger = logging.getLogger(__name__)

# How many scanned messages the prefilter counts literal occurrences over, and the share of
# them a literal must occur in to be dropped from the search (see Prefilter).
DEFAULT_SAMPLE_SIZE = 10_000
UBIQUITOUS_SHARE = 0.9
# Once some rule is evaluated on every message, every message is decoded anyway, and a literal
# only chooses which other rules to evaluate. Then a literal found in this share of the messages
# costs more in Hyperscan callbacks than the rule evaluations it saves. With all 488 of Elastic's
# process rules, scan, decode and matching took 80 us per message at 0.9 (offline, 20,000
# generated events), and 70 at 0.3, 68 at 0.2 and 75 at 0.1.
COMMON_SHARE_WHEN_ALL_DECODED = 0.3
# How many of the sample's first messages the literals of every rule's other sets are counted in.
CHOICE_SAMPLE_SIZE = 2_000

_NUMBER_TEXT = re.compile(r"[0-9.eE+-]+")
_CONTROL = re.compile(r"[\x00-\x1f]")

_BACKSLASH = 0x5C
# The two escapes that can hide a literal. JSON has no upper-case \U escape.
_HIDING_ESCAPES = (b"\\u", b"\\/")

Selection = tuple[int, ...]


class Prefilter:
    """Decide from raw bytes which rules may match a message.

    Built from the necessary-literal sets of the loaded rules, in rule order
    (``None`` for a rule without such a set). Every rule without a searchable
    set is selected for every message (it is in ``always``), so with such a
    rule (``enabled`` is false) no message is skipped outright, but the other
    rules are still selected by their literals.

    A literal that occurs in nearly every message selects nothing, yet each
    of its occurrences costs a call into Python: a space or a ``.`` occurs
    dozens of times in a process event. So the prefilter counts, over the
    first ``sample_size`` messages it scans, in how many messages each literal
    occurs. A literal found in at least 90 % of them is dropped from the
    search, and the rules that have it join ``always``. When some rule is
    then in ``always``, every message is decoded anyway, and the threshold
    is 30 %. That keeps the selection sound (those rules are evaluated on
    every decoded message), and it happens once: a literal that becomes
    common later stays searched.

    A rule may have other sets (``alternatives``, one per term of its
    top-level ``and``), any of which every matching event contains too. The
    first 2,000 messages of the sample also count the literals of every set,
    and at the end of the sample each rule keeps the set found in the fewest
    of them: ``host.os.type == "linux"`` gives ``linux``, which a stream of
    Windows events seldom contains, while the rule's own set may be a ``.``
    found in every message.
    """

    def __init__(
        self,
        literal_sets: Iterable[frozenset[str] | None],
        *,
        alternatives: Iterable[Sequence[frozenset[str]]] | None = None,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
    ) -> None:
        self._literal_sets = list(literal_sets)
        self.rule_count = len(self._literal_sets)
        self._all_rules: Selection = tuple(range(self.rule_count))
        # Per rule, the searchable sets the sample may choose from, the rule's own set first.
        self._choices = _searchable_choices(self._literal_sets, alternatives)
        self._sample_size = sample_size
        self._sampled_messages = 0
        self._messages_by_pattern: Counter[int] = Counter()
        self._build_search(frozenset(self._unsearchable_rules()))

        # The choices are counted apart, each literal once per message, on the first messages of the
        # sample only. Literals such as "windows" occur many times in every event, and each
        # occurrence in the main search would cost a call into Python.
        self._choice_needles = sorted(
            {needle for choices in self._choices for literals in choices for text in literals for needle in _byte_forms(text)}
        )
        self._choice_database = _compile(self._choice_needles, once_per_scan=True) if self._choice_needles else None
        self._choice_sample_size = min(sample_size, CHOICE_SAMPLE_SIZE)
        self._choice_sampled = 0
        self._messages_by_choice_needle: Counter[bytes] = Counter()

    @classmethod
    def for_queries(cls, queries: Iterable[CompiledQuery], *, sample_size: int = DEFAULT_SAMPLE_SIZE) -> Prefilter:
        """Build the prefilter of compiled queries, in rule order, with their alternative literal sets."""
        queries = list(queries)
        return cls(
            [query.necessary_literals for query in queries],
            alternatives=[query.literal_alternatives for query in queries],
            sample_size=sample_size,
        )

    def _unsearchable_rules(self) -> list[int]:
        return [
            index
            for index, literals in enumerate(self._literal_sets)
            if literals is None or not all(_is_searchable(text) for text in literals)
        ]

    @property
    def _sampling(self) -> bool:
        return self._sampled_messages < self._sample_size

    def _build_search(self, always: frozenset[int]) -> None:
        """Select the rules in ``always`` for every message and compile the literals of the others."""
        self.always: Selection = tuple(sorted(always))
        self.enabled = bool(self._literal_sets) and not self.always

        rules_by_needle = self._rules_by_needle(always)

        # Pattern ids 0 to n-1 are the needles, and the hiding escapes come after them.
        self._needles = list(rules_by_needle)
        self._rules_by_pattern: list[frozenset[int]] = [frozenset(rules) for rules in rules_by_needle.values()]
        self._first_escape_id = len(self._rules_by_pattern)
        self._database = _compile(self._needles) if self._needles else None

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
            selections = dict.fromkeys(range(len(payloads)), self.always) if self.always else {}
            literal_hits: set[tuple[int, int]] = set()
        else:
            hits: list[int] = []
            self._database.scan(b"".join(payloads), match_event_handler=_collect_hit, context=hits)
            literal_hits, escape_hits = self._locate_hits(payloads, hits) if hits else (set(), [])
            selections = self._selections(payloads, literal_hits, escape_hits)

        # After the selections, because the end of the sample renumbers the patterns.
        if self._sampling:
            self._count_choice_messages(payloads)
            self._count_literal_messages(len(payloads), literal_hits)
        return selections

    def _locate_hits(self, payloads: Sequence[bytes], hits: list[int]) -> tuple[set[tuple[int, int]], list[tuple[int, int]]]:
        """Split ``hits`` (pattern id and end offset, in turn) into literal and escape hits, by payload.

        Literal hits come back as distinct (pattern id, payload position)
        pairs, because a literal may occur many times in one payload. Escape
        hits come back as (payload position, end offset within that payload).
        The passes over all hits run in C, and Python code runs once per pair.
        """
        # A hit's end offset counts across the payloads laid end to end.
        ends = list(accumulate(map(len, payloads)))
        pattern_ids = hits[0::2]
        hit_ends = hits[1::2]
        indexes = list(map(bisect_right, repeat(ends), map(sub, hit_ends, repeat(1))))
        literal_hits = set(zip(pattern_ids, indexes))
        if max(pattern_ids) < self._first_escape_id:
            return literal_hits, []

        escape_hits = []
        for pattern_id, index, end in zip(pattern_ids, indexes, hit_ends):
            if pattern_id >= self._first_escape_id:
                literal_hits.discard((pattern_id, index))
                escape_hits.append((index, end - (ends[index - 1] if index else 0)))
        return literal_hits, escape_hits

    def _selections(
        self, payloads: Sequence[bytes], literal_hits: set[tuple[int, int]], escape_hits: list[tuple[int, int]]
    ) -> dict[int, Selection]:
        rules_by_payload: dict[int, set[int]] = {}
        for pattern_id, index in literal_hits:
            rules_by_payload.setdefault(index, set(self.always)).update(self._rules_by_pattern[pattern_id])

        selections: dict[int, Selection] = dict.fromkeys(range(len(payloads)), self.always) if self.always else {}
        for index, rules in rules_by_payload.items():
            selections[index] = tuple(sorted(rules))
        for index in _payloads_with_hiding_escapes(payloads, escape_hits):
            selections[index] = self._all_rules
        return selections

    def _count_literal_messages(self, message_count: int, literal_hits: set[tuple[int, int]]) -> None:
        """Count the messages each literal occurs in, and choose the literals to search at the end of the sample."""
        self._messages_by_pattern.update(pattern_id for pattern_id, _ in literal_hits)
        self._sampled_messages += message_count
        if not self._sampling:
            self._end_sample()

    def _count_choice_messages(self, payloads: Sequence[bytes]) -> None:
        """Count, in each payload up to the choice sample's size, which literals of the rules' choices it contains."""
        if self._choice_database is None:
            return
        remaining = self._choice_sample_size - self._choice_sampled
        found: list[int] = []
        for payload in payloads[:remaining]:
            self._choice_database.scan(payload, match_event_handler=_collect_pattern, context=found)
        self._messages_by_choice_needle.update(self._choice_needles[pattern_id] for pattern_id in found)
        self._choice_sampled += min(remaining, len(payloads))

    def _end_sample(self) -> None:
        """Give each rule its rarest set, then drop the ubiquitous literals, and compile the search once more."""
        sampled = self._sampled_messages
        messages_by_needle = Counter({self._needles[pattern_id]: count for pattern_id, count in self._messages_by_pattern.items()})
        self._messages_by_pattern.clear()
        changed = self._choose_rarest_sets()
        # A set chosen in place of the rule's own set was not in the main search, so its share comes from
        # the choice sample, scaled to the whole sample.
        scale = sampled / max(self._choice_sampled, 1)
        for needle, count in self._messages_by_choice_needle.items():
            messages_by_needle.setdefault(needle, round(count * scale))
        self._choice_database = None

        unsearchable = frozenset(self._unsearchable_rules())
        rules_by_needle = self._rules_by_needle(unsearchable)
        ubiquitous = _needles_in_share(rules_by_needle, messages_by_needle, UBIQUITOUS_SHARE * sampled)
        demoted = unsearchable.union(*(rules_by_needle[needle] for needle in ubiquitous))
        if demoted:
            # Every message is decoded from now on, so common literals are not worth their search either.
            ubiquitous = _needles_in_share(rules_by_needle, messages_by_needle, COMMON_SHARE_WHEN_ALL_DECODED * sampled)
            demoted = unsearchable.union(*(rules_by_needle[needle] for needle in ubiquitous))
        self._build_search(demoted)

        if changed:
            logger.info(
                "prefilter: %d rules are now selected by the literals of another term of their query, which occur "
                "in fewer of the first %d messages",
                changed, self._choice_sampled,
            )
        if ubiquitous:
            logger.info(
                "prefilter: %d literals occur in at least %.0f%% of the first %d messages (%s), so the %d rules "
                "that have them are now evaluated on every decoded message, and %d rules are still selected by literals",
                len(ubiquitous), COMMON_SHARE_WHEN_ALL_DECODED * 100 if self.always else UBIQUITOUS_SHARE * 100,
                sampled, _describe_needles(ubiquitous), len(demoted - unsearchable), self.rule_count - len(self.always),
            )

    def _choose_rarest_sets(self) -> int:
        """Give each rule the set of its choices whose literals occur in the fewest messages of the choice sample; return how many changed.

        A set's count is the sum over its literals' byte forms, an upper
        bound of the messages that contain any of them. A tie keeps the
        earlier choice, so the rule's own set wins it.
        """
        messages_by_needle = self._messages_by_choice_needle
        changed = 0
        for index, choices in enumerate(self._choices):
            if not choices:
                continue
            rarest = min(choices, key=lambda literals: sum(messages_by_needle[needle] for text in literals for needle in _byte_forms(text)))
            if rarest != self._literal_sets[index]:
                self._literal_sets[index] = rarest
                changed += 1
        return changed

    def _rules_by_needle(self, excluded: frozenset[int]) -> dict[bytes, set[int]]:
        """Return each needle of the rules not in ``excluded``, with the rules whose set contains it."""
        rules_by_needle: dict[bytes, set[int]] = {}
        for index, literals in enumerate(self._literal_sets):
            if index in excluded or literals is None:
                continue
            for text in literals:
                for needle in _byte_forms(text):
                    rules_by_needle.setdefault(needle, set()).add(index)
        return rules_by_needle


def _needles_in_share(rules_by_needle: dict[bytes, set[int]], messages_by_needle: Counter[bytes], threshold: float) -> list[bytes]:
    """Return the needles of ``rules_by_needle`` found in at least ``threshold`` sampled messages, sorted."""
    return sorted(needle for needle in rules_by_needle if messages_by_needle[needle] >= threshold)


def _searchable_choices(
    literal_sets: Sequence[frozenset[str] | None], alternatives: Iterable[Sequence[frozenset[str]]] | None
) -> list[tuple[frozenset[str], ...]]:
    """Return, per rule, its own set and its alternatives that can be searched, each once, or nothing without alternatives."""
    if alternatives is None:
        return [() for _ in literal_sets]
    choices = []
    for literals, others in zip(literal_sets, alternatives, strict=True):
        candidates = [literals, *others] if literals is not None else list(others)
        searchable = [item for item in candidates if item and all(_is_searchable(text) for text in item)]
        unique = tuple(dict.fromkeys(searchable))
        choices.append(unique if len(unique) > 1 or (unique and unique[0] != literals) else ())
    return choices


def _payloads_with_hiding_escapes(payloads: Sequence[bytes], escape_hits: list[tuple[int, int]]) -> set[int]:
    """Return the positions of the payloads in which an escape hit starts a real JSON escape."""
    hidden = set()
    for index, end in escape_hits:
        escape_start = end - 2
        # A match across two payloads belongs to neither, and only a real escape hides text.
        if escape_start >= 0 and _starts_escape(payloads[index], escape_start):
            hidden.add(index)
    return hidden


def _describe_needles(needles: list[bytes], limit: int = 8) -> str:
    listed = ", ".join(repr(needle.decode("utf-8", "replace")) for needle in needles[:limit])
    return listed + (", ..." if len(needles) > limit else "")


def _compile(needles: list[bytes], *, once_per_scan: bool = False) -> hyperscan.Database:
    """Compile the needles (ASCII case-insensitive) into one block-mode database.

    By default the hiding escapes (exact) follow the needles, and every
    occurrence is reported. With ``once_per_scan``, only the needles are
    compiled, with Hyperscan's single-match flag, which reports each needle
    at most once per scan.
    """
    if once_per_scan:
        expressions = list(needles)
        flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(needles)
    else:
        expressions = [*needles, *_HIDING_ESCAPES]
        flags = [hyperscan.HS_FLAG_CASELESS] * len(needles) + [0] * len(_HIDING_ESCAPES)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags, literal=True
    )
    return database


def _collect_pattern(pattern_id: int, start: int, end: int, flags: int, found: list[int]) -> None:
    found.append(pattern_id)


def _collect_hit(pattern_id: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    # A flat list saves a tuple per hit. Returning a true value would stop the scan.
    hits.append(pattern_id)
    hits.append(end)


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
