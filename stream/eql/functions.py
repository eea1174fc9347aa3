"""EQL function library: names, arity, result types and null rules.

Every implementation receives already-evaluated arguments and returns ``None``
for an EQL ``null`` result. Positions and lengths are in UTF-16 code units,
as in Elasticsearch (Java strings). The compiler calls these once per
combination of argument values (leaves are existential, see the compiler).
Where Elasticsearch fails the search (integer overflow, integer division by
zero, an unparsable ``number`` argument), an implementation reports the
problem with :func:`~stream.eql.values.report_problem` and returns ``None``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream.eql.text import eql_literal, from_utf16_units, utf16_length, utf16_units
from stream.eql.values import report_problem

# Java's long range: an integer result outside it makes Elasticsearch fail the
# search. eql-stream reports the problem and makes the result null (false).
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """Static facts about one EQL function.

    ``result`` is ``string``, ``number`` or ``boolean``; ``max_args`` is
    ``None`` for a variadic function. ``parameters`` gives the type each
    argument must have, one letter per position: ``s`` text, ``n`` number,
    ``*`` any. The last letter applies to every further argument. Elasticsearch
    rejects a query that passes another type. ``can_fail`` marks a function
    whose implementation can report an evaluation problem.
    """

    name: str
    min_args: int
    max_args: int | None
    result: str
    case_insensitive_form: bool = False
    parameters: str = "*"
    can_fail: bool = False

    def parameter(self, position: int) -> str:
        """Return the type letter of the argument at ``position`` (0-based)."""
        return self.parameters[min(position, len(self.parameters) - 1)]


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name.lower(): spec
    for spec in (
        FunctionSpec("add", 2, 2, "number", parameters="nn", can_fail=True),
        FunctionSpec("between", 3, 4, "string", case_insensitive_form=True, parameters="sss*"),
        FunctionSpec("cidrMatch", 2, None, "boolean"),
        FunctionSpec("concat", 1, None, "string"),
        FunctionSpec("divide", 2, 2, "number", parameters="nn", can_fail=True),
        FunctionSpec("endsWith", 2, 2, "boolean", case_insensitive_form=True, parameters="ss"),
        FunctionSpec("indexOf", 2, 3, "number", case_insensitive_form=True, parameters="ssn"),
        FunctionSpec("length", 1, 1, "number", parameters="s"),
        FunctionSpec("modulo", 2, 2, "number", parameters="nn", can_fail=True),
        FunctionSpec("multiply", 2, 2, "number", parameters="nn", can_fail=True),
        FunctionSpec("number", 1, 2, "number", parameters="s*", can_fail=True),
        FunctionSpec("startsWith", 2, 2, "boolean", case_insensitive_form=True, parameters="ss"),
        FunctionSpec("string", 1, 1, "string"),
        FunctionSpec("stringContains", 2, 2, "boolean", case_insensitive_form=True, parameters="ss"),
        FunctionSpec("substring", 2, 3, "string", parameters="snn"),
        FunctionSpec("subtract", 2, 2, "number", parameters="nn", can_fail=True),
    )
}


def canonical_function_name(name: str) -> str | None:
    """Return the documented spelling of a function name (matched case-insensitively), or ``None``."""
    spec = FUNCTIONS.get(name.lower())
    return spec.name if spec else None


def supports_case_insensitive(name: str) -> bool:
    """Return whether the function accepts the ``~`` suffix."""
    return FUNCTIONS[name.lower()].case_insensitive_form


def text_of(value: Any) -> str | None:
    """Return the EQL text form of a scalar: ``true``/``false`` for booleans, digits for numbers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# String functions ------------------------------------------------------------

Fold = Callable[[str], str]


def starts_with(source: Any, prefix: Any, fold: Fold | None) -> bool | None:
    source, prefix = text_of(source), text_of(prefix)
    if source is None or prefix is None:
        return None
    if fold:
        source, prefix = fold(source), fold(prefix)
    return source.startswith(prefix)


def ends_with(source: Any, suffix: Any, fold: Fold | None) -> bool | None:
    source, suffix = text_of(source), text_of(suffix)
    if source is None or suffix is None:
        return None
    if fold:
        source, suffix = fold(source), fold(suffix)
    return source.endswith(suffix)


def string_contains(source: Any, part: Any, fold: Fold | None) -> bool | None:
    source, part = text_of(source), text_of(part)
    if source is None:
        return None
    if part is None or source == "":
        return False if part is not None else None
    if fold:
        source, part = fold(source), fold(part)
    return part in source


def index_of(source: Any, part: Any, start: Any, fold: Fold | None) -> int | None:
    source, part = text_of(source), text_of(part)
    if source is None or part is None:
        return None
    if fold:
        source, part = fold(source), fold(part)
    begin = 0 if start is None else max(int(start), 0)

    source_units, part_units = utf16_units(source), utf16_units(part)
    length = len(source_units) // 2
    if part == "":
        return min(begin, length)
    for index in range(begin, length - len(part_units) // 2 + 1):
        if source_units.startswith(part_units, index * 2):
            return index
    return None


def length(source: Any) -> int | None:
    source = text_of(source)
    return None if source is None else utf16_length(source)


def substring(source: Any, start: Any, end: Any = None) -> str | None:
    source = text_of(source)
    if source is None:
        return None
    if start is None:
        return source

    units = utf16_units(source)
    size = len(units) // 2
    first = _clamp_position(int(start), size)
    last = size if end is None else _clamp_position(int(end), size)
    if first >= last:
        return ""
    return from_utf16_units(units[first * 2 : last * 2])


def _clamp_position(position: int, size: int) -> int:
    if position < 0:
        position += size
    return min(max(position, 0), size)


def between(source: Any, left: Any, right: Any, greedy: Any, fold: Fold | None) -> str | None:
    source, left, right = text_of(source), text_of(left), text_of(right)
    if source is None or left is None or right is None:
        return None
    if source == "" or left == "" or right == "":
        return source

    searched = fold(source) if fold else source
    left_key = fold(left) if fold else left
    right_key = fold(right) if fold else right

    left_at = searched.find(left_key)
    if left_at < 0:
        return ""
    after = left_at + len(left_key)
    right_at = searched.rfind(right_key, after) if greedy else searched.find(right_key, after)
    if right_at < 0:
        return ""
    return source[after:right_at]


def concat(*values: Any) -> str | None:
    parts = [text_of(value) for value in values]
    if any(part is None for part in parts):
        return None
    return "".join(parts)  # type: ignore[arg-type]


def to_string(value: Any) -> str | None:
    return text_of(value)


# Java's Long range, and the text forms that Long.valueOf and Double.valueOf accept. Java trims
# every character up to U+0020 before it parses a double, and none before it parses a long.
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_JAVA_RADIX_TEXT = re.compile(r"[+-]?[0-9A-Za-z]+")
_JAVA_DOUBLE_TEXT = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)")
_JAVA_TRIMMED = "".join(map(chr, range(0x21)))


def parse_number(source: Any, base: Any = None) -> int | float | None:
    """Return the value of EQL's ``number(source[, base])``, parsing text as Elasticsearch's Java code does.

    Text starting with ``0x`` is read in base 16 without that prefix when
    ``base`` is omitted or 16. In base 10 the text is a Java long if it is
    one: digits with an optional sign and no spaces. Otherwise it is a Java
    double, which allows surrounding spaces, ``Infinity``, ``NaN`` and a
    ``d`` or ``f`` suffix, but not ``inf`` or ``_``. Other bases take a long.
    Returns ``None`` for ``null``. Text that does not parse makes
    Elasticsearch fail the search, so it is reported as a problem and the
    result is ``None``.
    """
    text = _number_or_text(source)
    if not isinstance(text, str):
        return text

    radix = 10 if base is None else int(base)
    digits = text
    if text.startswith("0x") and base in (None, 16):
        digits, radix = text[2:], 16
    if radix != 10:
        value = _java_long(digits, radix)
    else:
        whole = _java_long(digits, 10)
        value = whole if whole is not None else _java_double(digits)

    if value is None:
        _report_unparsable(text, base, radix)
    return value


def _report_unparsable(text: str, base: Any, radix: int) -> None:
    call = f"number({eql_literal(text)})" if base is None else f"number({eql_literal(text)}, {base})"
    if radix == 10:
        expected = "a decimal integer or a floating-point number"
    else:
        expected = f"a base-{radix} integer in the signed 64-bit range"
    report_problem(f"{call} cannot parse its text as {expected}")


def _number_or_text(source: Any) -> int | float | str | None:
    """Return ``source`` itself when it is null or a number, else its text."""
    if source is None or _is_number(source):
        return source
    text = text_of(source)
    assert text is not None
    return text


def _java_long(text: str, radix: int) -> int | None:
    if not 2 <= radix <= 36 or not _JAVA_RADIX_TEXT.fullmatch(text):
        return None
    try:
        value = int(text, radix)
    except ValueError:
        return None
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def _java_double(text: str) -> float | None:
    trimmed = text.strip(_JAVA_TRIMMED)
    if not _JAVA_DOUBLE_TEXT.fullmatch(trimmed):
        return None
    return float(trimmed.rstrip("fFdD"))


def to_number(source: Any, base: Any = None) -> int | float | None:
    """Convert a value compared with a number (a literal, or text in a numeric comparison) to a number.

    More lenient than :func:`parse_number`, which the ``number`` function
    uses: Python's ``int`` and ``float`` grammars, and a ``0x`` prefix in
    any base. Returns ``None`` for ``null`` and for text that does not parse.
    """
    text = _number_or_text(source)
    if not isinstance(text, str):
        return text

    radix = 10 if base is None else int(base)
    try:
        if text.startswith("0x"):
            return int(text[2:], 16)
        if radix != 10:
            return int(text, radix)
        try:
            return int(text) if text.strip() == text else float(text)
        except ValueError:
            return float(text)
    except ValueError:
        return None


def cidr_match(address: Any, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool | None:
    text = text_of(address)
    if text is None:
        return None
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if any(parsed in network for network in networks):
        return True
    # Elasticsearch stores an IPv4 address as its IPv4-mapped IPv6 form, so an IPv6 block can contain it.
    if isinstance(parsed, ipaddress.IPv4Address):
        mapped = ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + parsed.packed)
        return any(mapped in network for network in networks if network.version == 6)
    return False


def parse_cidr(block: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a ``cidrMatch`` block such as ``10.0.0.0/8`` (host bits may be set).

    Raises:
        ValueError: the text is not an address or address block.
    """
    return ipaddress.ip_network(block, strict=False)


# Arithmetic ------------------------------------------------------------------


def _checked(result: int | float, function: str, operands: tuple[int | float, int | float]) -> int | float | None:
    """Return ``result``, or report an integer overflow and return ``None`` when it is outside Java's long range."""
    if isinstance(result, int) and not _LONG_MIN <= result <= _LONG_MAX:
        left, right = operands
        report_problem(f"integer overflow beyond the signed 64-bit range in {function}({left!r}, {right!r})")
        return None
    return result


def _numeric_operands(left: Any, right: Any) -> tuple[int | float, int | float] | None:
    if not _is_number(left) or not _is_number(right):
        return None
    return left, right


def add(left: Any, right: Any) -> int | float | None:
    operands = _numeric_operands(left, right)
    return None if operands is None else _checked(operands[0] + operands[1], "add", operands)


def subtract(left: Any, right: Any) -> int | float | None:
    operands = _numeric_operands(left, right)
    return None if operands is None else _checked(operands[0] - operands[1], "subtract", operands)


def multiply(left: Any, right: Any) -> int | float | None:
    operands = _numeric_operands(left, right)
    return None if operands is None else _checked(operands[0] * operands[1], "multiply", operands)


def negate(value: Any) -> int | float | None:
    """Return ``-value`` for the unary minus, and report an overflow, on which Java's ``Math.negateExact`` fails."""
    if not _is_number(value):
        return None
    result = -value
    if isinstance(result, int) and not _LONG_MIN <= result <= _LONG_MAX:
        report_problem(f"integer overflow beyond the signed 64-bit range in -({value!r})")
        return None
    return result


def divide(left: Any, right: Any) -> int | float | None:
    """Divide like Java: floating if either side is floating, else truncate toward zero."""
    operands = _numeric_operands(left, right)
    if operands is None:
        return None
    dividend, divisor = operands
    if isinstance(dividend, float) or isinstance(divisor, float):
        if divisor == 0:
            return math.copysign(math.inf, dividend) if dividend else math.nan
        return dividend / divisor
    if divisor == 0:
        report_problem(f"integer division by zero in divide({dividend!r}, 0)")
        return None
    quotient = abs(dividend) // abs(divisor)
    quotient = quotient if (dividend >= 0) == (divisor >= 0) else -quotient
    # Only divide(-2**63, -1) leaves the long range. Elasticsearch divides longs with Java's plain
    # '/', unlike its addition and multiplication, which wraps that quotient to -2**63 without an error.
    if quotient == _LONG_MAX + 1:
        return -quotient
    return quotient


def modulo(left: Any, right: Any) -> int | float | None:
    """Remainder with the sign of the dividend, like Java's ``%``."""
    operands = _numeric_operands(left, right)
    if operands is None:
        return None
    dividend, divisor = operands
    if divisor == 0:
        if isinstance(dividend, float) or isinstance(divisor, float):
            return math.nan
        report_problem(f"integer division by zero in modulo({dividend!r}, 0)")
        return None
    return math.fmod(dividend, divisor) if isinstance(dividend, float) or isinstance(divisor, float) else (
        abs(dividend) % abs(divisor) * (1 if dividend >= 0 else -1)
    )
