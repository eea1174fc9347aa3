"""Offline evaluation of files: the detection core driven from NDJSON or Avro files instead of Kafka."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from stream.alerts import SourceRef
from stream.codecs.json_codec import UTF8_BYTE_ORDER_MARK, decode_event, encode_alert
from stream.errors import DecodeError
from stream.ruleset import RuleSet

logger = logging.getLogger(__name__)

# How many evaluation problems of one rule replay reports line by line; the summary counts the rest.
PROBLEM_LINES_PER_RULE = 5


@dataclass(slots=True)
class ReplaySummary:
    """Counts of one replay run."""

    events: int = 0
    alerts: int = 0
    # NDJSON lines skipped.
    skipped: int = 0
    # Inputs that could not be opened, or Avro files that could not be read to their end.
    unfinished_files: int = 0
    # Avro records skipped, and the rest of an Avro file after a corrupt block (counted as one).
    skipped_records: int = 0
    # Evaluation problems (see RuleSet.last_problems), in all and by rule id.
    problems: int = 0
    problems_by_rule: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """Return the one-line summary printed at the end of a replay."""
        if not self.skipped_records:
            skipped = _count(self.skipped, "line")
        elif not self.skipped:
            skipped = _count(self.skipped_records, "record")
        else:
            skipped = f"{_count(self.skipped, 'line')} and {_count(self.skipped_records, 'record')}"
        parts = [_count(self.events, "event") + " read", _count(self.alerts, "alert"), skipped + " skipped"]
        if self.problems:
            parts.append(_count(self.problems, "evaluation problem"))
        return "replay: " + ", ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _report_problems(rule_set: RuleSet, source: SourceRef, record: bool, errors: BinaryIO, summary: ReplaySummary) -> None:
    """Count the last evaluation's problems, and report the first few of each rule on ``errors``."""
    position = f"{source.path} {'record' if record else 'line'} {source.line}"
    for compiled, problem in rule_set.last_problems:
        rule_id, name = compiled.rule.rule_id, compiled.rule.display_name
        summary.problems += 1
        summary.problems_by_rule[rule_id] += 1
        reported = summary.problems_by_rule[rule_id]
        if reported <= PROBLEM_LINES_PER_RULE:
            errors.write(f"replay: rule {name!r}: {position}: {problem.describe()}\n".encode())
        if reported == PROBLEM_LINES_PER_RULE:
            errors.write(f"replay: rule {name!r}: further evaluation problems are only counted in the summary\n".encode())


def replay_stream(
    rule_set: RuleSet,
    lines: Iterable[bytes],
    source_name: str,
    output: BinaryIO,
    errors: BinaryIO,
    summary: ReplaySummary,
) -> None:
    """Evaluate every NDJSON line of one input and write alerts as JSON lines to ``output``.

    A line that is not a JSON object, or whose fields have impossible types,
    is reported on ``errors`` with its file and line number and skipped.
    Blank lines are ignored. A UTF-8 byte order mark at the start of the
    input is ignored, but one at the start of a later line makes that line
    invalid JSON, as it does a Kafka message.
    """
    for line_number, line in enumerate(lines, start=1):
        if line_number == 1:
            # Windows tools such as PowerShell 5.1 start a UTF-8 file with a byte order mark,
            # and RFC 8259 (section 8.1) lets a parser ignore it.
            line = line.removeprefix(UTF8_BYTE_ORDER_MARK)
        if not line.strip():
            continue
        try:
            # Without its line break, so that a decoding error's "line 1" means this line.
            event = decode_event(line.rstrip(b"\r\n"))
        except DecodeError as exc:
            _skip(errors, summary, f"{source_name}:{line_number}", exc)
            continue
        _evaluate(rule_set, event, SourceRef.file(source_name, line_number), f"{source_name}:{line_number}", output, errors, summary)


def replay_object_container(
    rule_set: RuleSet,
    handle: BinaryIO,
    source_name: str,
    output: BinaryIO,
    errors: BinaryIO,
    summary: ReplaySummary,
) -> None:
    """Evaluate every event of an Avro Object Container File; alerts go to ``output`` as JSON lines.

    The writer schema comes from the file's header. An event that does not
    resolve to the reader schema, or whose fields have impossible types, is
    reported with its record number and skipped. A corrupt block ends the
    file, because the records after it cannot be located; it is reported and
    counted as one skipped record.
    """
    from stream.codecs.avro_codec import read_event_file

    record_number = 0
    try:
        for record_number, event in enumerate(read_event_file(handle), start=1):
            where = f"{source_name}: record {record_number}"
            if isinstance(event, DecodeError):
                _skip(errors, summary, where, event, record=True)
                continue
            _evaluate(rule_set, event, SourceRef.file(source_name, record_number), where, output, errors, summary, record=True)
    except DecodeError as exc:
        summary.skipped_records += 1
        summary.unfinished_files += 1
        errors.write(
            f"{source_name}: after record {record_number}: stopped reading ({exc.reason}): {exc.message}\n".encode()
        )


def _evaluate(
    rule_set: RuleSet,
    event: dict,
    source: SourceRef,
    where: str,
    output: BinaryIO,
    errors: BinaryIO,
    summary: ReplaySummary,
    *,
    record: bool = False,
) -> None:
    """Write the alerts of one decoded event, or report it as skipped when a field has an impossible type.

    ``record`` is true for an event read from an Avro record, false for an NDJSON line.
    Each evaluation problem (see :attr:`RuleSet.last_problems`) is reported
    on ``errors``, because Elasticsearch would fail the rule's search there.
    """
    try:
        alerts = rule_set.alerts_for(event, source)
    except DecodeError as exc:
        _skip(errors, summary, where, exc, record=record)
        return

    if rule_set.last_problems:
        _report_problems(rule_set, source, record, errors, summary)

    summary.events += 1
    for _, alert in alerts:
        output.write(encode_alert(alert) + b"\n")
    summary.alerts += len(alerts)


def _skip(errors: BinaryIO, summary: ReplaySummary, where: str, error: DecodeError, *, record: bool = False) -> None:
    if record:
        summary.skipped_records += 1
    else:
        summary.skipped += 1
    errors.write(f"{where}: skipped ({error.reason}): {error.message}\n".encode())
