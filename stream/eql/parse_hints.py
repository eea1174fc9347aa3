"""Messages for common mistakes in EQL queries, each naming the fix.

The parser calls these when the grammar rejects a token. They recognise
mistakes that people make when they come from SQL, Python or the older
endgameinc/eql dialect, and return the message of the syntax error. A
function that returns None has found another problem, which the parser
reports in its general words.
"""

from __future__ import annotations

from stream.eql.lexer import KEYWORDS, Token, TokenKind

COMPARISON_OPERATORS = frozenset({"==", "!=", "<", "<=", ">", ">="})
MATCH_KEYWORDS = frozenset({"like", "like~", "regex", "regex~"})

# Words that, followed by 'of', start a lineage query: a form of endgameinc/eql that Elasticsearch EQL rejects.
_LINEAGE_WORDS = frozenset({"descendant", "child", "event"})

# Fixes for a parenthesised list written after a comparison operator.
_LIST_COMPARISON_FIXES = {
    "==": "to compare with several values, write 'in (...)', or ': (...)' to match case-insensitively",
    "!=": "to exclude several values, write 'not in (...)'",
}


def known_mistake(token: Token, previous: Token | None) -> tuple[str, Token] | None:
    """Return the message for a rejected ``token`` that shows a known mistake, with the token to point at.

    ``previous`` is the token before it, or None at the start of the query.
    The mistakes are a lineage query and an upper-case keyword. A word
    such as 'NOT' may already have been read as a field name, so
    ``previous`` is checked for an upper-case keyword as well.
    """
    if token.kind is TokenKind.KEYWORD and token.text == "of" and previous is not None:
        if previous.kind is TokenKind.IDENTIFIER and previous.text in _LINEAGE_WORDS:
            message = (
                "lineage queries ('descendant of', 'child of', 'event of') are not supported, and "
                "Elasticsearch EQL rejects them too: to match the direct parent, use fields such as "
                "process.parent.name"
            )
            return message, previous

    for candidate in (token, previous):
        if candidate is not None and is_upper_case_keyword(candidate):
            return keyword_case_message(candidate), candidate
    return None


def list_comparison_message(operator: str) -> str:
    """Return the message for a comparison ``operator`` followed by a parenthesised list of values."""
    fix = _LIST_COMPARISON_FIXES.get(operator, "compare with one value at a time and combine the comparisons with 'or'")
    return f"'{operator}' takes a single value, not a list: {fix}"


def misplaced_not_message(written: str, following: Token) -> str | None:
    """Return the message for ``field not <operator>``, or None when ``not`` may follow the field there.

    ``written`` is the query text of the field (or expression) before
    ``not``, and ``following`` is the token after ``not``. Only ``in`` and
    ``in~`` may follow ``not`` in that position.
    """
    if following.kind is TokenKind.KEYWORD:
        needs_not_first = following.text in MATCH_KEYWORDS
    else:
        needs_not_first = following.kind is TokenKind.OPERATOR and (
            following.text == ":" or following.text in COMPARISON_OPERATORS
        )
    if not needs_not_first:
        return None
    return (
        f"'not' must come before the condition, not before '{following.text}': write "
        f"'not {written} {following.text} ...' (only 'not in' and 'not in~' follow the field)"
    )


def is_upper_case_keyword(token: Token) -> bool:
    """Return whether ``token`` is an identifier that is a keyword when written in lower case, such as ``AND``."""
    return token.kind is TokenKind.IDENTIFIER and token.text.lower() in KEYWORDS


def keyword_case_message(token: Token) -> str:
    """Return the message for an upper-case keyword such as ``AND``: write it in lower case."""
    return f"EQL keywords are lower case: write '{token.text.lower()}' instead of '{token.text}'"
