"""Translate Lucene regular expressions, as EQL ``regex`` and ``regex~`` use them, into Python ``re``.

Elasticsearch evaluates ``field regex "p"`` as a ``regexp`` query: a Lucene ``RegExp`` that must match the
whole value. EQL builds the query with ``regexpQuery(field, p)`` and, for ``regex~``, adds
``caseInsensitive(true)``, which sets Lucene's ``ASCII_CASE_INSENSITIVE`` match flag. The syntax flags are
the query default, ``RegexpFlag.ALL``: ``RegExp.ALL`` in Elasticsearch 8.x, ``RegExp.ALL |
DEPRECATED_COMPLEMENT`` in 9.x. So every optional operator is enabled.

Sources checked: ``org.apache.lucene.util.automaton.RegExp`` of Lucene 9 (the parser with the predefined
classes ``\\d \\s \\w``, bundled with Elasticsearch 8.x) and of Lucene 10, Elasticsearch's ``RegexpFlag``
and the EQL ``RegexQuery``. The parser in ``parser.py`` mirrors the Lucene 9 grammar, and its results were
compared with lucene-core 9.12.0 on generated patterns and values. Lucene's rules, quirks included:

- Operators are ``| & ? * + {n} {n,} {n,m} ~ ( ) [ ] . # @ " < >`` and ``\\``. A repetition operator, ``)``,
  ``|`` or ``&`` in the place of an operand is a literal character (``*a`` matches ``*a``), and ``]``, ``}``
  and ``>`` outside their constructs are literals. ``a|`` and ``(a|)`` are invalid.
- ``\\`` makes the next character literal. ``\\d \\D \\s \\S \\w \\W`` are the ASCII classes ``[0-9]``,
  ``[ \\t\\n\\r]`` and ``[a-zA-Z_0-9]`` and their complements. A backslash before any other ASCII letter is
  invalid, so ``\\n`` and ``\\t`` are errors rather than control characters.
- ``"..."`` is a literal string without escapes. ``.`` is any code point, newlines included. ``@`` is any
  string and ``#`` matches nothing. ``<n-m>`` is a decimal interval. When ``n`` and ``m`` are written with
  the same number of characters, the value has exactly that many digits (zero-padded). Otherwise any
  number of leading zeros is accepted.
- In a class only ``\\``, ``-`` after a character, ``^`` first and ``]`` after the first member are special.
  ``[]a]`` lists ``]`` and ``a``, and ``[a-]`` is an invalid range from ``a`` to ``]``.
- ``regex~`` folds literal characters and characters listed singly in a class. Ranges and the predefined
  classes are not folded, and only ASCII letters fold (Lucene 9 leaves code points above 128 alone).
- Lucene 9 builds some empty languages oddly. ``*``, ``+`` and ``{n,}`` of a part that matches nothing
  also match nothing, so ``#*`` rejects the empty string. Under ``regex~``, an empty ``()`` or ``""`` that
  is not joined to a neighbouring literal matches nothing.

Decisions:

- ``~`` (complement) and ``&`` (intersection) have no equivalent in Python ``re``. They raise
  :class:`LuceneRegexError` with ``unsupported=True`` and the advice to escape them if they were meant
  literally. A named automaton ``<name>`` raises an ordinary error because Elasticsearch provides none.
- ``{n,m}`` with ``n > m`` raises, as Lucene 9.12 and 10 do. Older Lucene 9 parsers do not check it.
- With ``unicode_case=True``, ``regex~`` folds by simple Unicode case folding per code point, the behaviour
  of the releases that fold Unicode. Ranges still are not folded.

NOTE: Python's ``re`` backtracks where Lucene runs a deterministic automaton, so nested repetitions such as
``(a*)*b`` can take time exponential in the value length. Patterns in Elastic's prebuilt rules are simple.
NOTE: Elasticsearch also rejects patterns longer than ``index.max_regex_length`` (1000 by default) and
patterns whose automaton exceeds ``max_determinized_states`` (10000 by default). This package checks neither.
"""

from __future__ import annotations

import re

from stream.eql.lucene_regex.codepoints import _CaseVariants, _ascii_variants, _unicode_variants
from stream.eql.lucene_regex.emitter import _emit
from stream.eql.lucene_regex.parser import LuceneRegexError, _Parser
from stream.eql.lucene_regex.substrings import _facts
from stream.eql.text import ANY_BUT_JAVA_LINE_BREAK

__all__ = [
    "LuceneRegexError",
    "compile_lucene_regex",
    "necessary_substrings",
    "translate_lucene_regex",
]


def translate_lucene_regex(
    pattern: str, *, case_insensitive: bool = False, unicode_case: bool = False, cross_lines: bool = True
) -> str:
    """Translate the Lucene pattern into Python regex source for ``re.fullmatch``.

    The source starts with ``(?s:`` so that ``.`` also matches newlines, and contains no other flag.
    With ``cross_lines`` false, ``.`` and ``@`` match no line terminator of Java's regular expressions
    (``\\n``, ``\\r``, U+0085, U+2028, U+2029) instead, as on a function result in Elasticsearch.
    ``case_insensitive`` gives ``regex~`` semantics as :func:`compile_lucene_regex` describes, and
    ``unicode_case`` has an effect only together with it. Raises :class:`LuceneRegexError` for an invalid pattern or an
    unsupported operator.
    """
    tree = _Parser(pattern).parse()
    variants: _CaseVariants | None = None
    if case_insensitive:
        variants = _unicode_variants if unicode_case else _ascii_variants
    source, _ = _emit(tree, variants, "." if cross_lines else ANY_BUT_JAVA_LINE_BREAK)
    return f"(?s:{source})"


def compile_lucene_regex(
    pattern: str, *, case_insensitive: bool = False, unicode_case: bool = False, cross_lines: bool = True
) -> re.Pattern[str]:
    """Compile the Lucene pattern into a Python pattern that matches the same strings with ``fullmatch``.

    With ``case_insensitive=True`` (``regex~``), ASCII letters written as literal characters or listed
    singly in a class match either case. Ranges and the classes ``\\d \\s \\w`` are not folded. Non-ASCII
    letters never fold unless ``unicode_case=True``, which then applies simple case folding per code point
    to the same characters. ``cross_lines`` is described at :func:`translate_lucene_regex`. Raises
    :class:`LuceneRegexError` for an invalid pattern or an unsupported operator.
    """
    source = translate_lucene_regex(
        pattern, case_insensitive=case_insensitive, unicode_case=unicode_case, cross_lines=cross_lines
    )
    return re.compile(source)


def necessary_substrings(pattern: str) -> frozenset[str] | None:
    """Return literal substrings, one of which every string matched by the Lucene pattern contains.

    The substrings keep the case written in the pattern. For ``regex~`` the caller must fold both the
    substrings and the value with the same fold that ``regex~`` uses. An empty set means the pattern
    matches no string at all. Returns ``None`` when no useful set can be derived (for example for ``.*``).
    Raises :class:`LuceneRegexError` for an invalid pattern or an unsupported operator.
    """
    return _facts(_Parser(pattern).parse()).required
