"""replay on an Avro Object Container File gives the same alerts as on the NDJSON corpus."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream.codecs.avro_codec import write_event_file
from stream.codecs.avro_schema import PROCESS_EVENT_SCHEMA, load_shipped_schema, parse_definition

REPOSITORY = Path(__file__).resolve().parents[2]
CORPUS = REPOSITORY / "tests" / "data" / "network-discovery-labelled.jsonl"


def _replay(path: Path) -> tuple[list[dict], str]:
    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", str(path)],
        capture_output=True,
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in finished.stdout.splitlines()], finished.stderr.decode()


def _alert_key(alert: dict) -> tuple:
    return (
        alert["kibana.alert.rule.rule_id"],
        alert["kibana.alert.original_time"],
        alert["process"]["command_line"],
        alert["process"]["name"],
    )


def _write_corpus_file(path: Path, count: int | None = None, codec: str = "deflate") -> Path:
    """Write the first ``count`` corpus events (all by default), without their labels, to an Avro file at ``path``."""
    events = []
    for line in CORPUS.read_bytes().splitlines()[:count]:
        document = json.loads(line)
        document.pop("_expect")
        document.pop("_why")
        events.append(document)
    with path.open("wb") as handle:
        write_event_file(handle, events, codec=codec)
    return path


def test_replay_avro_file_same_alerts_as_json(tmp_path: Path) -> None:
    avro_path = _write_corpus_file(tmp_path / "corpus.avro")

    json_alerts, _ = _replay(CORPUS)
    avro_alerts, avro_summary = _replay(avro_path)

    assert len(avro_alerts) == 43
    assert sorted(map(_alert_key, avro_alerts)) == sorted(map(_alert_key, json_alerts))
    assert "213 events read, 43 alerts, 0 lines skipped" in avro_summary


def test_replay_avro_on_standard_input(tmp_path: Path) -> None:
    avro_path = _write_corpus_file(tmp_path / "part.avro", 50)

    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", "-"],
        input=avro_path.read_bytes(), capture_output=True, cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, timeout=120,
    )

    file_alerts, _ = _replay(avro_path)
    stdin_alerts = [json.loads(line) for line in finished.stdout.splitlines()]
    assert finished.returncode == 0, finished.stderr
    assert b"replay: 50 events read" in finished.stderr
    assert len(stdin_alerts) == len(file_alerts) > 0
    assert sorted(map(_alert_key, stdin_alerts)) == sorted(map(_alert_key, file_alerts))


def test_replay_avro_corrupt_block_reported(tmp_path: Path) -> None:
    avro_path = _write_corpus_file(tmp_path / "corrupt.avro", 50, codec="null")
    data = bytearray(avro_path.read_bytes())
    data[-200:-150] = b"\xff" * 50
    avro_path.write_bytes(bytes(data))

    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", str(avro_path)],
        capture_output=True, cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, timeout=120,
    )

    assert finished.returncode == 1
    assert b"stopped reading (invalid_avro)" in finished.stderr


def test_replay_avro_skips_unresolvable_record(tmp_path: Path) -> None:
    # The writer's event.id may also be a long, which the shipped reader schema's union lacks.
    schema = load_shipped_schema(PROCESS_EVENT_SCHEMA)
    plain = '{"name": "id", "type": ["null", "string"]'
    widened = json.dumps(schema.definition).replace(plain, '{"name": "id", "type": ["null", "string", "long"]')
    writer = parse_definition(json.loads(widened), source="test")
    alerting = {"event": {"category": ["process"], "type": ["start"]}, "process": {"name": "netstat.exe"}}
    events = [alerting, {**alerting, "event": {**alerting["event"], "id": 5}}, alerting]
    avro_path = tmp_path / "widened.avro"
    with avro_path.open("wb") as handle:
        write_event_file(handle, events, writer)

    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", str(avro_path)],
        capture_output=True, cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, timeout=120,
    )

    assert finished.returncode == 0, finished.stderr
    assert len(finished.stdout.splitlines()) == 2
    assert b"record 2: skipped (invalid_avro): the record does not resolve to the reader schema" in finished.stderr
    assert b"replay: 2 events read, 2 alerts, 1 record skipped" in finished.stderr


def test_replay_avro_codec_without_package(tmp_path: Path) -> None:
    if importlib.util.find_spec("lz4") is not None:
        pytest.skip("the lz4 package is installed, so fastavro can read lz4 blocks")
    avro_path = tmp_path / "lz4.avro"
    with avro_path.open("wb") as handle:
        write_event_file(handle, [{"process": {"name": "net.exe"}}], codec="null")
    # The header's codec entry is a length-prefixed string, so "null" can become "lz4" in place.
    data = avro_path.read_bytes()
    assert data.count(b"avro.codec\x08null") == 1
    avro_path.write_bytes(data.replace(b"avro.codec\x08null", b"avro.codec\x06lz4"))

    finished = subprocess.run(
        [sys.executable, "-m", "stream.cli", "replay", str(avro_path)],
        capture_output=True, cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, timeout=120,
    )

    assert finished.returncode == 1
    assert b"stopped reading (unsupported_codec)" in finished.stderr
    assert b"compressed with lz4" in finished.stderr
