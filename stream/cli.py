"""Command-line interface: ``eql-stream check``, ``replay`` and ``run``."""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from stream import __version__
from stream.codecs.avro_codec import is_object_container
from stream.config import CASE_FOLDING_HELP, INDEX_MODE_HELP, KEYWORD_IGNORE_ABOVE_HELP, match_options
from stream.eql import MatchOptions
from stream.eql.mapping import DEFAULT_IGNORE_ABOVE
from stream.errors import ConfigError, EqlStreamError
from stream.logging_setup import configure_logging
from stream.replay import ReplaySummary, replay_object_container, replay_stream
from stream.rules.lint import rule_warnings
from stream.ruleset import RuleReport, RuleSet, load_rule_set

logger = logging.getLogger("stream.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``eql-stream`` command and return its exit code."""
    parser = build_parser()
    arguments, unknown = parser.parse_known_args(argv)
    if unknown:
        _unknown_arguments_owner(parser, arguments, sys.argv[1:] if argv is None else list(argv), unknown).error(
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    if not hasattr(arguments, "handler"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(arguments.handler(arguments))


def _unknown_arguments_owner(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace, argv: list[str], unknown: list[str]
) -> argparse.ArgumentParser:
    """Return the parser whose usage should accompany ``unknown``: the sub-command's when they follow its name.

    argparse reports a sub-command's unknown options with the top-level
    usage, which does not list them.
    """
    command_parser: argparse.ArgumentParser | None = getattr(arguments, "command_parser", None)
    if command_parser is None:
        return parser
    command = command_parser.prog.split()[-1]
    if command in argv and unknown[0] in argv and argv.index(unknown[0]) > argv.index(command):
        return command_parser
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with the three sub-commands."""
    parser = argparse.ArgumentParser(
        prog="eql-stream",
        description="Evaluate Elastic EQL detection rules on streams of ECS events.",
    )
    parser.add_argument("--version", action="version", version=f"eql-stream {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="compile rules and report errors and warnings",
        description=(
            "Compile each rule and report it as ok or with its error. A rule that compiles can still get "
            "warnings, for example for an event category that ECS does not define. Warnings do not change the exit code."
        ),
    )
    _add_rule_arguments(check)
    check.add_argument("--json", action="store_true", help="print one JSON list of {path, rule_id, name, status, error, warnings}")
    check.set_defaults(handler=run_check, command_parser=check)

    replay = commands.add_parser(
        "replay",
        help="evaluate NDJSON or Avro events from files or standard input",
        description=(
            "Read events from NDJSON files or Avro Object Container Files (detected by their header), or from "
            "standard input when no file or '-' is given, and write one alert per line as JSON to standard output."
        ),
    )
    _add_rule_arguments(replay)
    replay.add_argument("--strict", action="store_true", help="exit 1 without reading input if any rule fails to load or compile")
    replay.add_argument(
        "inputs", nargs="*", metavar="INPUT",
        help="NDJSON file or Avro Object Container File to read; '-' or none reads standard input",
    )
    replay.set_defaults(handler=run_replay, command_parser=replay)

    run = commands.add_parser(
        "run",
        help="run the detection service on Kafka topics",
        description="Consume ECS events from Kafka, evaluate every rule and produce alerts to the output topic.",
    )
    _add_run_arguments(run)
    run.set_defaults(handler=run_service, command_parser=run)
    return parser


def _add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH", help="rule file (.toml, .md, .eql) or folder of them; repeatable; default: the shipped rule set")
    parser.add_argument("--query", action="append", default=[], metavar="EQL", help="an EQL query to use as a rule; repeatable")
    parser.add_argument("--case-folding", choices=("ascii", "unicode"), default="ascii", help=f"{CASE_FOLDING_HELP} (default: ascii)")
    parser.add_argument(
        "--keyword-ignore-above", type=_positive_length, default=DEFAULT_IGNORE_ABOVE, metavar="LENGTH",
        help=f"{KEYWORD_IGNORE_ABOVE_HELP} (default: {DEFAULT_IGNORE_ABOVE})",
    )
    parser.add_argument("--index-mode", choices=("standard", "logsdb"), default="standard", help=f"{INDEX_MODE_HELP} (default: standard)")


def _positive_length(text: str) -> int:
    try:
        length = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid length {text!r}: give a whole number of at least 1") from None
    if length < 1:
        raise argparse.ArgumentTypeError(f"invalid length {length}: give a whole number of at least 1")
    return length


def _match_options(arguments: argparse.Namespace) -> MatchOptions:
    return match_options(arguments.case_folding, arguments.keyword_ignore_above, arguments.index_mode)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    from stream.config_loading import add_run_arguments

    add_run_arguments(parser)


# A rule's path, rule id and name, the fields by which a RuleReport names its rule.
ReportKey = tuple[str | None, str | None, str | None]


def _report_key(report: RuleReport) -> ReportKey:
    return (report.path, report.rule_id, report.name)


def _warnings_by_report(rule_set: RuleSet) -> dict[ReportKey, list[str]]:
    """Return the warnings of each compiled rule, keyed as its report is.

    A report names its rule by path, rule id and name. Two compiled rules
    share that key only when the same file or query was given twice, so
    they get the same warnings.
    """
    warnings: dict[ReportKey, list[str]] = {}
    for compiled in rule_set.rules:
        rule = compiled.rule
        warnings[(rule.source_path, rule.rule_id, rule.name)] = rule_warnings(rule, compiled.query.syntax)
    return warnings


def _print_reports(reports: list[RuleReport], warnings: Mapping[ReportKey, list[str]], as_json: bool) -> None:
    if as_json:
        documents = [
            {**report.to_dict(), "warnings": warnings.get(_report_key(report), [])}
            for report in reports
        ]
        sys.stdout.buffer.write(orjson.dumps(documents, option=orjson.OPT_INDENT_2) + b"\n")
        return
    for report in reports:
        label = report.name or report.rule_id or "(not loaded)"
        where = f" ({report.path})" if report.path else ""
        if report.status == "ok":
            sys.stdout.write(f"ok     {label}{where}\n")
            for warning in warnings.get(_report_key(report), []):
                sys.stdout.write(f"       warning: {warning}\n")
        else:
            sys.stdout.write(f"error  {label}{where}\n")
            for line in (report.error or "").splitlines():
                sys.stdout.write(f"       {line}\n")
    failed = sum(1 for report in reports if report.status != "ok")
    sys.stdout.write(f"{len(reports) - failed} rules ok, {failed} failed\n")


def run_check(arguments: argparse.Namespace) -> int:
    """Compile every rule and print its report and warnings.

    Return 1 if any rule failed to load or compile or no rule file was found, else 0, whatever the warnings.
    """
    configure_logging("text", "WARNING")
    rule_set, reports = load_rule_set(arguments.rules, arguments.query, options=_match_options(arguments))
    _print_reports(reports, _warnings_by_report(rule_set), arguments.json)
    if not reports:
        # The service refuses to start without a rule, so a check that finds none must fail too.
        sys.stderr.write("eql-stream: no rule file found: pass --rules with .toml, .md or .eql files, or --query\n")
        return EXIT_FAILED
    return EXIT_FAILED if any(report.status != "ok" for report in reports) else EXIT_OK


def run_replay(arguments: argparse.Namespace) -> int:
    """Evaluate NDJSON and Avro files against the rules and write alerts to standard output.

    Returns 1 when an input could not be opened or an Avro file stopped before its
    end (a corrupt block, or a codec whose package is missing), after reading every
    other input.
    """
    configure_logging("text", "WARNING")
    rule_set, reports = load_rule_set(arguments.rules, arguments.query, options=_match_options(arguments))
    failed = [report for report in reports if report.status != "ok"]
    for report in failed:
        sys.stderr.write(f"eql-stream: rule error: {report.error}\n")
    if failed and arguments.strict:
        return EXIT_FAILED
    if not rule_set.rules:
        sys.stderr.write("eql-stream: no rule loaded: fix the errors above or pass --rules/--query\n")
        return EXIT_FAILED
    for compiled in rule_set.rules:
        for warning in rule_warnings(compiled.rule, compiled.query.syntax):
            sys.stderr.write(f"eql-stream: warning: {warning}\n")

    summary = ReplaySummary()
    output, errors = sys.stdout.buffer, sys.stderr.buffer
    for name in arguments.inputs or ["-"]:
        if name == "-":
            stdin = sys.stdin.buffer
            if is_object_container(stdin.peek(4)[:4]):
                # fastavro seeks while it reads blocks, which a pipe cannot, so the file is read whole first.
                replay_object_container(rule_set, io.BytesIO(stdin.read()), "<stdin>", output, errors, summary)
            else:
                replay_stream(rule_set, stdin, "<stdin>", output, errors, summary)
            continue
        try:
            with open(name, "rb") as handle:
                if is_object_container(handle.peek(4)[:4]):
                    replay_object_container(rule_set, handle, name, output, errors, summary)
                else:
                    replay_stream(rule_set, handle, name, output, errors, summary)
        except OSError as exc:
            sys.stderr.write(f"eql-stream: cannot read {name}: {exc.strerror}\n")
            summary.unfinished_files += 1
    output.flush()
    sys.stderr.write(summary.describe() + "\n")
    # Skipped lines are reported and counted. A file that could not be read to its end is a failure.
    return EXIT_FAILED if summary.unfinished_files else EXIT_OK


def run_service(arguments: argparse.Namespace) -> int:
    """Validate the configuration, then run the Kafka service until stopped."""
    from stream.config_loading import cli_values_from_namespace, load_settings
    from stream.runner import run_detection_service
    from stream.workers import run_workers

    from stream.codecs.selection import check_schema_files
    from stream.kafka.clients import check_client_configs

    try:
        settings = load_settings(cli_values_from_namespace(arguments), os.environ, arguments.config_file)
    except ConfigError as exc:
        sys.stderr.write(f"eql-stream: {exc}\n")
        return EXIT_USAGE
    configure_logging(settings.log_format, settings.log_level)
    try:
        check_client_configs(settings.bootstrap_servers, settings.group_id, settings.kafka_properties())
        check_schema_files(settings)
    except ConfigError as exc:
        sys.stderr.write(f"eql-stream: {exc}\n")
        return EXIT_USAGE
    try:
        if settings.workers > 1:
            return run_workers(settings)
        return run_detection_service(settings)
    except EqlStreamError as exc:
        logger.error("exiting with code 1: %s", exc)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
