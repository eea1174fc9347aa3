"""Parser: syntax trees for valid queries, located errors for invalid ones."""

from __future__ import annotations

import pytest

from stream.eql import ast, parse_query
from stream.errors import QuerySyntaxError, UnsupportedQueryError


def _condition(text: str) -> ast.Expression:
    return parse_query(text).condition


@pytest.mark.parametrize(
    ("query", "expected_type"),
    [
        pytest.param('process where a == "x" or b == "y" and c == 1', ast.Or, id="or-loosest"),
        pytest.param('process where not a == "x" and b == 1', ast.And, id="not-binds-tighter-than-and"),
        pytest.param("process where a + 1 * 2 == 3", ast.Comparison, id="arithmetic-inside-comparison"),
        pytest.param('process where a : "x"', ast.Predicate, id="colon"),
        pytest.param('process where a not in ("x")', ast.Not, id="not-in"),
    ],
)
def test_parse_top_node(query: str, expected_type: type) -> None:
    assert isinstance(_condition(query), expected_type)


def test_parse_not_in_wraps_positive_predicate() -> None:
    condition = _condition('process where a not in~ ("x", "y")')

    assert isinstance(condition, ast.Not)
    assert isinstance(condition.operand, ast.Predicate)
    assert condition.operand.op == "in~"


@pytest.mark.parametrize(
    ("query", "op"),
    [
        ('process where a like "x"', "like"),
        ('process where a like~ "x"', "like~"),
        ('process where a regex "x"', "regex"),
        ('process where a regex~ "x"', "regex~"),
        ('process where a in ("x")', "in"),
        ('process where a in~ ("x")', "in~"),
        ('process where a : ("x", "y")', ":"),
    ],
)
def test_parse_predicate_operator_kept(query: str, op: str) -> None:
    condition = _condition(query)

    assert isinstance(condition, ast.Predicate)
    assert condition.op == op


@pytest.mark.parametrize(
    ("query", "path", "optional"),
    [
        ("process where ?process.foo == null", ("process", "foo"), True),
        ("process where `process`.`name` == null", ("process", "name"), False),
        ("process where `odd``name`.x == null", ("odd`name", "x"), False),
        ("process where event.sequence == 1", ("event", "sequence"), False),
        ("process where @timestamp == null", ("@timestamp",), False),
    ],
)
def test_parse_field_reference(query: str, path: tuple[str, ...], optional: bool) -> None:
    condition = _condition(query)

    assert isinstance(condition, ast.Comparison)
    assert condition.left == ast.Field(condition.left.line, condition.left.column, path, optional)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"C:\\Windows"', "C:\\Windows"),
        (r'"""C:\Windows\*"""', "C:\\Windows\\*"),
        (r'"a\tb"', "a\tb"),
        (r'"\u{41}"', "A"),
        (r'"\u{1F600}"', "\U0001f600"),
        ("42", 42),
        ("4.5", 4.5),
        (".5", 0.5),
        ("4.2e3", 4200.0),
        ("-7", -7),
        ("true", True),
        ("null", None),
    ],
)
def test_parse_literal_value(literal: str, value: object) -> None:
    condition = _condition(f"process where a == {literal}")

    assert isinstance(condition, ast.Comparison)
    assert condition.right.value == value  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "name", "insensitive"),
    [
        ('process where startsWith(a, "x")', "startsWith", False),
        ('process where STARTSWITH~(a, "x")', "startsWith", True),
        ('process where cidrmatch(a, "10.0.0.0/8")', "cidrMatch", False),
    ],
)
def test_parse_function_name_canonical(query: str, name: str, insensitive: bool) -> None:
    condition = _condition(query)

    assert isinstance(condition, ast.FunctionCall)
    assert condition.name == name
    assert condition.case_insensitive is insensitive


def test_parse_comments_ignored() -> None:
    query = 'process where /* outer /* nested */ still */ a == "x" // trailing\n and b == 1'

    assert isinstance(_condition(query), ast.And)


def test_parse_category_forms() -> None:
    assert parse_query("any where true").category is None
    assert parse_query('"process" where true').category == "process"
    assert parse_query("Process where true").category == "Process"


@pytest.mark.parametrize(
    ("query", "line", "column", "fragment"),
    [
        pytest.param("process where a = 1", 1, 17, "'=='", id="single-equals"),
        pytest.param("process where a == 'x'", 1, 20, "double quotes", id="single-quoted"),
        pytest.param('process where a == ?"x"', 1, 20, "plain", id="legacy-optional-string"),
        pytest.param(r'process where a == "\q"', 1, 21, "escape", id="unknown-escape"),
        pytest.param("process where a < b < c", 1, 21, "chained", id="chained-comparison"),
        pytest.param('process where a AND b == 1', 1, 17, "lower case", id="upper-case-keyword"),
        pytest.param('process where wildcard(a, "x")', 1, 15, "unknown function", id="unknown-function"),
        pytest.param('process where length~(a) == 1', 1, 15, "no case-insensitive", id="tilde-on-length"),
        pytest.param("process where process.args[0] == 1", 1, 27, "array indexes", id="array-index"),
        pytest.param('process where a == "x', 1, 20, "unterminated string", id="unterminated-string"),
        pytest.param("process where (a == 1", 1, 22, "')'", id="unclosed-parenthesis"),
        pytest.param("process a == 1", 1, 9, "'where'", id="missing-where"),
        pytest.param('process where a in "x"', 1, 20, "'('", id="in-without-list"),
        pytest.param('process where\n  a : b', 2, 7, "literals", id="non-literal-pattern"),
        pytest.param("process where a == 1 /* open", 1, 22, "unterminated comment", id="unterminated-comment"),
    ],
)
def test_parse_error_located(query: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)

    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert fragment in error.message
    assert "^" in str(error)


@pytest.mark.parametrize(
    ("query", "line", "column", "fragments"),
    [
        pytest.param(
            'process where process.name : "a" || process.pid == 1', 1, 34, ["'||'", "'or'"], id="double-pipe"
        ),
        pytest.param('process where process.name : "a" && true', 1, 34, ["'&&'", "'and'"], id="double-ampersand"),
        pytest.param("process where a == 1 & b == 2", 1, 22, ["'&'", "'and'"], id="single-ampersand"),
        pytest.param("process where !a", 1, 15, ["'!'", "'not'"], id="exclamation-mark"),
        pytest.param(
            'process where process.name : "a" AND true', 1, 34, ["lower case", "'and'"], id="upper-case-and"
        ),
        pytest.param("PROCESS WHERE TRUE", 1, 9, ["lower case", "'where'"], id="upper-case-where"),
        pytest.param("process where a == 1 OR b == 2", 1, 22, ["lower case", "'or'"], id="upper-case-or"),
        pytest.param("process where (a == 1 OR b == 2)", 1, 23, ["lower case", "'or'"], id="upper-case-or-nested"),
        pytest.param("process where NOT a == 1", 1, 15, ["lower case", "'not'"], id="upper-case-not-before-field"),
        pytest.param("process where NOT (a == 1)", 1, 15, ["lower case", "'not'"], id="upper-case-not-as-call"),
        pytest.param('process where a IN ("x")', 1, 17, ["lower case", "'in'"], id="upper-case-in"),
        pytest.param(
            "process where descendant of [process where true]",
            1,
            15,
            ["lineage", "not supported", "Elasticsearch"],
            id="descendant-of",
        ),
        pytest.param(
            "process where child of [process where true]", 1, 15, ["lineage", "not supported"], id="child-of"
        ),
        pytest.param(
            'process where a == "x" and event of [process where true]',
            1,
            28,
            ["lineage", "not supported"],
            id="event-of-after-and",
        ),
        pytest.param(
            "process where true process where true", 1, 20, ["exactly one query", ".eql file"], id="two-queries"
        ),
        pytest.param(
            "process where true\nnetwork where true", 2, 1, ["exactly one query", ".eql file"], id="two-queries-lines"
        ),
        pytest.param(
            'process where process.name == ("a", "b")', 1, 28, ["single value", "in (...)"], id="equals-list"
        ),
        pytest.param(
            'process where process.name != ("a", "b")', 1, 28, ["single value", "not in (...)"], id="not-equals-list"
        ),
        pytest.param('process where ("a", "b")', 1, 19, ["'in'", "process.name in ("], id="list-without-operator"),
        pytest.param(
            'process where process.name not : "a"', 1, 28, ["not process.name :", "not in"], id="not-after-field-colon"
        ),
        pytest.param(
            'process where process.name not like "a*"', 1, 28, ["not process.name like"], id="not-after-field-like"
        ),
        pytest.param(
            'process where process.name not regex~ "a.*"',
            1,
            28,
            ["not process.name regex~"],
            id="not-after-field-regex",
        ),
        pytest.param(
            r'process where a == "\u{D800}"', 1, 21, ["U+D800", "surrogate", "\\u{1F600}"], id="surrogate-escape"
        ),
        pytest.param(r'process where a == "\u{110000}"', 1, 21, ["U+10FFFF"], id="code-point-above-maximum"),
        pytest.param("process where a = 1", 1, 17, ["'=='"], id="single-equals"),
        pytest.param("process where a == 'x'", 1, 20, ["double quotes"], id="single-quoted-string"),
    ],
)
def test_parse_error_names_fix(query: str, line: int, column: int, fragments: list[str]) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)

    error = caught.value
    assert (error.line, error.column) == (line, column)
    for fragment in fragments:
        assert fragment in error.message


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('process where a == ("x")', id="one-value-in-parentheses"),
        pytest.param("process where a == (concat(b, c))", id="call-in-parentheses"),
        pytest.param('process where a not in ("x", "y")', id="not-in-after-field"),
        pytest.param("process where event.category == null", id="lineage-word-as-field"),
        pytest.param("Process where true", id="category-with-capital"),
    ],
)
def test_parse_near_miss_still_valid(query: str) -> None:
    assert parse_query(query).text == query


def test_parse_error_shows_query_line_and_caret() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query('process where\n  process.name = "x"')

    rendered = str(caught.value.with_rule("My rule"))
    assert rendered.splitlines() == [
        "rule 'My rule': line 2, column 16: '=' is not an EQL operator: use '==' to compare",
        '    process.name = "x"',
        "                 ^",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "sequence by host.id with maxspan=1m [process where true] [process where true]",
        "sample by host.id [process where true] [process where true]",
        'process where a == "x" | head 1',
    ],
)
def test_parse_unsupported_query_kind(query: str) -> None:
    with pytest.raises(UnsupportedQueryError, match="not supported yet"):
        parse_query(query)


@pytest.mark.parametrize("pipe", ["head 1", "tail 5", "unique process.name"])
def test_parse_pipe_error_names_pipe(pipe: str) -> None:
    with pytest.raises(UnsupportedQueryError) as caught:
        parse_query(f'process where process.name == "x" | {pipe}')

    assert f"'| {pipe.split()[0]}'" in str(caught.value)
