"""Tests of the alert record builder, the alert uuid and the rule uuid."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from stream.alerts import RULE_UUID_NAMESPACE, AlertBuilder, SourceRef, alert_uuid, rule_uuid
from stream.rules.loaders import load_shipped_rules
from stream.rules.model import MitreTechnique, MitreThreat, Rule

LABELLED_EVENTS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "events" / "network-discovery-labelled.jsonl"
)

ALERT_TIME = datetime(2024, 5, 13, 7, 58, 2, 345678, tzinfo=UTC)
KAFKA_SOURCE = SourceRef.kafka("edr-process-events", 3, 1042)
FILE_SOURCE = SourceRef.file("replay/process-events.jsonl", 17)


def make_rule(**changes: Any) -> Rule:
    """Build the shipped network discovery rule's metadata, with ``changes`` applied."""
    rule = Rule(
        rule_id="c4e9ed3e-55a2-4309-a012-bc3c78dad10a",
        name="Windows System Network Connections Discovery",
        query='process where process.name : "netstat.exe"',
        description="Detects commands that list network connections.",
        version=4,
        severity="low",
        risk_score=21,
        building_block_type="default",
        tags=("Domain: Endpoint", "OS: Windows", "Tactic: Discovery"),
        threat=(
            MitreThreat(
                framework="MITRE ATT&CK",
                tactic_id="TA0007",
                tactic_name="Discovery",
                tactic_reference="https://attack.mitre.org/tactics/TA0007/",
                techniques=(
                    MitreTechnique(
                        "T1049", "System Network Connections Discovery",
                        "https://attack.mitre.org/techniques/T1049/",
                    ),
                    MitreTechnique(
                        "T1082", "System Information Discovery",
                        "https://attack.mitre.org/techniques/T1082/",
                    ),
                ),
            ),
        ),
        from_="now-9m",
        author=("Elastic",),
        license="Elastic License v2",
    )
    return dataclasses.replace(rule, **changes)


def make_event() -> dict[str, Any]:
    """Build a nested ECS process-start event with made-up values."""
    return {
        "@timestamp": "2024-05-13T07:57:17.544Z",
        "event": {
            "kind": "event",
            "category": ["process"],
            "type": ["start"],
            "action": "start",
            "module": "endpoint",
        },
        "host": {"name": "WKS-0142", "os": {"type": "windows"}},
        "user": {"name": "analyst01", "id": "S-1-5-21-1004336348-1177238915-682003330-1104"},
        "process": {
            "name": "net.exe",
            "args": ["net", "use"],
            "parent": {"name": "cmd.exe", "args": ["cmd.exe", "/c", "net use"]},
        },
    }


def build(event: Mapping[str, Any], source: SourceRef = KAFKA_SOURCE, rule: Rule | None = None) -> dict[str, Any]:
    return AlertBuilder(rule or make_rule()).build(event, source, now=ALERT_TIME)


# --- alert uuid and rule uuid ---


@pytest.mark.parametrize("source", [KAFKA_SOURCE, FILE_SOURCE], ids=["kafka", "file"])
def test_alert_uuid_same_inputs_same_id(source: SourceRef) -> None:
    equal_source = dataclasses.replace(source)

    first = alert_uuid(source, make_rule())
    second = alert_uuid(equal_source, make_rule())

    assert first == second
    assert re.fullmatch(r"[0-9a-f]{64}", first)


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        pytest.param(SourceRef.kafka("edr-process-events", 3, 1043), make_rule(), id="other-offset"),
        pytest.param(SourceRef.kafka("edr-process-events", 4, 1042), make_rule(), id="other-partition"),
        pytest.param(SourceRef.kafka("edr-other-events", 3, 1042), make_rule(), id="other-topic"),
        pytest.param(KAFKA_SOURCE, make_rule(rule_id="00000000-0000-4000-8000-000000000001"), id="other-rule-id"),
        pytest.param(KAFKA_SOURCE, make_rule(version=5), id="other-version"),
        pytest.param(SourceRef.file("edr-process-events/3", 1042), make_rule(), id="file-with-similar-text"),
    ],
)
def test_alert_uuid_differs_when_input_differs(source: SourceRef, rule: Rule) -> None:
    assert alert_uuid(source, rule) != alert_uuid(KAFKA_SOURCE, make_rule())


@pytest.mark.parametrize(
    ("source", "other"),
    [
        pytest.param(SourceRef.file("events.jsonl", 18), SourceRef.file("events.jsonl", 19), id="other-line"),
        pytest.param(SourceRef.file("a.jsonl", 1), SourceRef.file("b.jsonl", 1), id="other-path"),
    ],
)
def test_alert_uuid_differs_for_file_positions(source: SourceRef, other: SourceRef) -> None:
    assert alert_uuid(source, make_rule()) != alert_uuid(other, make_rule())


def test_alert_uuid_ignores_metadata_outside_key() -> None:
    renamed = make_rule(name="Renamed rule", severity="high", risk_score=73)

    assert alert_uuid(KAFKA_SOURCE, renamed) == alert_uuid(KAFKA_SOURCE, make_rule())


def test_alert_uuid_pinned_value() -> None:
    # Changing the derivation would give replayed events new ids, so the value is fixed.
    expected = "14fef0fe1981a8fbc8e1c58ffd168d23214fce00ceede140e6723cd60f51da8d"

    assert alert_uuid(KAFKA_SOURCE, make_rule()) == expected
    assert rule_uuid(make_rule()) == "6753689a-5d6c-5241-a8a6-019f988379c5"


def test_rule_uuid_is_uuid5_of_rule_id() -> None:
    rule = make_rule()

    value = rule_uuid(rule)

    assert value == str(uuid.uuid5(RULE_UUID_NAMESPACE, rule.rule_id))
    assert uuid.UUID(value).version == 5
    assert RULE_UUID_NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "urn:eql-stream:rule")


def test_rule_uuid_stable_across_versions() -> None:
    assert rule_uuid(make_rule(version=5)) == rule_uuid(make_rule())
    assert rule_uuid(make_rule(rule_id="other-rule")) != rule_uuid(make_rule())


# --- source references ---


@pytest.mark.parametrize(
    ("source", "identity"),
    [
        pytest.param(KAFKA_SOURCE, "kafka:edr-process-events/3/1042", id="kafka"),
        pytest.param(FILE_SOURCE, "file:replay/process-events.jsonl:17", id="file"),
    ],
)
def test_source_ref_identity_text(source: SourceRef, identity: str) -> None:
    assert source.identity() == identity


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="empty"),
        pytest.param({"topic": "t", "partition": 0}, id="kafka-without-offset"),
        pytest.param({"topic": "", "partition": 0, "offset": 0}, id="empty-topic"),
        pytest.param({"topic": "t", "partition": -1, "offset": 0}, id="negative-partition"),
        pytest.param({"topic": "t", "partition": 0, "offset": -1}, id="negative-offset"),
        pytest.param({"topic": "t", "partition": True, "offset": 0}, id="boolean-partition"),
        pytest.param({"path": "events.jsonl"}, id="file-without-line"),
        pytest.param({"path": "events.jsonl", "line": 0}, id="line-zero"),
        pytest.param({"path": "", "line": 1}, id="empty-path"),
        pytest.param({"topic": "t", "partition": 0, "offset": 0, "line": 1}, id="mixed-kinds"),
    ],
)
def test_source_ref_rejects_invalid_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid"):
        SourceRef(**fields)


# --- record fields ---


def test_build_kafka_record_alert_fields() -> None:
    rule = make_rule()

    record = build(make_event(), KAFKA_SOURCE, rule)

    assert record["@timestamp"] == "2024-05-13T07:58:02.345Z"
    assert record["kibana.alert.uuid"] == alert_uuid(KAFKA_SOURCE, rule)
    assert record["kibana.alert.status"] == "active"
    assert record["kibana.alert.workflow_status"] == "open"
    assert record["kibana.alert.depth"] == 1
    assert record["kibana.alert.severity"] == "low"
    assert record["kibana.alert.risk_score"] == 21
    assert record["kibana.alert.building_block_type"] == "default"
    assert record["kibana.alert.original_time"] == "2024-05-13T07:57:17.544Z"
    assert record["kibana.alert.ancestors"] == [
        {
            "id": "edr-process-events/3/1042",
            "type": "event",
            "index": "edr-process-events",
            "depth": 0,
            "kafka": {"topic": "edr-process-events", "partition": 3, "offset": 1042},
        }
    ]


def test_build_file_record_ancestor() -> None:
    rule = make_rule()

    record = build(make_event(), FILE_SOURCE, rule)

    assert record["kibana.alert.uuid"] == alert_uuid(FILE_SOURCE, rule)
    assert record["kibana.alert.ancestors"] == [
        {
            "id": "replay/process-events.jsonl:17",
            "type": "event",
            "index": "replay/process-events.jsonl",
            "depth": 0,
            "file": {"path": "replay/process-events.jsonl", "line": 17},
        }
    ]


@pytest.mark.parametrize("source", [KAFKA_SOURCE, FILE_SOURCE], ids=["kafka", "file"])
def test_build_rule_fields(source: SourceRef) -> None:
    rule = make_rule()

    record = build(make_event(), source, rule)

    expected = {
        "kibana.alert.rule.uuid": rule_uuid(rule),
        "kibana.alert.rule.rule_id": "c4e9ed3e-55a2-4309-a012-bc3c78dad10a",
        "kibana.alert.rule.name": "Windows System Network Connections Discovery",
        "kibana.alert.rule.description": "Detects commands that list network connections.",
        "kibana.alert.rule.version": 4,
        "kibana.alert.rule.type": "eql",
        "kibana.alert.rule.severity": "low",
        "kibana.alert.rule.risk_score": 21,
        "kibana.alert.rule.tags": ["Domain: Endpoint", "OS: Windows", "Tactic: Discovery"],
        "kibana.alert.rule.threat": [threat.to_dict() for threat in rule.threat],
        "kibana.alert.rule.building_block_type": "default",
        "kibana.alert.rule.from": "now-9m",
        "kibana.alert.rule.interval": "5m",
        "kibana.alert.rule.max_signals": 100,
        "kibana.alert.rule.author": ["Elastic"],
        "kibana.alert.rule.license": "Elastic License v2",
        "kibana.alert.rule.references": [],
        "kibana.alert.rule.category": "Event Correlation Rule",
        "kibana.alert.rule.producer": "siem",
        "kibana.alert.rule.consumer": "siem",
        "kibana.alert.rule.rule_type_id": "siem.eqlRule",
    }
    rule_fields = {key: value for key, value in record.items() if key.startswith("kibana.alert.rule.")}
    assert rule_fields == expected


def test_build_threat_shape_matches_elastic() -> None:
    record = build(make_event())

    [threat] = record["kibana.alert.rule.threat"]
    assert threat["framework"] == "MITRE ATT&CK"
    assert threat["tactic"] == {
        "id": "TA0007",
        "name": "Discovery",
        "reference": "https://attack.mitre.org/tactics/TA0007/",
    }
    assert [technique["id"] for technique in threat["technique"]] == ["T1049", "T1082"]


def test_build_without_building_block_type() -> None:
    record = build(make_event(), rule=make_rule(building_block_type=None))

    assert "kibana.alert.building_block_type" not in record
    assert "kibana.alert.rule.building_block_type" not in record


def test_build_non_eql_rule_omits_eql_type_fields() -> None:
    record = build(make_event(), rule=make_rule(type="query", language="kuery"))

    assert record["kibana.alert.rule.type"] == "query"
    assert "kibana.alert.rule.rule_type_id" not in record
    assert "kibana.alert.rule.category" not in record


def test_build_without_source_timestamp() -> None:
    event = make_event()
    del event["@timestamp"]

    record = build(event)

    assert "kibana.alert.original_time" not in record
    assert record["@timestamp"] == "2024-05-13T07:58:02.345Z"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(
            datetime(2024, 5, 13, 7, 58, 2, 999999, tzinfo=UTC), "2024-05-13T07:58:02.999Z", id="truncates-microseconds"
        ),
        pytest.param(datetime(2024, 5, 13, 7, 58, 2, tzinfo=UTC), "2024-05-13T07:58:02.000Z", id="whole-second"),
        pytest.param(
            datetime(2024, 5, 13, 9, 58, 2, 5000, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-13T07:58:02.005Z",
            id="converts-offset",
        ),
    ],
)
def test_build_timestamp_format(now: datetime, expected: str) -> None:
    record = AlertBuilder(make_rule()).build(make_event(), KAFKA_SOURCE, now=now)

    assert record["@timestamp"] == expected


def test_build_default_time_is_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    record = AlertBuilder(make_rule()).build(make_event(), KAFKA_SOURCE)

    alert_time = datetime.fromisoformat(record["@timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["@timestamp"])
    assert before <= alert_time <= datetime.now(UTC)


def test_build_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        AlertBuilder(make_rule()).build(make_event(), KAFKA_SOURCE, now=datetime(2024, 5, 13, 7, 58))


# --- source fields copied, event.kind and original_event ---


def test_build_copies_every_source_field() -> None:
    event = make_event()

    record = build(event)

    for key in ("host", "user", "process"):
        assert record[key] == event[key]
    expected_event = dict(event["event"], kind="signal")
    assert record["event"] == expected_event


def test_build_leaves_source_unchanged() -> None:
    event = make_event()
    snapshot = copy.deepcopy(event)

    record = build(event)
    record["process"]["args"].append("/delete")
    record["process"]["parent"]["name"] = "changed.exe"
    record["kibana.alert.original_event.category"].append("network")
    record["event"]["type"].append("end")

    assert event == snapshot


def test_build_without_copy_equals_copied_record() -> None:
    builder = AlertBuilder(make_rule())
    event = make_event()
    snapshot = copy.deepcopy(event)

    shared = builder.build(event, KAFKA_SOURCE, now=ALERT_TIME, copy_source=False)
    copied = builder.build(event, KAFKA_SOURCE, now=ALERT_TIME)

    assert shared == copied
    assert list(shared) == list(copied)
    assert event == snapshot
    assert shared["process"] is event["process"]


def test_build_records_share_no_lists() -> None:
    builder = AlertBuilder(make_rule())

    first = builder.build(make_event(), KAFKA_SOURCE, now=ALERT_TIME)
    first["kibana.alert.rule.tags"].append("changed")
    first["kibana.alert.rule.threat"][0]["technique"].clear()
    first["kibana.alert.ancestors"][0]["kafka"]["offset"] = 0
    second = builder.build(make_event(), KAFKA_SOURCE, now=ALERT_TIME)

    assert second["kibana.alert.rule.tags"] == ["Domain: Endpoint", "OS: Windows", "Tactic: Discovery"]
    assert len(second["kibana.alert.rule.threat"][0]["technique"]) == 2
    assert second["kibana.alert.ancestors"][0]["kafka"]["offset"] == 1042


def test_build_accepts_read_only_mappings() -> None:
    event = make_event()
    read_only = MappingProxyType({**event, "host": MappingProxyType(event["host"]), "tags": ("a", "b")})

    record = build(read_only)

    assert record["host"] == {"name": "WKS-0142", "os": {"type": "windows"}}
    assert record["tags"] == ["a", "b"]
    assert "on WKS-0142" in record["kibana.alert.reason"]


def test_build_nested_event_kind_and_original_event() -> None:
    record = build(make_event())

    assert record["event"]["kind"] == "signal"
    assert "event.kind" not in record
    original = {
        key.removeprefix("kibana.alert.original_event."): value
        for key, value in record.items()
        if key.startswith("kibana.alert.original_event.")
    }
    assert original == {
        "kind": "event",
        "category": ["process"],
        "type": ["start"],
        "action": "start",
        "module": "endpoint",
    }


def test_build_dotted_event_kind_and_original_event() -> None:
    event = {
        "@timestamp": "2024-05-13T07:57:17.544Z",
        "event.kind": "event",
        "event.category": ["process"],
        "process.name": "netstat.exe",
    }

    record = build(event)

    assert record["event.kind"] == "signal"
    assert "event" not in record
    assert record["event.category"] == ["process"]
    assert record["kibana.alert.original_event.kind"] == "event"
    assert record["kibana.alert.original_event.category"] == ["process"]


def test_build_event_without_event_fields() -> None:
    record = build({"process": {"name": "netstat.exe"}})

    assert record["event"] == {"kind": "signal"}
    assert not any(key.startswith("kibana.alert.original_event") for key in record)


def test_build_overrides_source_alert_fields() -> None:
    event = make_event()
    event["kibana.alert.uuid"] = "from-the-source"
    event["kibana.alert.depth"] = 7

    record = build(event)

    assert record["kibana.alert.uuid"] == alert_uuid(KAFKA_SOURCE, make_rule())
    assert record["kibana.alert.depth"] == 1


# --- reason sentence ---


def with_fields(**dotted: Any) -> dict[str, Any]:
    """Build an event from dotted field names, given as keyword names with ``__`` for dots."""
    return {name.replace("__", "."): value for name, value in dotted.items()}


ENDING = "created low alert Windows System Network Connections Discovery."


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param(
            make_event(),
            "process event with process net.exe, parent process cmd.exe, by analyst01 on WKS-0142 " + ENDING,
            id="all-process-fields",
        ),
        pytest.param(
            {"event": {"category": ["process"]}, "process": {"name": "netstat.exe"}},
            "process event with process netstat.exe, " + ENDING,
            id="without-parent-user-host",
        ),
        pytest.param(
            {"event": {"category": ["process"]}, "user": {"name": "analyst01"}, "host": {"name": "WKS-0142"}},
            "process event by analyst01 on WKS-0142 " + ENDING,
            id="no-field-of-interest-no-with",
        ),
        pytest.param({}, "event " + ENDING, id="empty-event"),
        pytest.param(
            {"event": {"category": ["network", "process"]}, "process": {"name": "nbtstat.exe"}},
            "network, process event with process nbtstat.exe, " + ENDING,
            id="list-category-joined",
        ),
        pytest.param(
            with_fields(
                event__category="network",
                process__name="certutil.exe",
                source__ip="10.0.0.5",
                source__port=51234,
                destination__ip="198.51.100.7",
                destination__port=443,
            ),
            "network event with process certutil.exe, source 10.0.0.5:51234, destination 198.51.100.7:443, "
            + ENDING,
            id="network-with-ports",
        ),
        pytest.param(
            with_fields(destination__ip="198.51.100.7", source__port=51234),
            "event with destination 198.51.100.7, " + ENDING,
            id="port-without-address-left-out",
        ),
        pytest.param(
            with_fields(file__name="startup.vbs", user__name="-", host__name=["WKS-0142"]),
            "event with file startup.vbs, on WKS-0142 " + ENDING,
            id="dash-placeholder-left-out",
        ),
        pytest.param(
            {"process": {"parent.name": "cmd.exe"}, "process.name": "net.exe", "user": {"name": ""}},
            "event with process net.exe, parent process cmd.exe, " + ENDING,
            id="mixed-dotted-and-nested",
        ),
        pytest.param(
            {"process": {"name": {"unexpected": "object"}}, "host": {"name": []}},
            "event " + ENDING,
            id="objects-and-empty-lists-left-out",
        ),
    ],
)
def test_build_reason_sentence(event: dict[str, Any], reason: str) -> None:
    record = build(copy.deepcopy(event))

    assert record["kibana.alert.reason"] == reason


def test_build_reason_uses_rule_severity_and_name() -> None:
    rule = make_rule(severity="high", name="Other rule")

    record = build({"process": {"name": "net.exe"}}, rule=rule)

    assert record["kibana.alert.reason"] == "event with process net.exe, created high alert Other rule."


# --- serialisation ---


@pytest.mark.parametrize("source", [KAFKA_SOURCE, FILE_SOURCE], ids=["kafka", "file"])
def test_build_record_round_trips_through_orjson(source: SourceRef) -> None:
    record = build(make_event(), source)

    encoded = orjson.dumps(record)

    assert orjson.loads(encoded) == record
    assert json.loads(encoded) == record


def labelled_matching_events() -> list[dict[str, Any]]:
    if not LABELLED_EVENTS.is_file():
        pytest.skip(f"labelled event corpus not found at {LABELLED_EVENTS}: the shared data folder is absent")

    events = []
    for line in LABELLED_EVENTS.read_text(encoding="utf-8").splitlines():
        document = json.loads(line)
        if document.pop("_expect"):
            document.pop("_why")
            events.append(document)
    return events


def test_build_labelled_corpus_events() -> None:
    builder = AlertBuilder(make_rule())

    for line_number, event in enumerate(labelled_matching_events(), start=1):
        snapshot = copy.deepcopy(event)
        source = SourceRef.file(str(LABELLED_EVENTS), line_number)

        record = builder.build(event, source, now=ALERT_TIME)

        assert event == snapshot
        assert orjson.loads(orjson.dumps(record)) == record
        assert record["event"]["kind"] == "signal"
        assert record["kibana.alert.original_event.kind"] == event["event"]["kind"]
        assert record["kibana.alert.original_time"] == event["@timestamp"]
        assert record["kibana.alert.reason"].endswith(ENDING)
        assert record["process"] == event["process"]


def test_build_current_time_is_utc_milliseconds() -> None:
    builder = AlertBuilder(load_shipped_rules()[0])

    before = datetime.now(UTC)
    stamps = [builder.build({"event": {"category": ["process"]}}, SourceRef.kafka("t", 0, 0))["@timestamp"] for _ in range(3)]
    after = datetime.now(UTC)

    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before - timedelta(milliseconds=1) <= moment <= after
    assert stamps == sorted(stamps)
