"""Exception hierarchy of eql-stream.

Every error the project raises derives from :class:`EqlStreamError`, so a caller
can catch the whole family in one place. Each subclass carries the identifiers a
responder needs (rule, file, line and column, or topic, partition and offset).
"""

from __future__ import annotations


class EqlStreamError(Exception):
    """Root of all eql-stream errors."""


class QueryError(EqlStreamError):
    """An EQL query that cannot be parsed or compiled.

    ``line`` and ``column`` are 1-based positions in ``query``; both are ``None``
    when the error concerns the query as a whole.
    """

    def __init__(
        self,
        message: str,
        *,
        query: str = "",
        line: int | None = None,
        column: int | None = None,
        rule: str | None = None,
    ) -> None:
        self.message = message
        self.query = query
        self.line = line
        self.column = column
        self.rule = rule
        super().__init__(self._render())

    def with_rule(self, rule: str) -> "QueryError":
        """Return a copy of this error that names ``rule``."""
        return type(self)(
            self.message, query=self.query, line=self.line, column=self.column, rule=rule
        )

    def _render(self) -> str:
        where = f"rule {self.rule!r}: " if self.rule else ""
        if self.line is None or self.column is None:
            return f"{where}{self.message}"

        lines = self.query.splitlines() or [""]
        source_line = lines[self.line - 1] if self.line <= len(lines) else ""
        caret = " " * (self.column - 1) + "^"
        return (
            f"{where}line {self.line}, column {self.column}: {self.message}\n"
            f"  {source_line}\n  {caret}"
        )


class QuerySyntaxError(QueryError):
    """The query text does not follow the EQL grammar."""


class QueryCompileError(QueryError):
    """The query parses but Elasticsearch would reject it (for example ``:`` on a number)."""


class UnsupportedQueryError(QueryError):
    """The query is valid EQL but uses a form eql-stream does not support yet."""


class RuleLoadError(EqlStreamError):
    """A rule file that cannot be read or does not describe a valid rule."""

    def __init__(self, message: str, *, path: str | None = None, rule: str | None = None) -> None:
        self.message = message
        self.path = path
        self.rule = rule
        prefix = f"{path}: " if path else ""
        named = f"rule {rule!r}: " if rule else ""
        super().__init__(f"{prefix}{named}{message}")


class ConfigError(EqlStreamError):
    """Invalid configuration: a flag, environment variable or config-file value."""


class DecodeError(EqlStreamError):
    """A message or input line that cannot be decoded into an event.

    ``reason`` is a short, fixed token (for example ``invalid_json``) used as a
    metric label and dead-letter header; ``message`` explains the failure.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class RuleEvaluationError(EqlStreamError):
    """A rule raised an unexpected error while evaluating one event (a bug, not bad input)."""

    def __init__(self, rule_id: str, cause: Exception) -> None:
        self.rule_id = rule_id
        self.cause = cause
        super().__init__(f"rule {rule_id} failed: {type(cause).__name__}: {cause}")


class KafkaServiceError(EqlStreamError):
    """A Kafka failure the service cannot recover from (it exits non-zero)."""
