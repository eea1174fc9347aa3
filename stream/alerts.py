"""Alert records shaped like Elastic Security alerts, and their deterministic ids.

A record is a deep copy of the source event with ``event.kind`` set to ``signal``
and Elastic's ``kibana.alert.*`` fields added as flat dotted keys, the way the
``.alerts-security.alerts-*`` indices store them. The copied event keeps its own
shape (nested objects, dotted keys or a mix). ``docs/alert-record.md`` lists every
field and where its value comes from.
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import orjson

from stream.rules.model import Rule

__all__ = ["AlertBuilder", "SourceRef", "alert_uuid", "rule_uuid"]

# Namespace of the uuid5 rule ids. Changing it changes every kibana.alert.rule.uuid.
RULE_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:eql-stream:rule")

# Rule type constants that Kibana writes for its EQL rule type ("siem.eqlRule",
# registered by the Security app, whose server id is "siem").
_RULE_TYPE_FIELDS: dict[str, dict[str, str]] = {
    "eql": {
        "kibana.alert.rule.category": "Event Correlation Rule",
        "kibana.alert.rule.rule_type_id": "siem.eqlRule",
    },
}

_ORIGINAL_EVENT = "kibana.alert.original_event"

_JSON_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Position of the source event: a Kafka record or a line of a file.

    Exactly one kind is set: ``topic``, ``partition`` and ``offset`` for Kafka, or
    ``path`` and ``line`` (1-based) for a file. Build one with :meth:`kafka` or
    :meth:`file`. Invalid or mixed fields raise ``ValueError``.
    """

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    path: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.path is None and self.line is None:
            self._validate_kafka()
        elif self.topic is None and self.partition is None and self.offset is None:
            self._validate_file()
        else:
            raise ValueError(
                f"invalid source reference {self!r}: set either topic, partition and offset "
                "(Kafka) or path and line (file), not fields of both"
            )

    @classmethod
    def kafka(cls, topic: str, partition: int, offset: int) -> SourceRef:
        """Create a reference to the Kafka record at ``offset`` of ``topic``/``partition``."""
        return cls(topic=topic, partition=partition, offset=offset)

    @classmethod
    def file(cls, path: str, line: int) -> SourceRef:
        """Create a reference to line ``line`` (1-based) of the file ``path``."""
        return cls(path=path, line=line)

    @property
    def is_kafka(self) -> bool:
        """Whether the event came from Kafka rather than from a file."""
        return self.topic is not None

    def identity(self) -> str:
        """Return ``kafka:<topic>/<partition>/<offset>`` or ``file:<path>:<line>``.

        Distinct references always give distinct text, because the numbers come
        last and the prefix names the kind. A file identity uses ``path`` as given,
        so a relative and an absolute path to the same file give different ids.
        """
        if self.topic is not None:
            return f"kafka:{self.topic}/{self.partition}/{self.offset}"
        return f"file:{self.path}:{self.line}"

    def _validate_kafka(self) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise ValueError(f"invalid Kafka source: topic must be a non-empty string, got {self.topic!r}")
        if not _is_count(self.partition, minimum=0):
            raise ValueError(f"invalid Kafka source: partition must be an integer >= 0, got {self.partition!r}")
        if not _is_count(self.offset, minimum=0):
            raise ValueError(f"invalid Kafka source: offset must be an integer >= 0, got {self.offset!r}")

    def _validate_file(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"invalid file source: path must be a non-empty string, got {self.path!r}")
        if not _is_count(self.line, minimum=1):
            raise ValueError(f"invalid file source: line must be an integer >= 1, got {self.line!r}")


def alert_uuid(source: SourceRef, rule: Rule) -> str:
    """Return the alert id: the SHA-256 hex digest (64 characters) of source and rule.

    The digest covers the compact UTF-8 JSON array ``[identity, rule_id, version]``,
    so the same event matched by the same rule version always gets the same id.
    """
    return _digest_alert_key(source.identity(), rule.rule_id, rule.version)


def rule_uuid(rule: Rule) -> str:
    """Return the uuid5 of ``rule.rule_id`` in :data:`RULE_UUID_NAMESPACE`.

    The id does not depend on the rule version, as Kibana's rule uuid stays the
    same when a rule is updated.
    """
    return str(uuid.uuid5(RULE_UUID_NAMESPACE, rule.rule_id))


class AlertBuilder:
    """Builder of alert records for one rule.

    The constructor computes the fields that depend only on the rule, so
    :meth:`build` does per event only the copying, hashing and formatting that the
    event needs.
    """

    __slots__ = ("_rule", "_rule_fields", "_list_keys", "_reason_ending")

    def __init__(self, rule: Rule) -> None:
        self._rule = rule
        self._rule_fields = _build_rule_fields(rule)
        # Only list values need a fresh copy per record, because the others are immutable.
        self._list_keys = tuple(key for key, value in self._rule_fields.items() if isinstance(value, list))
        self._reason_ending = f"created {rule.severity} alert {rule.display_name}."

    @property
    def rule(self) -> Rule:
        """The rule whose alerts this builder makes."""
        return self._rule

    def build(
        self, event: Mapping[str, Any], source: SourceRef, *, now: datetime | None = None, copy_source: bool = True
    ) -> dict[str, Any]:
        """Build the alert record for ``event``, which matched the rule.

        ``now`` is the alert time (default: the current time) and must be
        timezone-aware, or ``ValueError`` is raised. ``event`` is left
        unchanged. The record shares no mutable object with ``event``, with the
        builder or with other records, unless ``copy_source`` is false: then
        the record holds the source's own values (all but its ``event``
        object, which the record changes) and the builder's rule lists,
        without turning tuples and other mappings into lists and dicts, which
        saves most of the cost of a build. Pass false only when the record is encoded at once and neither
        it nor ``event`` is changed afterwards.
        """
        record: dict[str, Any] = {"@timestamp": _format_timestamp(now)}

        # Copy the source first so that its fields keep their order after @timestamp.
        copy = _copy_value if copy_source else _same_value
        for key, value in event.items():
            if key != "@timestamp":
                record[key] = copy(value)
        if not copy_source and _is_mapping(record.get("event")):
            record["event"] = dict(record["event"])
        _set_signal_kind(record)

        record["kibana.alert.uuid"] = _digest_alert_key(
            source.identity(), self._rule.rule_id, self._rule.version
        )
        record["kibana.alert.status"] = "active"
        record["kibana.alert.workflow_status"] = "open"
        record["kibana.alert.depth"] = 1
        record["kibana.alert.reason"] = _build_reason(event, self._reason_ending)

        original_time = event.get("@timestamp")
        if original_time is not None:
            record["kibana.alert.original_time"] = _copy_value(original_time)
        record.update(_original_event_fields(event, copy))
        record["kibana.alert.ancestors"] = [_build_ancestor(source)]

        record.update(self._rule_fields)
        if copy_source:
            for key in self._list_keys:
                record[key] = _copy_value(record[key])
        return record


def _is_count(value: object, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _digest_alert_key(identity: str, rule_id: str, version: int) -> str:
    # JSON escaping keeps the three parts apart whatever characters they contain.
    return hashlib.sha256(orjson.dumps([identity, rule_id, version])).hexdigest()


def _format_timestamp(now: datetime | None) -> str:
    """Format ``now`` (default: the current time) as ISO 8601 UTC with milliseconds and ``Z``."""
    if now is None:
        return _current_time_text()
    moment = now
    if moment.utcoffset() is None:
        raise ValueError(
            f"invalid alert time {moment.isoformat()}: it has no timezone. Pass an aware "
            "datetime such as datetime.now(UTC)."
        )

    # astimezone(UTC) makes isoformat end in "+00:00", which Elastic writes as "Z".
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# The second of the last formatted current time, and its text up to the seconds. One tuple, so
# that a thread reading it never pairs one second with another second's text.
_formatted_second: tuple[int, str] = (-1, "")


def _current_time_text() -> str:
    """Return the current time as ISO 8601 UTC with milliseconds and ``Z``, formatting date and time once a second."""
    global _formatted_second
    second, millisecond = divmod(time.time_ns() // 1_000_000, 1000)
    cached = _formatted_second
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _formatted_second = cached
    return f"{cached[1]}.{millisecond:03d}Z"


def _copy_value(value: Any) -> Any:
    """Return a deep copy of a JSON-shaped value.

    Mappings become dicts and tuples become lists. Strings, numbers, booleans and
    None are returned as they are. Any other object goes through ``copy.deepcopy``.
    """
    # Exact type checks come first because they are faster than isinstance with an
    # abstract base class, and JSON-decoded events contain only these types.
    kind = type(value)
    if kind is dict:
        return {key: _copy_value(item) for key, item in value.items()}
    if kind is list:
        return [_copy_value(item) for item in value]
    if kind in _JSON_SCALAR_TYPES:
        return value

    if isinstance(value, Mapping):
        return {key: _copy_value(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_copy_value(item) for item in value]
    return copy.deepcopy(value)


def _same_value(value: Any) -> Any:
    return value


def _is_mapping(value: Any) -> bool:
    # The abstract-class check is slow, and decoded events hold mostly exact JSON types.
    kind = type(value)
    if kind is dict:
        return True
    if kind in _JSON_SCALAR_TYPES or kind is list:
        return False
    return isinstance(value, Mapping)


def _set_signal_kind(record: dict[str, Any]) -> None:
    """Replace the copied ``event.kind`` with ``signal``, in the shape the source uses.

    A nested ``event`` object gets the key ``kind``. A source that writes its event
    fields as dotted keys, or whose ``event`` is not an object, gets the dotted key
    ``event.kind``. A source without event fields gets a new ``event`` object.
    """
    record.pop("event.kind", None)
    event_object = record.get("event")

    if isinstance(event_object, dict):
        event_object["kind"] = "signal"
    elif event_object is None and not any(key.startswith("event.") for key in record):
        record["event"] = {"kind": "signal"}
    else:
        record["event.kind"] = "signal"


def _original_event_fields(event: Mapping[str, Any], copy_leaf: Callable[[Any], Any] = _copy_value) -> dict[str, Any]:
    """Return the source's ``event.*`` fields as flat ``kibana.alert.original_event.*`` keys.

    Each leaf value goes through ``copy_leaf``: a deep copy by default, or the
    value itself when the caller lets the record share the source's values.
    """
    fields: dict[str, Any] = {}
    event_object = event.get("event")
    if _is_mapping(event_object):
        _flatten_into(fields, _ORIGINAL_EVENT, event_object, copy_leaf)

    for key, value in event.items():
        if key.startswith("event."):
            _flatten_into(fields, f"{_ORIGINAL_EVENT}.{key[6:]}", value, copy_leaf)
    return fields


def _flatten_into(target: dict[str, Any], prefix: str, value: Any, copy_leaf: Callable[[Any], Any]) -> None:
    if _is_mapping(value):
        for key, item in value.items():
            _flatten_into(target, f"{prefix}.{key}", item, copy_leaf)
    else:
        target[prefix] = copy_leaf(value)


def _build_ancestor(source: SourceRef) -> dict[str, Any]:
    """Describe the source event as Elastic's ancestor entry, plus its Kafka or file position."""
    if source.is_kafka:
        return {
            "id": f"{source.topic}/{source.partition}/{source.offset}",
            "type": "event",
            "index": source.topic,
            "depth": 0,
            "kafka": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
        }
    return {
        "id": f"{source.path}:{source.line}",
        "type": "event",
        "index": source.path,
        "depth": 0,
        "file": {"path": source.path, "line": source.line},
    }


def _build_rule_fields(rule: Rule) -> dict[str, Any]:
    """Build the ``kibana.alert.*`` fields that depend only on the rule."""
    fields: dict[str, Any] = {
        "kibana.alert.severity": rule.severity,
        "kibana.alert.risk_score": rule.risk_score,
    }
    if rule.building_block_type is not None:
        fields["kibana.alert.building_block_type"] = rule.building_block_type

    fields.update(
        {
            "kibana.alert.rule.uuid": rule_uuid(rule),
            "kibana.alert.rule.rule_id": rule.rule_id,
            "kibana.alert.rule.name": rule.name,
            "kibana.alert.rule.description": rule.description,
            "kibana.alert.rule.version": rule.version,
            "kibana.alert.rule.type": rule.type,
            "kibana.alert.rule.severity": rule.severity,
            "kibana.alert.rule.risk_score": rule.risk_score,
            "kibana.alert.rule.tags": list(rule.tags),
            "kibana.alert.rule.threat": [threat.to_dict() for threat in rule.threat],
        }
    )
    if rule.building_block_type is not None:
        fields["kibana.alert.rule.building_block_type"] = rule.building_block_type

    fields.update(
        {
            "kibana.alert.rule.from": rule.from_,
            "kibana.alert.rule.interval": rule.interval,
            "kibana.alert.rule.max_signals": rule.max_signals,
            "kibana.alert.rule.author": list(rule.author),
            "kibana.alert.rule.license": rule.license,
            "kibana.alert.rule.references": list(rule.references),
            "kibana.alert.rule.producer": "siem",
            "kibana.alert.rule.consumer": "siem",
        }
    )
    fields.update(_RULE_TYPE_FIELDS.get(rule.type, {}))
    return fields


# A compiled field path lists, longest first, each dotted prefix that may be a key
# of the current object, with the compiled rest of the path (None at the end).
_CompiledPath: TypeAlias = tuple[tuple[str, "_CompiledPath | None"], ...]


def _compile_path(dotted: str) -> _CompiledPath:
    parts = dotted.split(".")
    steps = []
    for count in range(len(parts), 0, -1):
        rest = _compile_path(".".join(parts[count:])) if count < len(parts) else None
        steps.append((".".join(parts[:count]), rest))
    return tuple(steps)


def _lookup(document: Mapping[str, Any], path: _CompiledPath) -> Any:
    """Return the value at ``path``, or None when it is absent.

    The document may spell the path as nested objects, dotted keys or a mix of both.
    """
    for key, rest in path:
        if key not in document:
            continue
        value = document[key]
        if rest is None:
            return value
        if _is_mapping(value):
            found = _lookup(value, rest)
            if found is not None:
                return found
    return None


_EVENT_CATEGORY = _compile_path("event.category")
_PROCESS_NAME = _compile_path("process.name")
_PARENT_NAME = _compile_path("process.parent.name")
_FILE_NAME = _compile_path("file.name")
_SOURCE_IP = _compile_path("source.ip")
_SOURCE_PORT = _compile_path("source.port")
_DESTINATION_IP = _compile_path("destination.ip")
_DESTINATION_PORT = _compile_path("destination.port")
_USER_NAME = _compile_path("user.name")
_HOST_NAME = _compile_path("host.name")


def _build_reason(event: Mapping[str, Any], ending: str) -> str:
    """Write the alert reason sentence, in the order of Kibana's reason formatter.

    Example: ``process event with process net.exe, parent process cmd.exe, by
    analyst01 on WKS-0142 created low alert <rule name>.`` Absent fields are left
    out, and ``with`` appears only when a process, file or network field is present.
    """
    details = []
    process_name = _display(_lookup(event, _PROCESS_NAME))
    if process_name is not None:
        details.append(f"process {process_name},")
    parent_name = _display(_lookup(event, _PARENT_NAME))
    if parent_name is not None:
        details.append(f"parent process {parent_name},")
    file_name = _display(_lookup(event, _FILE_NAME))
    if file_name is not None:
        details.append(f"file {file_name},")
    details.extend(_describe_endpoint(event, "source", _SOURCE_IP, _SOURCE_PORT))
    details.extend(_describe_endpoint(event, "destination", _DESTINATION_IP, _DESTINATION_PORT))

    category = _display(_lookup(event, _EVENT_CATEGORY))
    words = [f"{category} event" if category is not None else "event"]
    if details:
        words.append("with")
        words.extend(details)

    user_name = _display(_lookup(event, _USER_NAME))
    if user_name is not None:
        words.append(f"by {user_name}")
    host_name = _display(_lookup(event, _HOST_NAME))
    if host_name is not None:
        words.append(f"on {host_name}")

    words.append(ending)
    return " ".join(words)


def _describe_endpoint(
    event: Mapping[str, Any], label: str, address_path: _CompiledPath, port_path: _CompiledPath
) -> list[str]:
    """Return ``["<label> <address>[:<port>],"]``, or nothing when the address is absent."""
    address = _display(_lookup(event, address_path))
    if address is None:
        return []
    port = _display(_lookup(event, port_path))
    if port is None:
        return [f"{label} {address},"]
    return [f"{label} {address}:{port},"]


def _display(value: Any) -> str | None:
    """Return a field value as reason text, or None for an absent, empty or ``-`` value.

    List elements are joined with ``", "``. Objects are not shown.
    """
    if isinstance(value, (list, tuple)):
        texts = [text for text in map(_scalar_text, value) if text]
        joined = ", ".join(texts)
        return joined if joined and joined != "-" else None

    text = _scalar_text(value)
    return text if text and text != "-" else None


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None
