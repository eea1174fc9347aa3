"""Loading of the ``eql-stream run`` settings from flags, environment variables and a TOML file.

:func:`load_settings` merges four layers into one frozen :class:`ServiceSettings`, highest
precedence first: command-line flags, environment variables, the config file, then the
defaults. A layer replaces a setting as a whole, except the extra librdkafka properties,
which are merged key by key so that, for example, a password from the environment can
complete a config file that sets the protocol.

The table of ``run`` flags lives here too, because each flag names its settings field, its
environment variable and its config-file key.
"""

from __future__ import annotations

import argparse
import json
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import TomlConfigSettingsSource

from stream.config import (
    CASE_FOLDING_HELP,
    INDEX_MODE_HELP,
    KEYWORD_IGNORE_ABOVE_HELP,
    BOOTSTRAP_SERVERS_FALLBACK_ENV,
    CONFIG_FILE_ENV,
    ENV_PREFIX,
    MappingEnvironmentSource,
    ServiceSettings,
    parse_kafka_properties,
)
from stream.errors import ConfigError

__all__ = ["add_run_arguments", "cli_values_from_namespace", "load_settings"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Option:
    """One ``run`` flag: its settings field, its help text and how argparse collects it."""

    name: str
    flag: str
    help: str
    metavar: str | None = None
    action: Literal["store", "append", "bool"] = "store"
    # Words for a default that its value does not explain, such as an empty list.
    default_text: str | None = None
    # How the environment variable separates several values.
    env_note: str = ""
    fallback_env: str | None = None
    toml_key: str | None = None

    @property
    def env_name(self) -> str:
        return f"{ENV_PREFIX}{self.name.upper()}"

    @property
    def env_names(self) -> str:
        return f"{self.env_name} or {self.fallback_env}" if self.fallback_env else self.env_name

    @property
    def config_key(self) -> str:
        return self.toml_key or self.name


_OPTIONS: tuple[_Option, ...] = (
    _Option(
        "bootstrap_servers", "--bootstrap-servers",
        "Kafka brokers to connect to, as a comma-separated host:port list",
        metavar="HOST:PORT,...", fallback_env=BOOTSTRAP_SERVERS_FALLBACK_ENV,
    ),
    _Option(
        "input_topics", "--input-topic",
        "Kafka topic to read events from; repeat the flag for several topics",
        metavar="TOPIC", action="append", env_note=", comma-separated",
    ),
    _Option("output_topic", "--output-topic", "Kafka topic for alerts", metavar="TOPIC"),
    _Option(
        "dlq_topic", "--dlq-topic",
        "Kafka topic for messages that cannot be processed (dead letters)",
        metavar="TOPIC", default_text="<input topic>.dlq for each input topic",
    ),
    _Option("group_id", "--group-id", "Kafka consumer group id", metavar="ID"),
    _Option(
        "rules", "--rules",
        "Rule file or folder to load; repeat the flag for several",
        metavar="PATH", action="append", default_text="the shipped rule set",
        env_note=", separated by the platform's path separator",
    ),
    _Option(
        "metrics_host", "--metrics-host",
        "Address the metrics HTTP endpoint listens on",
        metavar="HOST",
    ),
    _Option(
        "metrics_port", "--metrics-port",
        "TCP port of the metrics HTTP endpoint, 0 to 65535; 0 picks a free port",
        metavar="PORT",
    ),
    _Option(
        "kafka_config", "--kafka-config",
        "Extra librdkafka property for both consumer and producer, such as "
        "security.protocol=SASL_SSL; repeat the flag for several; properties from flags, "
        "environment and config file are merged by key",
        metavar="KEY=VALUE", action="append", default_text="none",
        env_note=", entries separated by ';' or newlines", toml_key="[kafka] table",
    ),
    _Option(
        "log_format", "--log-format",
        "Log line format: text, or json (one object per line with time in ISO 8601 UTC, level, logger, message)",
        metavar="FORMAT",
    ),
    _Option(
        "log_level", "--log-level",
        "Minimum log level: DEBUG, INFO, WARNING or ERROR",
        metavar="LEVEL",
    ),
    _Option(
        "until_end", "--until-end",
        "Stop after reaching the end of every assigned partition instead of waiting for new messages",
        action="bool",
    ),
    _Option(
        "commit_interval", "--commit-interval",
        "Seconds between offset commits, more than 0",
        metavar="SECONDS",
    ),
    _Option(
        "batch_size", "--batch-size",
        "Maximum messages per batch, 1 to 100000",
        metavar="COUNT",
    ),
    _Option(
        "batch_timeout", "--batch-timeout",
        "Maximum seconds to wait while filling a batch, more than 0",
        metavar="SECONDS",
    ),
    _Option(
        "shutdown_timeout", "--shutdown-timeout",
        "Maximum seconds to wait at shutdown for pending deliveries and the final commit, more than 0",
        metavar="SECONDS",
    ),
    _Option(
        "strict", "--strict",
        "Fail at startup if any rule cannot be loaded, instead of skipping it",
        action="bool",
    ),
    _Option(
        "case_folding", "--case-folding",
        CASE_FOLDING_HELP,
        metavar="FOLDING",
    ),
    _Option(
        "keyword_ignore_above", "--keyword-ignore-above",
        KEYWORD_IGNORE_ABOVE_HELP,
        metavar="LENGTH",
    ),
    _Option(
        "index_mode", "--index-mode",
        INDEX_MODE_HELP,
        metavar="MODE",
    ),
    _Option(
        "prefilter", "--prefilter",
        "Skip, without decoding, messages whose raw bytes contain no text any rule needs. "
        "A payload not shaped like a JSON object is still decoded and dead-lettered, but a skipped "
        "object with a malformed middle or a wrong-typed field is only counted",
        action="bool",
    ),
    _Option(
        "workers", "--workers",
        "Worker processes, each with its own consumer in the group, 1 to 64",
        metavar="COUNT",
    ),
    _Option(
        "input_format", "--input-format",
        "Encoding of input messages: json, or avro (needs --input-schema or --schema-registry-url)",
        metavar="FORMAT",
    ),
    _Option(
        "output_format", "--output-format",
        "Encoding of alerts: json, or avro (framed for the registry when --schema-registry-url is set)",
        metavar="FORMAT",
    ),
    _Option(
        "input_schema", "--input-schema",
        "Avro writer schema (.avsc) of plain, unframed Avro input messages",
        metavar="FILE", default_text="none",
    ),
    _Option(
        "schema_registry_url", "--schema-registry-url",
        "Schema Registry URL for framed Avro input and output (mock://NAME is an in-memory registry)",
        metavar="URL", default_text="none",
    ),
    _Option(
        "schema_registry_auth", "--schema-registry-auth",
        "Schema Registry basic authentication as USER:PASSWORD",
        metavar="USER:PASSWORD", default_text="none",
    ),
)  # fmt: skip

_OPTIONS_BY_NAME = {option.name: option for option in _OPTIONS}


def _default_text(option: _Option) -> str:
    model_field = ServiceSettings.model_fields[option.name]
    if model_field.is_required():
        return "required"
    if option.default_text is not None:
        return f"default: {option.default_text}"
    if isinstance(model_field.default, bool):
        return f"default: {'on' if model_field.default else 'off'}"
    return f"default: {model_field.default}"


def _help_text(option: _Option) -> str:
    return (
        f"{option.help} ({_default_text(option)}; env {option.env_names}{option.env_note}; "
        f"config {option.config_key})"
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the service settings flags and ``--config`` to the ``run`` sub-parser.

    Every flag defaults to None, so that an unset flag does not override the
    environment or the config file. Boolean flags such as ``--until-end`` also get a
    ``--no-`` form. Values stay text here: :func:`load_settings` validates them.
    """
    for option in _OPTIONS:
        if option.action == "bool":
            parser.add_argument(
                option.flag, dest=option.name, action=argparse.BooleanOptionalAction, default=None,
                help=_help_text(option),
            )
        else:
            parser.add_argument(
                option.flag, dest=option.name, action=option.action, default=None, metavar=option.metavar,
                help=_help_text(option),
            )

    parser.add_argument(
        "--config", dest="config_file", type=Path, default=None, metavar="FILE",
        help=(
            "TOML file with the same settings as flat keys, plus a [kafka] table of librdkafka properties. "
            f"Flags and environment variables override it (default: none; env {CONFIG_FILE_ENV})"
        ),
    )  # fmt: skip


def cli_values_from_namespace(namespace: argparse.Namespace) -> dict[str, Any]:
    """Return the settings flags that were given on the command line, keyed by settings field.

    ``--config`` is not included: pass ``namespace.config_file`` to :func:`load_settings`.
    """
    parsed = vars(namespace)
    return {option.name: parsed[option.name] for option in _OPTIONS if parsed.get(option.name) is not None}


@dataclass
class _Layer:
    """Setting values from one source, keyed by field, with where each came from."""

    values: dict[str, Any]
    origins: dict[str, str]
    problems: list[str] = field(default_factory=list)


def _flag_layer(cli_values: Mapping[str, Any]) -> _Layer:
    values = {name: value for name, value in cli_values.items() if value is not None}
    return _Layer(values, {name: "the command line" for name in values})


def _environment_layer(environ: Mapping[str, str]) -> _Layer:
    """Read the settings from ``environ`` with pydantic-settings' environment source."""
    primary_name = _OPTIONS_BY_NAME["bootstrap_servers"].env_name
    fallback = environ.get(BOOTSTRAP_SERVERS_FALLBACK_ENV, "")
    use_fallback = not environ.get(primary_name) and fallback != ""
    if use_fallback:
        environ = {**environ, primary_name: fallback}

    values = MappingEnvironmentSource(ServiceSettings, environ)()
    origins = {name: f"environment variable {_OPTIONS_BY_NAME[name].env_name}" for name in values}
    if use_fallback:
        origins["bootstrap_servers"] = f"environment variable {BOOTSTRAP_SERVERS_FALLBACK_ENV}"

    _warn_unknown_variables(environ)
    return _Layer(values, origins)


def _warn_unknown_variables(environ: Mapping[str, str]) -> None:
    # EQL_STREAM_KAFKA_STATE belongs to scripts/kafka-local (the local broker's state folder).
    known = {option.env_name for option in _OPTIONS} | {CONFIG_FILE_ENV, "EQL_STREAM_KAFKA_STATE"}
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            _log.warning("ignoring unknown environment variable %s; see 'eql-stream run --help'", name)


def _config_file_path(config_file: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """Return the config file to read and where it was named: ``--config`` first, then the environment."""
    if config_file is not None:
        return Path(config_file), "--config"
    if environ.get(CONFIG_FILE_ENV):
        return Path(environ[CONFIG_FILE_ENV]), f"environment variable {CONFIG_FILE_ENV}"
    return None, ""


def _config_file_layer(path: Path, named_by: str) -> _Layer:
    """Read the TOML config file with pydantic-settings' TOML source.

    Relative paths in ``rules`` are taken relative to the folder of the file.
    Raises ConfigError when the file is missing, unreadable or not valid TOML.
    """
    if not path.is_file():
        raise ConfigError(f"config file {path} (from {named_by}) not found or not a file; check the path")
    try:
        data = TomlConfigSettingsSource(ServiceSettings, toml_file=path)()
    except OSError as exc:
        raise ConfigError(
            f"config file {path} (from {named_by}) cannot be read: {exc.strerror}; check its permissions"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}; fix the syntax") from exc

    layer = _Layer({}, {})
    valid_keys = {option.name for option in _OPTIONS if option.toml_key is None} | {"kafka"}
    for key, value in data.items():
        if key not in valid_keys:
            layer.problems.append(
                f"config file {path}: unknown key {key!r}; valid keys are {', '.join(sorted(valid_keys))}"
            )
            continue
        name = "kafka_config" if key == "kafka" else key
        problem = _toml_type_problem(name, value)
        if problem is not None:
            value_text = _shorten(json.dumps(value, default=str))
            layer.problems.append(f"config file {path}: {key} = {value_text} {problem}")
            continue
        layer.values[name] = value
        layer.origins[name] = f"config file {path}"

    rules = layer.values.get("rules")
    if isinstance(rules, str):
        rules = [rules]
    if isinstance(rules, list):
        # Absolute, so that messages show where a missing rule path was looked for.
        folder = path.absolute().parent
        layer.values["rules"] = [folder / rule if isinstance(rule, str) else rule for rule in rules]
    return layer


# TOML values are typed, so a config file value of another type is a mistake that pydantic's
# lax conversion would hide (true as batch size 1, "500" as 500). Text fields need no check.
_TOML_TYPES: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "a boolean (true or false)"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
}


def _toml_type_problem(name: str, value: Any) -> str | None:
    """Return why ``value`` from the TOML file does not fit setting ``name``, or None when it does."""
    annotation = ServiceSettings.model_fields[name].annotation
    if annotation not in _TOML_TYPES:
        return None
    accepted, expected = _TOML_TYPES[annotation]
    if isinstance(value, accepted) and (annotation is bool or not isinstance(value, bool)):
        return None
    if isinstance(value, str):
        return f"is not {expected}: write {expected} without quotes"
    value_type = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
    return f"is not {expected} but {value_type}: write {expected}"


def _merge_layers(layers: list[_Layer]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Merge layers given highest precedence first into values, their origins and the problems found.

    ``kafka_config`` is merged by property key, every other setting as a whole.
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    properties: dict[str, str] = {}

    for layer in reversed(layers):
        problems.extend(layer.problems)
        for name, value in layer.values.items():
            if name == "kafka_config":
                layer_properties, layer_problems = parse_kafka_properties(value)
                properties.update(layer_properties)
                origin = layer.origins[name]
                problems.extend(f"--kafka-config from {origin}: {problem}" for problem in layer_problems)
            else:
                values[name] = value
                origins[name] = layer.origins[name]

    if properties:
        values["kafka_config"] = properties
    return values, origins, problems


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _describe_error(error: ErrorDetails, origins: Mapping[str, str]) -> str:
    """Return one line for a pydantic validation error, naming the flag, the value and its source."""
    reason = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    if not error["loc"]:
        return reason

    name = str(error["loc"][0])
    option = _OPTIONS_BY_NAME.get(name)
    if option is None:
        return f"unknown setting {name!r} from {origins.get(name, 'the caller')}"
    if error["type"] == "missing":
        return (
            f"{option.flag} is required; set the flag, the environment variable "
            f"{option.env_names}, or {option.config_key} in the config file"
        )
    if name == "kafka_config":
        # The value may contain secrets, and the reason already names the property.
        return f"{option.flag}: {reason}"

    input_value = error["input"]
    # A path reads better as its text than as PosixPath('...').
    value = _shorten(repr(str(input_value) if isinstance(input_value, PurePath) else input_value))
    source = origins.get(name, "the default")
    # Name the setting as its source spells it: the key in a config file, else the flag.
    setting = option.config_key if source.startswith("config file") else option.flag
    return f"{setting} {value} from {source}: {reason}"


def _format_problems(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"invalid configuration: {problems[0]}"
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return f"invalid configuration ({len(problems)} problems):\n{lines}"


def load_settings(
    cli_values: Mapping[str, Any], environ: Mapping[str, str], config_file: Path | None
) -> ServiceSettings:
    """Merge flags, environment variables and a config file into validated settings.

    Precedence is ``cli_values``, then ``environ``, then the config file, then the defaults.
    ``cli_values`` maps settings fields to flag values (see :func:`cli_values_from_namespace`),
    and None counts as unset. ``config_file`` is the ``--config`` value; when it is None,
    ``EQL_STREAM_CONFIG`` in ``environ`` may name the file.

    Raises ConfigError naming each invalid setting by its flag, with the value (never a
    librdkafka property value), its source and the fix. One error lists every problem found.
    """
    layers = [_flag_layer(cli_values), _environment_layer(environ)]
    path, named_by = _config_file_path(config_file, environ)
    if path is not None:
        _log.debug("reading config file %s", path)
        layers.append(_config_file_layer(path, named_by))

    values, origins, problems = _merge_layers(layers)
    try:
        settings = ServiceSettings(**values)
    except ValidationError as exc:
        problems.extend(_describe_error(error, origins) for error in exc.errors())
        # The cause shows no input values, because hide_input_in_errors is set.
        raise ConfigError(_format_problems(problems)) from exc

    if problems:
        raise ConfigError(_format_problems(problems))
    return settings
