"""The eql-stream command line: check, replay, and run's configuration errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.replay import ReplaySummary

REPOSITORY = Path(__file__).resolve().parents[1]
CORPUS = REPOSITORY / "tests" / "data" / "network-discovery-labelled.jsonl"


def _clean_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EQL_STREAM_")}
    environment.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return environment


def _run(*arguments: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    environment = _clean_environment()
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *arguments],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=REPOSITORY,
        env=environment,
    )


def test_check_shipped_rule_ok() -> None:
    finished = _run("check")

    assert finished.returncode == 0
    assert b"ok     Windows System Network Connections Discovery" in finished.stdout


def test_check_json_reports_each_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.eql"
    broken.write_text('process where process.name = "x"\n')

    finished = _run("check", "--rules", str(broken), "--query", 'process where process.name : "a"', "--json")

    assert finished.returncode == 1
    reports = json.loads(finished.stdout)
    assert [report["status"] for report in reports] == ["error", "ok"]
    assert reports[0]["path"] == str(broken)
    assert "line 1, column 28" in reports[0]["error"]
    assert set(reports[1]) == {"path", "rule_id", "name", "status", "error", "warnings"}
    assert reports[0]["warnings"] == []
    assert reports[1]["warnings"] == []


def test_check_warns_on_unknown_category_text() -> None:
    finished = _run("check", "--query", 'proces where process.name : "x"', "--query", "any where true")

    assert finished.returncode == 0
    assert finished.stdout.decode() == (
        "ok     command-line query 1\n"
        "       warning: rule 'command-line query 1': event category 'proces' is not an ECS event.category value, "
        "so the rule matches no ECS event; did you mean 'process'?\n"
        "ok     command-line query 2\n"
        "2 rules ok, 0 failed\n"
    )


def test_check_warns_on_unknown_category_json(tmp_path: Path) -> None:
    broken = tmp_path / "broken.eql"
    broken.write_text('proces where process.name = "x"\n')

    finished = _run(
        "check", "--rules", str(broken), "--query", 'proces where process.name : "x"', "--query", "widget where true", "--json"
    )

    assert finished.returncode == 1
    reports = json.loads(finished.stdout)
    assert [report["status"] for report in reports] == ["error", "ok", "ok"]
    assert reports[0]["warnings"] == []
    [typo_warning] = reports[1]["warnings"]
    assert "event category 'proces'" in typo_warning
    assert typo_warning.endswith("did you mean 'process'?")
    [unknown_warning] = reports[2]["warnings"]
    assert "event category 'widget'" in unknown_warning
    assert "did you mean" not in unknown_warning


def test_check_sequence_rejected_by_name(tmp_path: Path) -> None:
    finished = _run("check", "--query", "sequence [process where true] [process where true]")

    assert finished.returncode == 1
    assert b"sequence queries are not supported yet" in finished.stdout


def test_replay_corpus_alert_count() -> None:
    finished = _run("replay", str(CORPUS))

    assert finished.returncode == 0
    alerts = [json.loads(line) for line in finished.stdout.splitlines()]
    assert len(alerts) == 43
    assert b"213 events read, 43 alerts, 0 lines skipped" in finished.stderr


def test_replay_malformed_lines_reported_and_skipped() -> None:
    good = CORPUS.read_bytes().splitlines()[0]
    stdin = b"not json\n" + good + b"\n[1, 2]\n\n\xff\n"

    finished = _run("replay", stdin=stdin)

    assert finished.returncode == 0
    errors = finished.stderr.decode()
    assert "<stdin>:1: skipped (invalid_json)" in errors
    assert "<stdin>:3: skipped (not_an_object)" in errors
    assert "<stdin>:5: skipped (invalid_utf8)" in errors
    assert "1 event read" in errors
    assert "3 lines skipped" in errors


# The UTF-8 byte order mark, which Windows PowerShell 5.1 writes at the start of a UTF-8 file.
BYTE_ORDER_MARK = b"\xef\xbb\xbf"


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_replay_files_byte_order_mark_ignored(tmp_path: Path, line_end: bytes) -> None:
    events = CORPUS.read_bytes().splitlines()[:2]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(BYTE_ORDER_MARK + line_end.join(events) + line_end)
    second.write_bytes(BYTE_ORDER_MARK + events[0] + line_end)

    finished = _run("replay", "--query", "any where true", str(first), str(second))

    assert finished.returncode == 0
    assert len(finished.stdout.splitlines()) == 3
    assert b"3 events read, 3 alerts, 0 lines skipped" in finished.stderr


def test_replay_stdin_byte_order_mark_ignored() -> None:
    event = CORPUS.read_bytes().splitlines()[0]

    finished = _run("replay", "--query", "any where true", stdin=BYTE_ORDER_MARK + event + b"\n")

    assert finished.returncode == 0
    assert len(finished.stdout.splitlines()) == 1
    assert b"1 event read, 1 alert, 0 lines skipped" in finished.stderr


def test_replay_byte_order_mark_on_later_line_skipped() -> None:
    first, second = CORPUS.read_bytes().splitlines()[:2]
    stdin = BYTE_ORDER_MARK + first + b"\n" + BYTE_ORDER_MARK + second + b"\n"

    finished = _run("replay", "--query", "any where true", stdin=stdin)

    assert finished.returncode == 0
    errors = finished.stderr.decode()
    assert "<stdin>:2: skipped (invalid_json): the message starts with a UTF-8 byte order mark" in errors
    assert "Make the producer write UTF-8 without a BOM" in errors
    assert "1 event read, 1 alert, 1 line skipped" in errors


def test_replay_alert_ids_stable_across_runs() -> None:
    first = _run("replay", str(CORPUS))
    second = _run("replay", str(CORPUS))

    ids_first = [json.loads(line)["kibana.alert.uuid"] for line in first.stdout.splitlines()]
    ids_second = [json.loads(line)["kibana.alert.uuid"] for line in second.stdout.splitlines()]
    assert ids_first == ids_second


def test_replay_missing_file_fails() -> None:
    finished = _run("replay", "does-not-exist.jsonl", str(CORPUS))

    assert finished.returncode == 1
    assert b"cannot read does-not-exist.jsonl" in finished.stderr
    # The inputs after it are still read, and the summary is printed.
    assert b"replay: 213 events read, 43 alerts" in finished.stderr


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        pytest.param(["--input-topic", "events"], b"bootstrap", id="missing-bootstrap"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "events", "--metrics-port", "99999"], b"99999", id="bad-port"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "bad topic!"], b"bad topic!", id="bad-topic"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "events", "--kafka-config", "enable.auto.commit=true"], b"enable.auto.commit", id="reserved-property"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "events", "--kafka-config", "bogus.prop=1"], b'"bogus.prop"', id="unknown-kafka-property"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "events", "--kafka-config", "security.protocol=SASL_PLAINTXT"], b'"SASL_PLAINTXT"', id="invalid-kafka-value"),
        pytest.param(["--bootstrap-servers", "127.0.0.1:1", "--input-topic", "events", "--input-format", "avro", "--input-schema", "schemas/alert.avsc"], b"without defining it", id="schema-with-undefined-type"),
    ],
)
def test_run_invalid_configuration_exits_2(arguments: list[str], fragment: bytes) -> None:
    finished = _run("run", *arguments, timeout=30)

    assert finished.returncode == 2
    assert fragment in finished.stderr
    assert b"Traceback" not in finished.stderr


@pytest.mark.parametrize(
    ("arguments", "usage"),
    [
        pytest.param(["run", "--bogus"], b"usage: eql-stream run ", id="run"),
        pytest.param(["check", "--bogus"], b"usage: eql-stream check ", id="check"),
        pytest.param(["replay", "--bogus", "-"], b"usage: eql-stream replay ", id="replay"),
        pytest.param(["--bogus"], b"usage: eql-stream [-h]", id="top-level"),
        pytest.param(["--bogus", "replay", "-"], b"usage: eql-stream [-h]", id="before-command"),
    ],
)
def test_cli_unknown_option_shows_command_usage(arguments: list[str], usage: bytes) -> None:
    finished = _run(*arguments, stdin=b"")

    assert finished.returncode == 2
    assert usage in finished.stderr
    assert b"unrecognized arguments: --bogus" in finished.stderr


def test_run_reads_config_flag_file(tmp_path: Path) -> None:
    config = tmp_path / "eql-stream.toml"
    config.write_text('bootstrap_servers = "127.0.0.1:1"\ninput_topics = ["events"]\nmetrics_port = 99999\n')

    finished = _run("run", "--config", str(config), timeout=30)

    assert finished.returncode == 2
    assert b"metrics_port 99999 from config file" in finished.stderr
    assert str(config).encode() in finished.stderr


def test_run_help_hides_secrets_and_names_variables() -> None:
    finished = _run("run", "--help")

    assert finished.returncode == 0
    assert b"EQL_STREAM_BOOTSTRAP_SERVERS" in finished.stdout
    assert b"EQL_STREAM_KAFKA_CONFIG" in finished.stdout


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_unreachable_broker_exits_1_with_json_logs() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"

    finished = _run(
        "run", "--bootstrap-servers", bootstrap, "--input-topic", "events",
        "--metrics-host", "127.0.0.1", "--metrics-port", "0", "--log-format", "json",
        timeout=120,
    )

    assert finished.returncode == 1
    records = [json.loads(line) for line in finished.stderr.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    failures = [record for record in records if record["level"] == "ERROR"]
    assert any("cannot start" in record["message"] and bootstrap in record["message"] for record in failures)
    assert any("security.protocol (plaintext)" in record["message"] for record in failures)


def test_run_sigterm_while_broker_unreachable_exits_0() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    command = [
        sys.executable, "-m", "stream.cli", "run", "--bootstrap-servers", bootstrap, "--input-topic", "events",
        "--metrics-host", "127.0.0.1", "--metrics-port", "0",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=REPOSITORY, env=_clean_environment())
    try:
        _wait_for_line(process, b"no response from the broker", timeout=60)
        signalled_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 0, stderr
    assert time.monotonic() - signalled_at < 10
    assert b"stopped before consuming" in stderr


def _wait_for_line(process: subprocess.Popen[bytes], text: bytes, timeout: float) -> None:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{text!r} not logged within {timeout:g} s")


def test_check_empty_rules_folder_exits_1(tmp_path: Path) -> None:
    finished = _run("check", "--rules", str(tmp_path))

    assert finished.returncode == 1
    assert b"no rule file found" in finished.stderr


def test_replay_warns_on_unknown_category() -> None:
    event = b'{"event": {"category": ["process"]}, "process": {"name": "net.exe"}}\n'

    finished = _run("replay", "--query", 'proces where process.name : "net.exe"', stdin=event)

    assert finished.returncode == 0
    assert b"warning: rule 'command-line query': event category 'proces'" in finished.stderr
    assert finished.stdout == b""


REPLAY_SUMMARY_CASES = [
    pytest.param(ReplaySummary(62, 8, 0), "replay: 62 events read, 8 alerts, 0 lines skipped", id="plural"),
    pytest.param(ReplaySummary(1, 1, 1), "replay: 1 event read, 1 alert, 1 line skipped", id="singular"),
    pytest.param(ReplaySummary(9, 2, skipped_records=3), "replay: 9 events read, 2 alerts, 3 records skipped", id="records"),
    pytest.param(
        ReplaySummary(9, 2, 2, skipped_records=1), "replay: 9 events read, 2 alerts, 2 lines and 1 record skipped", id="both"
    ),
]


@pytest.mark.parametrize(("summary", "expected"), REPLAY_SUMMARY_CASES)
def test_replay_summary_describe(summary: ReplaySummary, expected: str) -> None:
    assert summary.describe() == expected


def test_replay_reports_evaluation_problem(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"event": {"category": ["process"]}, "process": {"pid": 3}}\n\n{"event": {"category": ["process"]}}\n')

    finished = _run("replay", "--query", "process where divide(process.pid, 0) == 1", str(events))

    assert finished.returncode == 0
    assert finished.stdout == b""
    expected = (
        f"replay: rule 'command-line query': {events} line 1: integer division by zero in divide(3, 0): "
        "the condition counts as false here, while Elasticsearch fails the search\n"
    ).encode()
    assert finished.stderr == expected + b"replay: 2 events read, 0 alerts, 0 lines skipped, 1 evaluation problem\n"


def test_replay_reports_avro_record_problem(tmp_path: Path) -> None:
    from stream.codecs.avro_codec import write_event_file

    events = tmp_path / "events.avro"
    records = [
        {"event": {"category": ["process"]}, "process": {"title": "1"}},
        {"event": {"category": ["process"]}, "process": {"title": "zz"}},
    ]
    with events.open("wb") as handle:
        write_event_file(handle, records)

    finished = _run("replay", "--query", "process where number(process.title) == 1", str(events))

    assert finished.returncode == 0
    assert f"replay: rule 'command-line query': {events} record 2: number(\"zz\") cannot parse".encode() in finished.stderr
    assert b"record 1:" not in finished.stderr
    assert b"replay: 2 events read, 1 alert" in finished.stderr


def test_replay_limits_problem_lines_per_rule(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": {"category": "process"}, "process": {"pid": 3}}\n' * 8)

    finished = _run("replay", "--query", "process where divide(process.pid, 0) == 1", str(events))

    lines = finished.stderr.decode().splitlines()
    assert finished.returncode == 0
    assert sum("integer division by zero" in line for line in lines) == 5
    assert "further evaluation problems are only counted in the summary" in lines[5]
    assert lines[-1] == "replay: 8 events read, 0 alerts, 0 lines skipped, 8 evaluation problems"
