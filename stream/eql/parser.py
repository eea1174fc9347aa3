"""Recursive-descent parser for single-event EQL queries.

Precedence, loosest first: ``or``, ``and``, ``not``, one comparison
(``== != < <= > >=``), ``+ -``, ``* / %``, unary minus, then the predicates
(``: like like~ regex regex~ in in~ not in``) that bind to the single operand
written before them, and finally literals, fields, calls and parentheses.
"""

from __future__ import annotations

from stream.eql import ast
from stream.eql.functions import canonical_function_name, supports_case_insensitive
from stream.eql.lexer import Lexer, Token, TokenKind
from stream.eql.parse_hints import (
    COMPARISON_OPERATORS,
    MATCH_KEYWORDS,
    is_upper_case_keyword,
    keyword_case_message,
    known_mistake,
    list_comparison_message,
    misplaced_not_message,
)
from stream.errors import QuerySyntaxError, UnsupportedQueryError

_CATEGORY_KINDS = (TokenKind.IDENTIFIER, TokenKind.STRING, TokenKind.QUOTED_IDENTIFIER)


def parse_query(text: str) -> ast.Query:
    """Parse ``text`` into a :class:`~stream.eql.ast.Query`.

    Raises:
        QuerySyntaxError: the text is not valid EQL; the error has the line and
            column of the offending token.
        UnsupportedQueryError: ``sequence``, ``sample`` or pipes, which
            eql-stream does not evaluate yet.
    """
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self._text = text
        self._reject_unsupported_kinds(Lexer(text).first_token())
        self._tokens = Lexer(text).tokens()
        self._index = 0

    # Token helpers -----------------------------------------------------------

    @property
    def _current(self) -> Token:
        return self._tokens[self._index]

    def _peek(self, offset: int = 1) -> Token:
        return self._tokens[min(self._index + offset, len(self._tokens) - 1)]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _is(self, kind: TokenKind, text: str | None = None) -> bool:
        token = self._current
        return token.kind is kind and (text is None or token.text == text)

    def _is_operator(self, text: str) -> bool:
        return self._is(TokenKind.OPERATOR, text)

    def _is_keyword(self, text: str) -> bool:
        return self._is(TokenKind.KEYWORD, text)

    def _expect_operator(self, text: str, what: str) -> Token:
        if not self._is_operator(text):
            raise self._unexpected_error(f"expected {what}, found {self._describe(self._current)}")
        return self._advance()

    def _error(self, message: str, token: Token | None = None) -> QuerySyntaxError:
        token = token or self._current
        return QuerySyntaxError(message, query=self._text, line=token.line, column=token.column)

    def _unexpected_error(self, message: str) -> QuerySyntaxError:
        """Build the error for a current token that the grammar does not accept here.

        A known mistake (an upper-case keyword, a lineage query) gets a message
        that names the fix, located at the token to change. Any other token gets
        ``message`` at the current token.
        """
        previous = self._tokens[self._index - 1] if self._index > 0 else None
        mistake = known_mistake(self._current, previous)
        if mistake is not None:
            hint, token = mistake
            return self._error(hint, token)
        return self._error(message)

    def _source_between(self, start: Token, end: Token) -> str:
        """Return the query text from ``start`` up to ``end``, on one line and without trailing blanks."""
        lines = self._text.split("\n")

        def offset(token: Token) -> int:
            return sum(len(line) + 1 for line in lines[: token.line - 1]) + token.column - 1

        text = self._text[offset(start) : offset(end)]
        return " ".join(text.splitlines()).rstrip()

    @staticmethod
    def _describe(token: Token) -> str:
        if token.kind is TokenKind.END:
            return "the end of the query"
        if token.kind is TokenKind.STRING:
            return f'string "{token.text}"'
        return f"{token.kind.value} '{token.text}'"

    # Query ------------------------------------------------------------------

    def _reject_unsupported_kinds(self, first: Token) -> None:
        if first.kind is TokenKind.KEYWORD and first.text in {"sequence", "sample", "join"}:
            raise UnsupportedQueryError(
                f"{first.text} queries are not supported yet: eql-stream evaluates single-event "
                "queries such as 'process where ...'",
                query=self._text,
                line=first.line,
                column=first.column,
            )

    def parse(self) -> ast.Query:
        category = self._parse_category()
        if not self._is_keyword("where"):
            found = self._describe(self._current)
            raise self._unexpected_error(f"expected 'where' after the event category, found {found}")
        self._advance()

        condition = self._parse_or()
        if self._is_operator("|"):
            pipe = self._current
            following = self._peek()
            name = f"'| {following.text}'" if following.kind is TokenKind.IDENTIFIER else "such as '| head'"
            raise UnsupportedQueryError(
                f"pipes ({name}) are not supported yet: filter with the condition instead",
                query=self._text, line=pipe.line, column=pipe.column,
            )
        if self._starts_query():
            raise self._error(
                "a rule has exactly one query, but a second query starts here: "
                "put each query in its own rule or .eql file"
            )
        if not self._is(TokenKind.END):
            raise self._unexpected_error(f"unexpected {self._describe(self._current)} after the end of the condition")
        return ast.Query(category=category, condition=condition, text=self._text)

    def _starts_query(self) -> bool:
        """Return whether the current token is an event category followed by 'where'."""
        token = self._current
        is_category = token.kind in _CATEGORY_KINDS or (token.kind is TokenKind.KEYWORD and token.text == "any")
        following = self._peek()
        return is_category and following.kind is TokenKind.KEYWORD and following.text == "where"

    def _parse_category(self) -> str | None:
        token = self._current
        if token.kind is TokenKind.KEYWORD and token.text == "any":
            self._advance()
            return None
        if token.kind in _CATEGORY_KINDS:
            self._advance()
            return token.text
        raise self._error(f"expected an event category such as 'process' or 'any', found {self._describe(token)}")

    # Boolean structure -------------------------------------------------------

    def _parse_or(self) -> ast.Expression:
        start = self._current
        terms = [self._parse_and()]
        while self._is_keyword("or"):
            self._advance()
            terms.append(self._parse_and())
        if len(terms) == 1:
            return terms[0]
        return ast.Or(start.line, start.column, tuple(terms))

    def _parse_and(self) -> ast.Expression:
        start = self._current
        terms = [self._parse_not()]
        while self._is_keyword("and"):
            self._advance()
            terms.append(self._parse_not())
        if len(terms) == 1:
            return terms[0]
        return ast.And(start.line, start.column, tuple(terms))

    def _parse_not(self) -> ast.Expression:
        start = self._current
        if self._is_keyword("not"):
            self._advance()
            return ast.Not(start.line, start.column, self._parse_not())
        return self._parse_comparison()

    # Values -----------------------------------------------------------------

    def _parse_comparison(self) -> ast.Expression:
        left = self._parse_additive()
        token = self._current
        if token.kind is TokenKind.OPERATOR and token.text == "=":
            raise self._error("'=' is not an EQL operator: use '==' to compare")
        if token.kind is not TokenKind.OPERATOR or token.text not in COMPARISON_OPERATORS:
            return left
        self._advance()
        if self._is_operator("(") and self._parenthesis_holds_list():
            raise self._error(list_comparison_message(token.text), token)
        right = self._parse_additive()

        following = self._current
        if following.kind is TokenKind.OPERATOR and following.text in COMPARISON_OPERATORS:
            raise self._error("chained comparisons are not allowed: combine two comparisons with 'and'")
        return ast.Comparison(token.line, token.column, token.text, left, right)

    def _parenthesis_holds_list(self) -> bool:
        """Return whether the parenthesis that opens at the current token contains a ',' at its own level."""
        depth = 0
        for token in self._tokens[self._index :]:
            if token.kind is not TokenKind.OPERATOR:
                continue
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
                if depth == 0:
                    return False
            elif token.text == "," and depth == 1:
                return True
        return False

    def _parse_additive(self) -> ast.Expression:
        left = self._parse_multiplicative()
        while self._current.kind is TokenKind.OPERATOR and self._current.text in {"+", "-"}:
            operator = self._advance()
            right = self._parse_multiplicative()
            left = ast.Arithmetic(operator.line, operator.column, operator.text, left, right)
        return left

    def _parse_multiplicative(self) -> ast.Expression:
        left = self._parse_unary()
        while self._current.kind is TokenKind.OPERATOR and self._current.text in {"*", "/", "%"}:
            operator = self._advance()
            right = self._parse_unary()
            left = ast.Arithmetic(operator.line, operator.column, operator.text, left, right)
        return left

    def _parse_unary(self) -> ast.Expression:
        token = self._current
        if self._is_operator("-"):
            self._advance()
            operand = self._parse_unary()
            if isinstance(operand, ast.Literal) and isinstance(operand.value, (int, float)) and not isinstance(
                operand.value, bool
            ):
                return ast.Literal(token.line, token.column, -operand.value)
            return ast.Negate(token.line, token.column, operand)
        if self._is_operator("+"):
            self._advance()
            return self._parse_unary()
        return self._parse_predicate()

    def _parse_predicate(self) -> ast.Expression:
        start = self._current
        operand = self._parse_primary()
        token = self._current

        if token.kind is TokenKind.KEYWORD and token.text == "not":
            following = self._peek()
            if following.kind is TokenKind.KEYWORD and following.text in {"in", "in~"}:
                self._advance()
                self._advance()
                values = self._parse_value_list(following, require_parentheses=True)
                positive = ast.Predicate(following.line, following.column, following.text, operand, values)
                return ast.Not(token.line, token.column, positive)
            misplaced_not = misplaced_not_message(self._source_between(start, token), following)
            if misplaced_not is not None:
                raise self._error(misplaced_not)

        if token.kind is TokenKind.KEYWORD and token.text in {"in", "in~"}:
            self._advance()
            values = self._parse_value_list(token, require_parentheses=True)
            return ast.Predicate(token.line, token.column, token.text, operand, values)

        if token.kind is TokenKind.KEYWORD and token.text in MATCH_KEYWORDS or self._is_operator(":"):
            self._advance()
            values = self._parse_value_list(token, require_parentheses=False)
            return ast.Predicate(token.line, token.column, token.text, operand, values)

        return operand

    def _parse_value_list(self, operator: Token, *, require_parentheses: bool) -> tuple[ast.Literal, ...]:
        if not self._is_operator("("):
            if require_parentheses:
                raise self._error(f"expected '(' with a list of values after '{operator.text}'")
            return (self._parse_constant(operator),)

        self._advance()
        values = [self._parse_constant(operator)]
        while self._is_operator(","):
            self._advance()
            values.append(self._parse_constant(operator))
        self._expect_operator(")", f"',' or ')' in the list after '{operator.text}'")
        return tuple(values)

    def _parse_constant(self, operator: Token) -> ast.Literal:
        start = self._current
        expression = self._parse_additive()
        if isinstance(expression, ast.Literal):
            return expression
        raise self._error(
            f"the values after '{operator.text}' must be literals, not {type(expression).__name__.lower()} expressions",
            start,
        )

    # Primary expressions -----------------------------------------------------

    def _parse_primary(self) -> ast.Expression:
        token = self._current

        if token.kind is TokenKind.STRING:
            self._advance()
            return ast.Literal(token.line, token.column, token.text)
        if token.kind is TokenKind.INTEGER:
            self._advance()
            return ast.Literal(token.line, token.column, int(token.text))
        if token.kind is TokenKind.DECIMAL:
            self._advance()
            return ast.Literal(token.line, token.column, float(token.text))
        if token.kind is TokenKind.KEYWORD and token.text in {"true", "false", "null"}:
            self._advance()
            value = {"true": True, "false": False, "null": None}[token.text]
            return ast.Literal(token.line, token.column, value)

        if self._is_operator("("):
            self._advance()
            inner = self._parse_or()
            if self._is_operator(","):
                raise self._error(
                    "a list of values in parentheses must follow 'in', 'in~', ':', 'like' or 'regex', "
                    "as in 'process.name in (\"a\", \"b\")'"
                )
            self._expect_operator(")", "')' to close the parenthesis")
            return inner

        if token.kind is TokenKind.FUNCTION or (
            token.kind is TokenKind.IDENTIFIER and self._peek().kind is TokenKind.OPERATOR and self._peek().text == "("
        ):
            return self._parse_call()

        if self._is_operator("?") or token.kind in (TokenKind.IDENTIFIER, TokenKind.QUOTED_IDENTIFIER):
            return self._parse_field()

        raise self._unexpected_error(f"expected a value, field or function call, found {self._describe(token)}")

    def _parse_field(self) -> ast.Field:
        start = self._current
        optional = False
        if self._is_operator("?"):
            optional = True
            self._advance()
            if self._current.adjacent is False:
                raise self._error("'?' must be written directly before the field name")

        first = self._current
        if first.kind not in (TokenKind.IDENTIFIER, TokenKind.QUOTED_IDENTIFIER):
            raise self._error(f"expected a field name, found {self._describe(first)}")
        self._advance()
        # Elasticsearch joins the segments into one field name, so `process.name` names process.name,
        # which an event may write as nested objects or as a dotted key.
        path = self._field_segments(first)

        while self._is_operator(".") and self._current.adjacent:
            self._advance()
            segment = self._current
            if not segment.adjacent or segment.kind not in (
                TokenKind.IDENTIFIER,
                TokenKind.QUOTED_IDENTIFIER,
                TokenKind.KEYWORD,
            ):
                raise self._error(f"expected a field name after '.', found {self._describe(segment)}")
            self._advance()
            path.extend(self._field_segments(segment))

        if self._is_operator("["):
            raise self._error("array indexes such as [0] are not supported by Elasticsearch EQL")
        return ast.Field(start.line, start.column, tuple(path), optional)

    def _field_segments(self, token: Token) -> list[str]:
        """Return the segments of a field name token: a back-quoted name may contain dots."""
        if not token.text:
            raise self._error("a field name cannot be empty: write the name between the back-quotes", token)
        segments = token.text.split(".")
        if "" in segments:
            raise self._error(
                f"field name {token.text!r} has an empty segment: remove the extra '.'", token
            )
        return segments

    def _parse_call(self) -> ast.FunctionCall:
        token = self._advance()
        written = token.text
        case_insensitive = written.endswith("~")
        base_name = written[:-1] if case_insensitive else written

        name = canonical_function_name(base_name)
        if name is None and is_upper_case_keyword(token):
            raise self._error(keyword_case_message(token), token)
        if name is None:
            raise self._error(f"unknown function '{base_name}'", token)
        if case_insensitive and not supports_case_insensitive(name):
            raise self._error(f"function '{name}' has no case-insensitive '~' form", token)

        self._expect_operator("(", f"'(' after the function name '{written}'")
        args: list[ast.Expression] = []
        if not self._is_operator(")"):
            args.append(self._parse_or())
            while self._is_operator(","):
                self._advance()
                args.append(self._parse_or())
        self._expect_operator(")", f"',' or ')' in the arguments of '{name}'")
        return ast.FunctionCall(token.line, token.column, name, tuple(args), case_insensitive)

