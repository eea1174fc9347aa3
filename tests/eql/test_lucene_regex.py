"""Tests of the Lucene regular expression translator behind EQL ``regex`` and ``regex~``.

Expected results follow Lucene 9's ``RegExp`` as Elasticsearch 8.x runs it: syntax flags ``ALL`` and, for
``regex~``, the ``ASCII_CASE_INSENSITIVE`` match flag. Several rows pin down Lucene quirks that differ from
Perl-style regular expressions; they were checked against lucene-core 9.12.0.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.eql.lucene_regex import (
    LuceneRegexError,
    compile_lucene_regex,
    necessary_substrings,
    translate_lucene_regex,
)

KELVIN = "\u212a"
LONG_S = "\u017f"

# (pattern, value, case_insensitive, expected)
MATCH_CASES = [
    # Whole-value matching and regex~ folding of literal characters.
    pytest.param("cmd\\.(exe|com)", "cmd.com", False, True, id="alternation-in-group"),
    pytest.param("cmd", "cmd.exe", False, False, id="anchored-at-both-ends"),
    pytest.param("CMD.*", "cmd.exe", True, True, id="ci-literal-folds"),
    pytest.param("CMD.*", "cmd.exe", False, False, id="cs-literal-exact"),
    pytest.param("a\\.exe", "A.exe", True, True, id="ci-escaped-dot-literal"),
    pytest.param("\"CMD\"\\.exe", "cmd.EXE", True, True, id="ci-quoted-string-folds"),
    # Ranges are not folded by regex~, characters listed singly are.
    pytest.param("[a-z]+\\.exe", "A.exe", True, False, id="ci-range-not-folded"),
    pytest.param("[A-Z0-9]+", "abc", True, False, id="ci-upper-range-not-folded"),
    pytest.param("[abc]+", "ABC", True, True, id="ci-listed-characters-fold"),
    pytest.param("[^abc]", "B", True, False, id="ci-negated-listed-excludes-both-cases"),
    pytest.param("[^a-z]", "B", True, True, id="ci-negated-range-keeps-other-case"),
    pytest.param("\\w+", "abc_09", True, True, id="ci-word-class"),
    # Folding is ASCII only unless unicode_case is requested.
    pytest.param("É\\.exe", "é.exe", True, False, id="ci-non-ascii-not-folded"),
    pytest.param("CAFÉ\\.EXE", "cafÉ.exe", True, True, id="ci-ascii-folds-non-ascii-equal"),
    pytest.param("k", KELVIN, True, False, id="ci-kelvin-sign-not-folded"),
    pytest.param("s", LONG_S, True, False, id="ci-long-s-not-folded"),
    # '.', '@' and '#'.
    pytest.param("a.b", "a\nb", False, True, id="dot-matches-newline"),
    pytest.param(".", "\U0001f600", False, True, id="dot-matches-astral-code-point"),
    pytest.param("..", "\U0001f600", False, False, id="dot-is-one-code-point"),
    pytest.param("a@", "a\nxyz", False, True, id="anystring-operator"),
    pytest.param("#", "", False, False, id="empty-language"),
    pytest.param("a|#", "a", False, True, id="empty-language-branch"),
    pytest.param("#*", "", False, False, id="repeated-empty-language-lucene9"),
    pytest.param("#?", "", False, True, id="optional-empty-language"),
    # Python meanings must not leak in.
    pytest.param("^a$", "a", False, False, id="caret-dollar-are-literals"),
    pytest.param("^a$", "^a$", False, True, id="caret-dollar-match-themselves"),
    pytest.param("a.*?b", "axxb", False, True, id="star-question-is-optional-star"),
    pytest.param("\\d+", "123", False, True, id="digit-class"),
    pytest.param("\\d", "\u0663", False, False, id="digit-class-ascii-only"),
    pytest.param("\\s", "\t", False, True, id="space-class-tab"),
    pytest.param("\\s", "\f", False, False, id="space-class-excludes-form-feed"),
    pytest.param("\\w", "é", False, False, id="word-class-ascii-only"),
    pytest.param("\\W", "é", False, True, id="non-word-class"),
    pytest.param("\\\\", "\\", False, True, id="escaped-backslash"),
    pytest.param("\\\"", '"', False, True, id="escaped-quote"),
    # Operators in the place of an operand are literal characters.
    pytest.param("*a", "*a", False, True, id="leading-star-literal"),
    pytest.param("a|+", "+", False, True, id="plus-after-bar-literal"),
    pytest.param(")", ")", False, True, id="lone-close-paren-literal"),
    pytest.param("a]}>", "a]}>", False, True, id="closing-brackets-literal"),
    pytest.param("\"a*(b\"", "a*(b", False, True, id="quoted-operators-literal"),
    # Repetition.
    pytest.param("a{2}", "aa", False, True, id="repeat-exact"),
    pytest.param("a{2}", "aaa", False, False, id="repeat-exact-too-many"),
    pytest.param("a{2,}", "aaaa", False, True, id="repeat-min"),
    pytest.param("a{1,2}", "aaa", False, False, id="repeat-range-too-many"),
    pytest.param("a{0}", "", False, True, id="repeat-zero"),
    pytest.param("(ab)+", "ababab", False, True, id="repeat-group"),
    # Character classes.
    pytest.param("[]a]+", "]a]", False, True, id="class-leading-bracket-literal"),
    pytest.param("[-a]+", "-a", False, True, id="class-leading-dash-literal"),
    pytest.param("[a\\-z]", "-", False, True, id="class-escaped-dash"),
    pytest.param("[a\\-z]", "b", False, False, id="class-escaped-dash-no-range"),
    pytest.param("[\\d_]+", "1_2", False, True, id="class-with-predefined"),
    pytest.param("[\\.-z]", "a", False, True, id="class-escaped-range-start"),
    pytest.param("[.(]+", ".((", False, True, id="class-operators-literal"),
    # Numeric intervals.
    pytest.param("<1-12>", "007", False, True, id="interval-leading-zeros"),
    pytest.param("<1-12>", "13", False, False, id="interval-above"),
    pytest.param("<01-12>", "7", False, False, id="interval-fixed-width-short"),
    pytest.param("<01-12>", "07", False, True, id="interval-fixed-width"),
    pytest.param("<12-1>", "5", False, True, id="interval-bounds-swapped"),
    pytest.param("<0-5>", "", False, False, id="interval-needs-a-digit"),
    # Lucene 9 builds a case-insensitive empty string as the empty language.
    pytest.param("()", "", False, True, id="empty-group"),
    pytest.param("()", "", True, False, id="ci-empty-group-lucene9"),
    pytest.param("a()", "A", True, True, id="ci-empty-group-merged"),
    # Patterns from Elastic's prebuilt rules.
    pytest.param("[24][0-9]{3}", "4755", False, True, id="rule-setuid-mode"),
    pytest.param("[24][0-9]{3}", "755", False, False, id="rule-setuid-mode-short"),
    pytest.param(
        ".*[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}.*",
        "curl http://10.0.0.1/x",
        False,
        True,
        id="rule-ipv4-in-command-line",
    ),
    pytest.param("/var/run/\\w+\\.(pid|lock|reboot)", "/VAR/run/abc.PID", True, True, id="rule-var-run"),
    pytest.param("php?[0-9]?\\.?[0-9]{0,2}", "PHP7.4", True, True, id="rule-php-version"),
    pytest.param("php?[0-9]?\\.?[0-9]{0,2}", "ph", True, True, id="rule-php-optional-p"),
    pytest.param("-[^-]*[uz][^-]*", "-xU", True, True, id="rule-listed-ci"),
    pytest.param(
        "[C-Z]:\\\\Windows\\\\(System32|SysWOW64)\\\\[a-zA-Z0-9\\-\\_\\.]+\\.exe",
        "C:\\WINDOWS\\system32\\cmd.exe",
        True,
        True,
        id="rule-windows-path-ci",
    ),
    pytest.param(
        "[C-Z]:\\\\Windows\\\\(System32|SysWOW64)\\\\[a-zA-Z0-9\\-\\_\\.]+\\.exe",
        "c:\\Windows\\System32\\cmd.exe",
        True,
        False,
        id="rule-windows-drive-range-not-folded",
    ),
    pytest.param("%systemroot%\\\\[a-z0-9]+\\.exe", "%SYSTEMROOT%\\abc.exe", True, True, id="rule-systemroot"),
    pytest.param("%systemroot%\\\\[a-z0-9]+\\.exe", "%systemroot%\\ABC.exe", True, False, id="rule-sysroot-range"),
    pytest.param("[0-9]{15}([1-9a-f]).*", "123456789012345Ax", True, False, id="rule-hex-range-not-folded"),
    pytest.param("(azure|sharp|blood)(hound)/.*", "AzureHound/1.0", True, True, id="rule-user-agent"),
    pytest.param('\\".*\\.exe[^\\"].*', '"a.exe" b.exe c', True, True, id="rule-quoted-exe"),
    pytest.param('\\".*\\.exe[^\\"].*', '"a.exe"', True, False, id="rule-quoted-exe-no-args"),
    pytest.param(".*[ʰ-˿ᴬ-ᶻ]+.*", "cmdᵃ.exe", False, True, id="rule-modifier-letters"),
    pytest.param(
        "arn:aws:s3:::[^/]+/.*?(how|decrypt|restor).*",
        "ARN:AWS:S3:::bucket/x/HOW_TO.txt",
        True,
        True,
        id="rule-ransom-note",
    ),
]


@pytest.mark.parametrize(("pattern", "value", "case_insensitive", "expected"), MATCH_CASES)
def test_compile_lucene_regex_matches_like_lucene(
    pattern: str, value: str, case_insensitive: bool, expected: bool
) -> None:
    compiled = compile_lucene_regex(pattern, case_insensitive=case_insensitive)

    assert bool(compiled.fullmatch(value)) is expected


UNICODE_CASES = [
    pytest.param("k", KELVIN, True, id="kelvin-sign"),
    pytest.param("S", LONG_S, True, id="long-s"),
    pytest.param("É\\.exe", "é.exe", True, id="e-acute"),
    pytest.param("[é]", "É", True, id="listed-e-acute"),
    pytest.param("ß", "\u1e9e", True, id="sharp-s-capital"),
    pytest.param("STRASSE", "straße", False, id="no-full-folding"),
    pytest.param("i", "\u0130", False, id="dotted-capital-i-not-simple-fold"),
    pytest.param("[à-ä]", "À", False, id="range-not-folded"),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), UNICODE_CASES)
def test_compile_lucene_regex_unicode_case(pattern: str, value: str, expected: bool) -> None:
    compiled = compile_lucene_regex(pattern, case_insensitive=True, unicode_case=True)

    assert bool(compiled.fullmatch(value)) is expected


def test_unicode_case_without_case_insensitive_is_exact() -> None:
    compiled = compile_lucene_regex("k", unicode_case=True)

    assert compiled.fullmatch("K") is None


# (pattern, position, words expected in the message)
ERROR_CASES = [
    pytest.param("a{", 2, "repetition", id="brace-without-number"),
    pytest.param("a{,3}", 2, "number", id="brace-without-minimum"),
    pytest.param("a{2", 3, "'}'", id="brace-not-closed"),
    pytest.param("a{3,1}", 1, "minimum is greater", id="repeat-bounds-reversed"),
    pytest.param("a{2147483648}", 2, "exceeds", id="repeat-count-overflow"),
    pytest.param("[ab", 0, "unclosed character class", id="class-not-closed"),
    pytest.param("[]", 0, "unclosed character class", id="class-empty"),
    pytest.param("[z-a]", 1, "invalid range", id="range-reversed"),
    pytest.param("[a-]", 1, "\\-", id="range-to-closing-bracket"),
    pytest.param("(ab", 0, "unclosed group", id="group-not-closed"),
    pytest.param("(a|)", 0, "unclosed group", id="group-empty-branch"),
    pytest.param("ab)", 2, "unbalanced ')'", id="close-paren-unbalanced"),
    pytest.param("a|", 2, "operand is missing", id="trailing-bar"),
    pytest.param("ab\\", 2, "trailing backslash", id="trailing-backslash"),
    pytest.param("\\n", 0, "invalid escape \\n", id="escape-newline-letter"),
    pytest.param("a\\b", 1, "invalid escape \\b", id="escape-word-boundary"),
    pytest.param('"abc', 0, "unclosed", id="quote-not-closed"),
    pytest.param("<abc>", 0, "named automaton", id="named-automaton"),
    pytest.param("<1-2", 0, "'>'", id="interval-not-closed"),
    pytest.param("<1->", 0, "numeric interval", id="interval-missing-maximum"),
    pytest.param("<1-2-3>", 0, "numeric interval", id="interval-two-dashes"),
    pytest.param("<1-2147483648>", 0, "numeric interval", id="interval-overflow"),
]


@pytest.mark.parametrize(("pattern", "position", "words"), ERROR_CASES)
def test_translate_lucene_regex_rejects_invalid(pattern: str, position: int, words: str) -> None:
    with pytest.raises(LuceneRegexError) as caught:
        translate_lucene_regex(pattern)

    assert caught.value.position == position
    assert words in caught.value.message
    assert caught.value.pattern == pattern
    assert caught.value.unsupported is False
    assert repr(pattern) in str(caught.value)


UNSUPPORTED_CASES = [
    pytest.param("~a", 0, "\\~", id="complement"),
    pytest.param("a[b]~", 4, "\\~", id="complement-after-class"),
    pytest.param("a&b", 1, "\\&", id="intersection"),
    pytest.param("(.*a.*)&(.*b.*)", 7, "\\&", id="intersection-of-groups"),
]


@pytest.mark.parametrize(("pattern", "position", "escape"), UNSUPPORTED_CASES)
def test_translate_lucene_regex_unsupported_operator(pattern: str, position: int, escape: str) -> None:
    with pytest.raises(LuceneRegexError) as caught:
        translate_lucene_regex(pattern)

    assert caught.value.unsupported is True
    assert caught.value.position == position
    assert "not supported by eql-stream" in caught.value.message
    assert escape in caught.value.message


def test_leading_ampersand_is_literal() -> None:
    compiled = compile_lucene_regex("&a")

    assert compiled.fullmatch("&a") is not None


@pytest.mark.parametrize(
    "pattern",
    ["\\d\\s\\w\\D\\S\\W", "^$", "a.*b", "[\\w\\s]+", "<1-300>", "\"\\b\"", "[^\\d]"],
    ids=["predefined", "anchors", "dot", "class", "interval", "quoted-backslash", "negated"],
)
def test_translation_has_no_python_shorthand(pattern: str) -> None:
    source = translate_lucene_regex(pattern, case_insensitive=True)

    assert source.startswith("(?s:")
    # A backslash preceded by an even number of backslashes starts an escape sequence.
    assert re.search(r"(?<!\\)(?:\\\\)*\\[dDsSwWbBAZ]", source) is None
    assert re.search(r"(?<!\\)(?:\\\\)*[\^$]", source) is None


# (pattern, expected set or None)
SUBSTRING_CASES = [
    pytest.param("cmd\\.(exe|com)", {"cmd.exe", "cmd.com"}, id="alternation-expanded"),
    pytest.param("[a-z]+\\.exe", {".exe"}, id="literal-after-class"),
    pytest.param(".*\\\\(powershell|pwsh)\\.exe", {"\\powershell.exe", "\\pwsh.exe"}, id="suffix-choice"),
    pytest.param(".*", None, id="any"),
    pytest.param("@", None, id="anystring"),
    pytest.param("a?", None, id="optional"),
    pytest.param("(abc|.*)", None, id="branch-without-literal"),
    pytest.param("(xyz)+", {"xyz"}, id="repeat-at-least-once"),
    pytest.param("x(abc){2}y", {"xabcabcy"}, id="repeat-exact-count"),
    pytest.param("#", set(), id="empty-language"),
    pytest.param("\"a.b\".*", {"a.b"}, id="quoted"),
    pytest.param("ab.*cdef.*g", {"cdef"}, id="longest-run"),
]


@pytest.mark.parametrize(("pattern", "expected"), SUBSTRING_CASES)
def test_necessary_substrings_table(pattern: str, expected: set[str] | None) -> None:
    substrings = necessary_substrings(pattern)

    assert substrings == (None if expected is None else frozenset(expected))


# -- property tests -----------------------------------------------------------------------------------

_ALPHABET = "abAB09.-/\\\"*é_ "


def _lucene_literal(character: str) -> str:
    """Write one character as a Lucene literal: letters and digits bare, everything else escaped."""
    return character if character.isalnum() else "\\" + character


def _class_example(pair: tuple[list[str], int]) -> tuple[str, str]:
    members, choice = pair
    return "[" + "".join(_lucene_literal(c) for c in members) + "]", members[choice % len(members)]


_characters = st.sampled_from(_ALPHABET)

_leaves = st.one_of(
    _characters.map(lambda c: (_lucene_literal(c), c)),
    st.text(st.sampled_from("ab.*(|"), min_size=1, max_size=3).map(lambda t: (f'"{t}"', t)),
    st.tuples(st.lists(_characters, min_size=1, max_size=4), st.integers(0, 3)).map(_class_example),
    _characters.map(lambda c: (".", c)),
    st.sampled_from("abcdef").map(lambda c: ("[a-f]", c)),
    st.integers(0, 40).map(lambda n: ("<3-27>", str(min(max(n, 3), 27)))),
)


def _extend(children: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    concat = st.lists(children, min_size=2, max_size=4).map(
        lambda parts: ("".join(p for p, _ in parts), "".join(e for _, e in parts))
    )
    union = st.tuples(st.lists(children, min_size=2, max_size=3), st.integers(0, 2)).map(
        lambda pair: ("(" + "|".join(p for p, _ in pair[0]) + ")", pair[0][pair[1] % len(pair[0])][1])
    )
    quantifiers = st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{0,}"])
    repeat = st.tuples(children, quantifiers, st.integers(0, 3)).map(_repeat_example)
    return st.one_of(concat, union, repeat)


def _repeat_example(triple: tuple[tuple[str, str], str, int]) -> tuple[str, str]:
    (pattern, example), quantifier, wanted = triple
    bounds = {"*": (0, 3), "+": (1, 3), "?": (0, 1), "{2}": (2, 2), "{1,3}": (1, 3), "{0,}": (0, 3)}
    low, high = bounds[quantifier]
    return f"({pattern}){quantifier}", example * min(max(wanted, low), high)


_patterns_with_examples = st.recursive(_leaves, _extend, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_patterns_with_examples)
def test_generated_example_matches(pattern_and_example: tuple[str, str]) -> None:
    pattern, example = pattern_and_example

    assert compile_lucene_regex(pattern).fullmatch(example) is not None
    # regex~ folds every ASCII letter of the example, except where the range [a-f] produced it.
    if "[a-f]" not in pattern and example.isascii():
        assert compile_lucene_regex(pattern, case_insensitive=True).fullmatch(example.swapcase()) is not None


@settings(max_examples=300, deadline=None)
@given(_patterns_with_examples)
def test_necessary_substrings_sound_on_generated(pattern_and_example: tuple[str, str]) -> None:
    pattern, example = pattern_and_example

    substrings = necessary_substrings(pattern)

    assert substrings is None or any(s in example for s in substrings)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([case.values[0] for case in MATCH_CASES]),
    st.text(st.sampled_from(_ALPHABET + "cmdexe"), max_size=12),
)
def test_necessary_substrings_sound_on_random_text(pattern: str, text: str) -> None:
    substrings = necessary_substrings(pattern)

    if substrings is not None and compile_lucene_regex(pattern).fullmatch(text):
        assert any(s in text for s in substrings)


# -- Elastic's prebuilt rules -------------------------------------------------------------------------


_EQL_WORD = re.compile(r"[\w@?.]+~?")
_EQL_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _read_eql_string(query: str, start: int) -> tuple[str, int]:
    """Decode the EQL string literal at ``start``; return its value and the index after it."""
    if query.startswith('"""', start):
        end = query.index('"""', start + 3)
        return query[start + 3 : end], end + 3

    value = []
    index = start + 1
    while query[index] != '"':
        if query[index] != "\\":
            value.append(query[index])
            index += 1
        elif query[index + 1] == "u":
            close = query.index("}", index)
            value.append(chr(int(query[index + 3 : close], 16)))
            index = close + 1
        else:
            value.append(_EQL_ESCAPES[query[index + 1]])
            index += 2
    return "".join(value), index + 1


def _eql_tokens(query: str) -> list[tuple[str, str]]:
    """Split EQL text into ("string", value), ("word", text) and ("mark", character) tokens.

    Comments are skipped. This is enough to find the operands of ``regex``, also in sequence queries.
    """
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(query):
        character = query[index]
        if character.isspace():
            index += 1
        elif query.startswith("//", index):
            line_end = query.find("\n", index)
            index = len(query) if line_end == -1 else line_end
        elif query.startswith("/*", index):
            index = query.index("*/", index) + 2
        elif character == '"':
            value, index = _read_eql_string(query, index)
            tokens.append(("string", value))
        elif character.isalnum() or character in "_@?.":
            match = _EQL_WORD.match(query, index)
            assert match is not None
            tokens.append(("word", match.group()))
            index = match.end()
        else:
            tokens.append(("mark", character))
            index += 1
    return tokens


def _regex_operands(query: str) -> list[tuple[str, bool]]:
    """Return (pattern, case_insensitive) for each string operand of ``regex`` and ``regex~``."""
    tokens = _eql_tokens(query)
    found = []
    for index, (kind, text) in enumerate(tokens):
        if kind != "word" or text not in ("regex", "regex~"):
            continue
        following = tokens[index + 1 :]
        if following and following[0][0] == "string":
            found.append((following[0][1], text == "regex~"))
            continue
        for operand_kind, operand in following[1:]:
            if operand_kind == "string":
                found.append((operand, text == "regex~"))
            elif operand == ")":
                break
    return found


def _rule_regexes(rules_dir: Path) -> list[tuple[str, str, bool]]:
    """Return (rule file, pattern, case_insensitive) for every regex operand in Elastic's EQL rules."""
    found = []
    for path in sorted(rules_dir.rglob("*.toml")):
        rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        if rule.get("language") == "eql" and "regex" in rule.get("query", ""):
            found.extend((path.name, pattern, ci) for pattern, ci in _regex_operands(rule["query"]))
    return found


def test_regex_operands_decode_eql_strings() -> None:
    query = 'a regex~ ("""C:\\\\x\\.y""", "a\\\\.b\\u{41}") and b regex "x" // regex "no"'

    operands = _regex_operands(query)

    assert operands == [("C:\\\\x\\.y", True), ("a\\.bA", True), ("x", False)]


def test_prebuilt_rule_regexes_translate(shared_dir: Path) -> None:
    regexes = _rule_regexes(shared_dir / "data" / "elastic-rules")

    failures = []
    for rule_file, pattern, case_insensitive in regexes:
        try:
            compile_lucene_regex(pattern, case_insensitive=case_insensitive)
            necessary_substrings(pattern)
        except LuceneRegexError as exc:
            failures.append(f"{rule_file}: {exc}")

    assert len(regexes) >= 40, "expected the prebuilt rules to contain at least 40 regex strings"
    assert failures == []
