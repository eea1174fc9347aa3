"""Compare EQL values of any JSON type, converting them as Elasticsearch's dynamic mapping would.

:mod:`stream.eql.compiler` uses these tests for comparisons of two constants, and for comparison leaves
whose operand type is unknown or where only one of operand and literal is a string.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from stream.eql import functions as fn

_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


def _compare_constants(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        equal = left is None and right is None
        if op == "==":
            return equal
        if op == "!=":
            return not equal
        return False
    if op == "!=":
        return not _dynamic_test(operator.eq, right)(left)
    return _dynamic_test(_ORDERING[op], right)(left)


def _dynamic_test(compare: Callable[[Any, Any], bool], literal: Any) -> Callable[[Any], bool]:
    """Compare values of any JSON type with ``literal``, converting as Elasticsearch's dynamic mapping would."""
    literal_is_number = isinstance(literal, (int, float)) and not isinstance(literal, bool)

    def test(value: Any) -> bool:
        if value is None:
            return False
        if literal_is_number:
            if isinstance(value, bool):
                return False
            number = fn.to_number(value) if isinstance(value, str) else value
            return isinstance(number, (int, float)) and compare(number, literal)
        if isinstance(literal, bool):
            if isinstance(value, str):
                value = {"true": True, "false": False}.get(value)
            return isinstance(value, bool) and compare(value, literal)
        text = fn.text_of(value)
        return text is not None and compare(text, literal)

    return test
