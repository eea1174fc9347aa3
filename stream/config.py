"""Settings of the ``eql-stream run`` service: the validated, frozen :class:`ServiceSettings`.

Nothing here reads ``os.environ``: the settings class only takes keyword values, and
:mod:`stream.config_loading` merges flags, environment variables and the TOML file into
them. pydantic-settings reads the environment variables (``EQL_STREAM_`` plus the field
name in upper case) and the TOML file.

Secrets only appear in clear through :meth:`ServiceSettings.kafka_properties`, for the
Kafka clients. Every librdkafka property value is stored as a ``SecretStr``, so ``repr()``
masks them all, and error messages never show a property value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from stream.eql import FieldSchema, MatchOptions
from stream.eql.mapping import DEFAULT_IGNORE_ABOVE, LOGSDB_IGNORE_ABOVE


__all__ = [
    "BOOTSTRAP_SERVERS_FALLBACK_ENV",
    "CONFIG_FILE_ENV",
    "ENV_PREFIX",
    "REDACTED",
    "RESERVED_KAFKA_PROPERTIES",
    "MappingEnvironmentSource",
    "ServiceSettings",
    "is_secret_property",
    "parse_kafka_properties",
]

ENV_PREFIX = "EQL_STREAM_"

# Help of the settings that change matching, shared by run, check and replay.
CASE_FOLDING_HELP = (
    "Case folding of ':', in~, like~, regex~ and the ~ functions: ascii folds A-Z only, as "
    "Elasticsearch 8.0 to 9.4 do; unicode folds every letter, as later releases do (the Kelvin sign matches k)"
)
KEYWORD_IGNORE_ABOVE_HELP = (
    "Longest value, in UTF-16 code units, of an ECS keyword field that rules can match: the ignore_above "
    "that the mapping sets, 1024 in ECS"
)
INDEX_MODE_HELP = (
    "Index mode of the data streams whose results the rules reproduce: standard, or logsdb, which also "
    "leaves values longer than 8191 UTF-16 code units unindexed in wildcard fields and fields outside ECS"
)
CONFIG_FILE_ENV = "EQL_STREAM_CONFIG"
BOOTSTRAP_SERVERS_FALLBACK_ENV = "KAFKA_BOOTSTRAP_SERVERS"
REDACTED = "***"

MAX_TOPIC_NAME_LENGTH = 249
DEAD_LETTER_SUFFIX = ".dlq"

_TOPIC_NAME_CHARACTER = re.compile(r"[a-zA-Z0-9._-]")
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")
_BRACKETED_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PROPERTY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

# Property names that contain one of these are masked in summaries and error messages.
# "key" also masks non-secret paths such as ssl.key.location, which is harmless.
# sasl.oauthbearer.config is listed because it may carry a client secret.
_SECRET_MARKERS = ("password", "secret", "token", "key", "jaas", "credentials", "sasl.oauthbearer.config")

_OWN_OFFSETS = "the service stores and commits each offset only after the message's alerts are delivered"
_OWN_DELIVERY = "the service sets it so that producer retries neither lose nor duplicate alerts"

RESERVED_KAFKA_PROPERTIES: Mapping[str, str] = {
    "bootstrap.servers": "the service sets it; use --bootstrap-servers",
    # The aliases metadata.broker.list, auto.commit.enable and acks are from librdkafka 2.3 CONFIGURATION.md.
    "metadata.broker.list": "it is librdkafka's alias of bootstrap.servers; use --bootstrap-servers",
    "group.id": "the service sets it; use --group-id",
    "enable.auto.commit": f"{_OWN_OFFSETS}; use --commit-interval to set how often it commits",
    "auto.commit.enable": f"{_OWN_OFFSETS}; use --commit-interval to set how often it commits",
    "enable.auto.offset.store": _OWN_OFFSETS,
    "enable.idempotence": _OWN_DELIVERY,
    "acks": _OWN_DELIVERY,
    "request.required.acks": _OWN_DELIVERY,
}
"""librdkafka properties the service owns, each with the reason given when a user sets it."""


def is_secret_property(name: str) -> bool:
    """Return whether the librdkafka property ``name`` may contain a secret and must be masked."""
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _check_topic_name(name: str) -> str:
    """Raise ValueError unless ``name`` is a valid Kafka topic name."""
    if not name:
        raise ValueError("the topic name is empty")
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise ValueError(f"the topic name has {len(name)} characters, more than Kafka's maximum of 249")
    if name in {".", ".."}:
        raise ValueError("'.' and '..' are not valid Kafka topic names")

    invalid = sorted({character for character in name if not _TOPIC_NAME_CHARACTER.fullmatch(character)})
    if invalid:
        raise ValueError(
            f"the topic name contains {', '.join(map(repr, invalid))}; "
            "Kafka allows only ASCII letters, digits, '.', '_' and '-'"
        )
    return name


def _check_rule_path(path: Path) -> Path:
    if not path.exists():
        raise ValueError("no such file or folder; give an existing rule file or folder")
    return path


def _check_broker_address(address: str) -> None:
    """Raise ValueError unless ``address`` has the form ``host:port`` or ``[ipv6]:port``."""
    if not address:
        raise ValueError("the list contains an empty entry; remove the extra comma")
    if "://" in address:
        raise ValueError(
            f"{address!r} contains a URL scheme; give host:port only "
            "and set the protocol with --kafka-config security.protocol=..."
        )

    if any(character.isspace() for character in address):
        raise ValueError(f"{address!r} contains white space; separate brokers with commas, for example kafka-1:9092,kafka-2:9092")

    host, separator, port = address.rpartition(":")
    if not separator:
        raise ValueError(f"{address!r} has no port; write host:port, for example {address}:9092")
    if not host:
        raise ValueError(f"{address!r} has no host; write host:port, for example kafka:{port}")
    if ":" in host and not host.startswith("["):
        raise ValueError(f"{address!r} is an IPv6 address without brackets; write it as [address]:port")
    if not (_HOST_NAME.fullmatch(host) or _BRACKETED_IPV6.fullmatch(host)):
        raise ValueError(f"{address!r} has an invalid host {host!r}")
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{address!r} has port {port!r}; a port is a number from 1 to 65535")


TopicName = Annotated[str, AfterValidator(_check_topic_name)]
RulePath = Annotated[Path, AfterValidator(_check_rule_path)]


def _check_schema_path(path: Path) -> Path:
    if not path.is_file():
        raise ValueError("no such file; give the .avsc file of the producers' writer schema")
    return path


SchemaPath = Annotated[Path, AfterValidator(_check_schema_path)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _flatten_table(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield the entries of a TOML table, joining the keys of nested tables with dots.

    TOML reads an unquoted ``security.protocol = "SSL"`` as a nested table, so this
    turns it back into the librdkafka property name.
    """
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten_table(value, f"{name}.")
        else:
            yield name, value


def _display_entry(text: str) -> str:
    """Return ``text`` quoted for a message, or a placeholder if it may contain a secret."""
    return "an entry that looks like a secret" if is_secret_property(text) else repr(text)


def _kafka_pairs(value: object, problems: list[str]) -> list[tuple[str, Any]]:
    """Split librdkafka properties given as text, a list of ``KEY=VALUE`` or a table into pairs.

    Text separates entries with ``;`` or newlines. Malformed entries are reported in ``problems``.
    """
    if isinstance(value, Mapping):
        return list(_flatten_table(value))
    if isinstance(value, str):
        entries: list[object] = [entry for entry in re.split(r"[;\n]", value) if entry.strip()]
    elif isinstance(value, list | tuple):
        entries = list(value)
    else:
        problems.append(f"expected KEY=VALUE entries or a table, not a {type(value).__name__}")
        return []

    pairs: list[tuple[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, str) or "=" not in entry:
            description = _display_entry(entry) if isinstance(entry, str) else f"a {type(entry).__name__}"
            problems.append(f"{description} is not a KEY=VALUE entry, for example security.protocol=SASL_SSL")
            continue
        key, _, text = entry.partition("=")
        pairs.append((key.strip(), text.strip()))
    return pairs


def parse_kafka_properties(value: object) -> tuple[dict[str, str], list[str]]:
    """Return the valid librdkafka properties in ``value`` and a description of each invalid entry.

    The descriptions name the property but never its value.
    """
    problems: list[str] = []
    properties: dict[str, str] = {}

    for key, raw in _kafka_pairs(value, problems):
        if isinstance(raw, SecretStr):
            raw = raw.get_secret_value()

        if not _PROPERTY_NAME.fullmatch(key):
            problems.append(
                f"{_display_entry(key)} is not a librdkafka property name; "
                "names are lower case with dots, for example ssl.ca.location"
            )
        elif key in RESERVED_KAFKA_PROPERTIES:
            problems.append(f"{key!r} cannot be set here because {RESERVED_KAFKA_PROPERTIES[key]}")
        elif not isinstance(raw, str | int | float | bool):
            problems.append(f"{key!r} has a {type(raw).__name__} value; give a string, number or boolean")
        elif raw == "":
            problems.append(f"{key!r} has an empty value; remove the entry to keep librdkafka's default")
        else:
            # librdkafka spells booleans in lower case, and TOML gives them as bool.
            properties[key] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    return properties, problems


class MappingEnvironmentSource(EnvSettingsSource):
    """pydantic-settings environment source that reads a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # This is the one method of EnvSettingsSource that reads os.environ.
        # pydantic-settings' own DotEnvSettingsSource replaces it the same way.
        return {
            name if self.case_sensitive else name.lower(): value
            for name, value in self._environ.items()
            if not (self.env_ignore_empty and value == "")
        }


def match_options(case_folding: str, keyword_ignore_above: int, index_mode: str) -> MatchOptions:
    """Return the matching options of the settings that change how rules match (see their help texts)."""
    unset_limit = LOGSDB_IGNORE_ABOVE if index_mode == "logsdb" else None
    schema = FieldSchema(default_ignore_above=keyword_ignore_above, unset_ignore_above=unset_limit)
    return MatchOptions(case_folding=case_folding, schema=schema)


class ServiceSettings(BaseSettings):
    """Validated, immutable settings of ``eql-stream run``.

    Times are in seconds. ``rules`` empty means the shipped rule set, and ``dlq_topic``
    None means ``<input topic>.dlq`` for each input topic. ``kafka_config`` contains
    extra librdkafka properties for both consumer and producer.

    Build it with :func:`load_settings`. Calling the class reads keyword values only,
    never the process environment.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        # pydantic-settings matches the upper-case variable names only when case-insensitive.
        case_sensitive=False,
        # An empty variable counts as unset, as container platforms often define them empty.
        env_ignore_empty=True,
        # Lists come as comma- or pathsep-separated text, split by the validators below, not as JSON.
        enable_decoding=False,
        # Keeps values out of str(ValidationError), which a traceback could print.
        hide_input_in_errors=True,
    )

    bootstrap_servers: str
    input_topics: tuple[TopicName, ...]
    output_topic: TopicName = "eql-stream.alerts"
    dlq_topic: TopicName | None = None
    group_id: str = Field(default="eql-stream", min_length=1)
    rules: tuple[RulePath, ...] = ()
    metrics_host: str = Field(default="0.0.0.0", min_length=1)
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    kafka_config: dict[str, SecretStr] = Field(default_factory=dict)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    until_end: bool = False
    commit_interval: Seconds = 5.0
    batch_size: int = Field(default=500, ge=1, le=100_000)
    # Short, so that a batch never holds its first message long: measured at 44,000 events/s,
    # 0.05 s gave a p99 alert latency of 25 ms and a maximum of 85 ms, 0.5 s 39 ms and 514 ms.
    batch_timeout: Seconds = 0.05
    shutdown_timeout: Seconds = 30.0
    strict: bool = False
    case_folding: Literal["ascii", "unicode"] = "ascii"
    keyword_ignore_above: int = Field(default=DEFAULT_IGNORE_ABOVE, ge=1)
    index_mode: Literal["standard", "logsdb"] = "standard"
    prefilter: bool = True
    workers: int = Field(default=1, ge=1, le=64)
    input_format: Literal["json", "avro"] = "json"
    output_format: Literal["json", "avro"] = "json"
    input_schema: SchemaPath | None = None
    schema_registry_url: str | None = None
    schema_registry_auth: SecretStr | None = None

    def match_options(self) -> MatchOptions:
        """Return the matching options that ``case_folding``, ``keyword_ignore_above`` and ``index_mode`` set."""
        return match_options(self.case_folding, self.keyword_ignore_above, self.index_mode)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Use keyword values only, because :func:`load_settings` reads and merges the sources itself."""
        return (init_settings,)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _normalize_bootstrap_servers(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        if not isinstance(value, str):
            return value

        addresses = [address.strip() for address in value.split(",")]
        if addresses == [""]:
            raise ValueError("no broker given; list at least one host:port, for example kafka:9092")
        for address in addresses:
            _check_broker_address(address)
        return ",".join(addresses)

    @field_validator("input_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        return [topic.strip() for topic in value.split(",")] if isinstance(value, str) else value

    @field_validator("input_topics")
    @classmethod
    def _require_topics(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        if not topics:
            raise ValueError("no input topic given; name at least one topic to read events from")
        return tuple(dict.fromkeys(topics))

    @field_validator("rules", mode="before")
    @classmethod
    def _split_rule_paths(cls, value: object) -> object:
        return [path for path in value.split(os.pathsep) if path] if isinstance(value, str) else value

    @field_validator("kafka_config", mode="before")
    @classmethod
    def _parse_kafka_config(cls, value: object) -> dict[str, str]:
        properties, problems = parse_kafka_properties(value)
        if problems:
            raise ValueError("; ".join(problems))
        return properties

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_formats(self) -> Self:
        """Require a writer schema or a Schema Registry for Avro input."""
        if self.input_format == "avro" and self.input_schema is None and not self.schema_registry_url:
            raise ValueError(
                "--input-format avro needs --input-schema FILE (plain Avro) "
                "or --schema-registry-url URL (Schema Registry framed Avro)"
            )
        if self.input_schema is not None and self.input_format != "avro":
            raise ValueError("--input-schema is only used with --input-format avro")
        return self

    def registry_config(self) -> dict[str, str]:
        """Return the Schema Registry client settings other than the URL (secrets in clear)."""
        if self.schema_registry_auth is None:
            return {}
        return {"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": self.schema_registry_auth.get_secret_value()}

    @model_validator(mode="after")
    def _check_topic_roles(self) -> Self:
        """Reject topic choices that would make the service read what it writes."""
        inputs = set(self.input_topics)
        dead_letter_topics = {self.dead_letter_topic_for(topic) for topic in self.input_topics}
        problems: list[str] = []

        if self.output_topic in inputs:
            problems.append(
                f"--output-topic {self.output_topic!r} is also an input topic, "
                "so the service would read its own alerts; choose another output topic"
            )
        if self.output_topic in dead_letter_topics:
            problems.append(
                f"--output-topic {self.output_topic!r} is also the dead-letter topic; "
                "alerts and dead letters need separate topics"
            )
        for topic in sorted(dead_letter_topics & inputs):
            problems.append(
                f"dead-letter topic {topic!r} is also an input topic, so the service would read "
                "its own dead letters; set --dlq-topic to another topic"
            )
        for topic in sorted(topic for topic in dead_letter_topics if len(topic) > MAX_TOPIC_NAME_LENGTH):
            problems.append(
                f"the dead-letter topic {topic[:40]!r}... derived from an input topic is longer than "
                "Kafka's maximum of 249 characters; set --dlq-topic"
            )

        if problems:
            raise ValueError("; ".join(problems))
        return self

    def dead_letter_topic_for(self, input_topic: str) -> str:
        """Return the topic that receives the unprocessable messages of ``input_topic``.

        That is ``dlq_topic`` when set, otherwise ``input_topic`` followed by ``.dlq``.
        """
        return self.dlq_topic if self.dlq_topic is not None else f"{input_topic}{DEAD_LETTER_SUFFIX}"

    def kafka_properties(self) -> dict[str, str]:
        """Return the extra librdkafka properties with secrets in clear, for the Kafka clients only."""
        return {key: value.get_secret_value() for key, value in self.kafka_config.items()}

    def redacted_summary(self) -> dict[str, Any]:
        """Return every setting as JSON-compatible values for the start log line.

        The values of librdkafka properties that may be secret (see :func:`is_secret_property`)
        are replaced by ``"***"``. Without ``rules``, the summary names the shipped rules.
        """
        summary = self.model_dump(mode="json", exclude={"kafka_config"})
        if not summary["rules"]:
            summary["rules"] = "the shipped rules"
        summary["kafka_config"] = {
            key: REDACTED if is_secret_property(key) else value.get_secret_value()
            for key, value in sorted(self.kafka_config.items())
        }
        return summary
