"""Tokenizer for single-event EQL.

Lexical rules follow Elasticsearch's EQL grammar: lower-case keywords,
identifiers that start with a letter, ``_`` or ``@``, back-quoted identifiers
with doubled back-quotes, double-quoted strings with a fixed set of escapes,
triple-quoted raw strings, ``//`` and nestable ``/* */`` comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stream.errors import QuerySyntaxError

KEYWORDS = frozenset(
    "and any by false in join like maxspan not null of or regex sample sequence true until where with".split()
)

# Keywords that take a ``~`` suffix to form one case-insensitive token.
_TILDE_KEYWORDS = frozenset({"in", "like", "regex"})

_SIMPLE_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
}

_PUNCTUATION = {
    "==": "==",
    "!=": "!=",
    "<=": "<=",
    ">=": ">=",
    "<": "<",
    ">": ">",
    ":": ":",
    "(": "(",
    ")": ")",
    "[": "[",
    "]": "]",
    ",": ",",
    ".": ".",
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "%": "%",
    "?": "?",
    "|": "|",
    # '=' is no EQL operator; it is a token so that 'maxspan=' in a sequence
    # header reaches the parser, which rejects it with a clear message.
    "=": "=",
}


# Operators of other languages that users write in place of an EQL keyword,
# mapped to that keyword. '!=' is matched before '!' reaches this table.
_FOREIGN_OPERATORS = {
    "||": "or",
    "&&": "and",
    "&": "and",
    "!": "not",
}


class TokenKind(Enum):
    """Kinds of token the parser distinguishes."""

    IDENTIFIER = "identifier"
    QUOTED_IDENTIFIER = "back-quoted identifier"
    KEYWORD = "keyword"
    FUNCTION = "function name"
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal number"
    OPERATOR = "operator"
    END = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` is the decoded value (string contents, keyword text, ...).

    ``adjacent`` is true when no whitespace or comment separates this token
    from the previous one, which function calls and ``~`` suffixes need.
    """

    kind: TokenKind
    text: str
    line: int
    column: int
    adjacent: bool = False


class Lexer:
    """Split a query into tokens, reporting errors with line and column."""

    def __init__(self, query: str) -> None:
        self._text = query
        self._pos = 0
        self._line = 1
        self._line_start = 0

    def tokens(self) -> list[Token]:
        """Return every token of the query, ending with an ``END`` token.

        Raises:
            QuerySyntaxError: on an unterminated string or comment, an unknown
                escape, or a character that starts no token.
        """
        result: list[Token] = []
        while True:
            skipped = self._skip_blanks()
            token = self._next_token(adjacent=not skipped and bool(result))
            result.append(token)
            if token.kind is TokenKind.END:
                return result

    def first_token(self) -> Token:
        """Return the first token without reading the rest of the query."""
        self._skip_blanks()
        return self._next_token(adjacent=False)

    def _error(self, message: str, pos: int | None = None) -> QuerySyntaxError:
        pos = self._pos if pos is None else pos
        line = self._text.count("\n", 0, pos) + 1
        line_start = self._text.rfind("\n", 0, pos) + 1
        return QuerySyntaxError(message, query=self._text, line=line, column=pos - line_start + 1)

    def _position(self, pos: int) -> tuple[int, int]:
        line = self._text.count("\n", 0, pos) + 1
        line_start = self._text.rfind("\n", 0, pos) + 1
        return line, pos - line_start + 1

    def _skip_blanks(self) -> bool:
        """Skip whitespace and comments; return whether anything was skipped."""
        start = self._pos
        text = self._text
        while self._pos < len(text):
            char = text[self._pos]
            if char.isspace():
                self._pos += 1
            elif text.startswith("//", self._pos):
                end = text.find("\n", self._pos)
                self._pos = len(text) if end < 0 else end
            elif text.startswith("/*", self._pos):
                self._skip_block_comment()
            else:
                break
        return self._pos > start

    def _skip_block_comment(self) -> None:
        opened_at = self._pos
        depth = 0
        text = self._text
        while self._pos < len(text):
            if text.startswith("/*", self._pos):
                depth += 1
                self._pos += 2
            elif text.startswith("*/", self._pos):
                depth -= 1
                self._pos += 2
                if depth == 0:
                    return
            else:
                self._pos += 1
        raise self._error("unterminated comment: add the closing */", opened_at)

    def _next_token(self, adjacent: bool) -> Token:
        text = self._text
        start = self._pos
        line, column = self._position(start)

        def make(kind: TokenKind, value: str) -> Token:
            return Token(kind, value, line, column, adjacent)

        if start >= len(text):
            return make(TokenKind.END, "")

        char = text[start]
        if char == '"':
            return make(TokenKind.STRING, self._read_string())
        if char == "'":
            raise self._error("single-quoted strings are not EQL: use double quotes")
        if char == "`":
            return make(TokenKind.QUOTED_IDENTIFIER, self._read_quoted_identifier())
        if char.isdigit() or (char == "." and start + 1 < len(text) and text[start + 1].isdigit()):
            return self._read_number(make)
        if char.isalpha() or char in "_@":
            return self._read_word(make)
        if char == "?" and start + 1 < len(text) and text[start + 1] in "\"'":
            raise self._error('the ?"..." string form is not supported by Elasticsearch: use a plain "..." string')
        for symbol in ("==", "!=", "<=", ">="):
            if text.startswith(symbol, start):
                self._pos += 2
                return make(TokenKind.OPERATOR, symbol)
        self._reject_foreign_operator()
        if char in _PUNCTUATION:
            self._pos += 1
            return make(TokenKind.OPERATOR, char)
        raise self._error(f"unexpected character {char!r}")

    def _reject_foreign_operator(self) -> None:
        """Raise QuerySyntaxError if the text at the current position is ``||``, ``&&``, ``&`` or ``!``."""
        for symbol, keyword in _FOREIGN_OPERATORS.items():
            if self._text.startswith(symbol, self._pos):
                raise self._error(f"'{symbol}' is not an EQL operator: write '{keyword}' instead")

    def _read_word(self, make) -> Token:  # type: ignore[no-untyped-def]
        text = self._text
        end = self._pos + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        word = text[self._pos : end]
        self._pos = end

        has_tilde = end < len(text) and text[end] == "~"
        if word in _TILDE_KEYWORDS and has_tilde:
            self._pos += 1
            return make(TokenKind.KEYWORD, word + "~")
        if has_tilde:
            self._pos += 1
            return make(TokenKind.FUNCTION, word + "~")
        if word in KEYWORDS:
            return make(TokenKind.KEYWORD, word)
        return make(TokenKind.IDENTIFIER, word)

    def _read_number(self, make) -> Token:  # type: ignore[no-untyped-def]
        text = self._text
        end = self._pos
        while end < len(text) and text[end].isdigit():
            end += 1
        is_decimal = False
        if end < len(text) and text[end] == "." and end + 1 < len(text) and text[end + 1].isdigit():
            is_decimal = True
            end += 1
            while end < len(text) and text[end].isdigit():
                end += 1
        elif end < len(text) and text[end] == "." and (end + 1 == len(text) or not text[end + 1].isalpha()):
            is_decimal = True
            end += 1
        if end < len(text) and text[end] in "eE":
            exponent_end = end + 1
            if exponent_end < len(text) and text[exponent_end] in "+-":
                exponent_end += 1
            if exponent_end < len(text) and text[exponent_end].isdigit():
                is_decimal = True
                end = exponent_end
                while end < len(text) and text[end].isdigit():
                    end += 1
        if end < len(text) and (text[end].isalpha() or text[end] == "_"):
            raise self._error(f"invalid number {text[self._pos:end + 1]!r}", self._pos)
        value = text[self._pos : end]
        self._pos = end
        return make(TokenKind.DECIMAL if is_decimal else TokenKind.INTEGER, value)

    def _read_quoted_identifier(self) -> str:
        text = self._text
        opened_at = self._pos
        self._pos += 1
        parts: list[str] = []
        while True:
            end = text.find("`", self._pos)
            if end < 0:
                raise self._error("unterminated back-quoted identifier: add the closing `", opened_at)
            parts.append(text[self._pos : end])
            if text.startswith("``", end):
                parts.append("`")
                self._pos = end + 2
                continue
            self._pos = end + 1
            return "".join(parts)

    def _read_string(self) -> str:
        if self._text.startswith('"""', self._pos):
            return self._read_raw_string()
        return self._read_quoted_string()

    def _read_raw_string(self) -> str:
        text = self._text
        opened_at = self._pos
        end = text.find('"""', self._pos + 3)
        newline = text.find("\n", self._pos + 3)
        if end < 0 or (0 <= newline < end):
            raise self._error('unterminated raw string: close it with """ on the same line', opened_at)
        value = text[self._pos + 3 : end]
        self._pos = end + 3
        return value

    def _read_quoted_string(self) -> str:
        text = self._text
        opened_at = self._pos
        self._pos += 1
        parts: list[str] = []
        while True:
            if self._pos >= len(text) or text[self._pos] == "\n":
                raise self._error('unterminated string: close it with " on the same line', opened_at)
            char = text[self._pos]
            if char == '"':
                self._pos += 1
                return "".join(parts)
            if char != "\\":
                parts.append(char)
                self._pos += 1
                continue
            parts.append(self._read_escape())

    def _read_escape(self) -> str:
        text = self._text
        escape_at = self._pos
        if escape_at + 1 >= len(text):
            raise self._error("unterminated escape at the end of the query", escape_at)
        code = text[escape_at + 1]
        if code in _SIMPLE_ESCAPES:
            self._pos += 2
            return _SIMPLE_ESCAPES[code]
        if code == "u":
            return self._read_unicode_escape(escape_at)
        raise self._error(
            f"invalid escape sequence '\\{code}': write '\\\\' for a backslash "
            'or use a raw string """..."""',
            escape_at,
        )

    def _read_unicode_escape(self, escape_at: int) -> str:
        text = self._text
        if not text.startswith("{", escape_at + 2):
            raise self._error("invalid unicode escape: write \\u{HEX} with 2 to 8 hex digits", escape_at)
        close = text.find("}", escape_at + 3)
        digits = text[escape_at + 3 : close] if close >= 0 else ""
        if close < 0 or not 2 <= len(digits) <= 8 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self._error("invalid unicode escape: write \\u{HEX} with 2 to 8 hex digits", escape_at)
        code_point = int(digits, 16)
        if 0xD800 <= code_point <= 0xDFFF:
            raise self._error(
                f"invalid code point U+{code_point:X} in unicode escape: surrogate code points "
                "(U+D800 to U+DFFF) are not characters, so write the character's own code point, "
                "for example \\u{1F600} rather than the UTF-16 pair \\u{D83D}\\u{DE00}",
                escape_at,
            )
        if code_point > 0x10FFFF:
            raise self._error(
                f"invalid code point U+{code_point:X} in unicode escape: the maximum is U+10FFFF", escape_at
            )
        self._pos = close + 1
        return chr(code_point)
