"""Tests of stream.config and stream.config_loading: precedence, validation messages, secret masking and the run flags."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from stream.config import ServiceSettings
from stream.config_loading import add_run_arguments, cli_values_from_namespace, load_settings
from stream.errors import ConfigError

REQUIRED_FLAGS: dict[str, Any] = {"bootstrap_servers": "kafka:9092", "input_topics": ["events"]}
SECRET = "s3cr3t-Value-42"


def load(
    tmp_path: Path,
    cli: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    config_text: str | None = None,
) -> ServiceSettings:
    """Load settings from the required flags updated by ``cli``, ``env`` and an optional config file."""
    cli_values = {**REQUIRED_FLAGS, **(cli or {})}
    config_file = None
    if config_text is not None:
        config_file = tmp_path / "eql-stream.toml"
        config_file.write_text(config_text)
    return load_settings(cli_values, env or {}, config_file)


def env_name(field: str) -> str:
    return f"EQL_STREAM_{field.upper()}"


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eql-stream run")
    add_run_arguments(parser)
    return parser


# Each case: field, flag value, environment value, TOML value, expected setting.
# None means the source does not set the field.
PRECEDENCE_CASES = [
    pytest.param("output_topic", "flag", "env", '"file"', "flag", id="output-topic-flag-wins"),
    pytest.param("output_topic", None, "env", '"file"', "env", id="output-topic-env-over-file"),
    pytest.param("output_topic", None, None, '"file"', "file", id="output-topic-file-over-default"),
    pytest.param("output_topic", None, None, None, "eql-stream.alerts", id="output-topic-default"),
    pytest.param("metrics_port", "1111", "2222", "3333", 1111, id="metrics-port-flag-wins"),
    pytest.param("metrics_port", None, "2222", "3333", 2222, id="metrics-port-env-over-file"),
    pytest.param("metrics_port", None, None, "3333", 3333, id="metrics-port-file"),
    pytest.param("metrics_port", None, None, None, 9464, id="metrics-port-default"),
    pytest.param("until_end", False, "true", "true", False, id="until-end-no-flag-wins"),
    pytest.param("until_end", None, "false", "true", False, id="until-end-env-over-file"),
    pytest.param("until_end", None, None, "true", True, id="until-end-file"),
    pytest.param("until_end", None, None, None, False, id="until-end-default"),
    pytest.param("input_topics", ["a"], "b,c", '["d"]', ("a",), id="input-topics-flag-wins"),
    pytest.param("input_topics", None, "b, c", '["d"]', ("b", "c"), id="input-topics-env-comma-list"),
    pytest.param("input_topics", None, None, '["d", "e"]', ("d", "e"), id="input-topics-file"),
    pytest.param("group_id", "g-flag", "g-env", '"g-file"', "g-flag", id="group-id-flag-wins"),
    pytest.param("group_id", None, None, None, "eql-stream", id="group-id-default"),
    pytest.param("dlq_topic", None, "dead", '"dead-file"', "dead", id="dlq-topic-env"),
    pytest.param("dlq_topic", None, None, None, None, id="dlq-topic-default-none"),
    pytest.param("log_format", "JSON", "text", '"text"', "json", id="log-format-flag-any-case"),
    pytest.param("log_level", None, "debug", '"ERROR"', "DEBUG", id="log-level-env-any-case"),
    pytest.param("commit_interval", None, "2.5", "9", 2.5, id="commit-interval-env"),
    pytest.param("commit_interval", None, None, None, 5.0, id="commit-interval-default"),
    pytest.param("batch_size", "10", None, "20", 10, id="batch-size-flag"),
    pytest.param("batch_size", None, None, None, 500, id="batch-size-default"),
    pytest.param("batch_timeout", None, None, "0.25", 0.25, id="batch-timeout-file"),
    pytest.param("shutdown_timeout", None, None, None, 30.0, id="shutdown-timeout-default"),
    pytest.param("strict", True, "false", "false", True, id="strict-flag-wins"),
    pytest.param("metrics_host", None, "127.0.0.1", '"::"', "127.0.0.1", id="metrics-host-env"),
    pytest.param("bootstrap_servers", None, "b:2", '"c:3"', "b:2", id="bootstrap-env-over-file"),
]


@pytest.mark.parametrize(("field", "flag", "env", "file_value", "expected"), PRECEDENCE_CASES)
def test_load_settings_precedence(
    tmp_path: Path, field: str, flag: Any, env: str | None, file_value: str | None, expected: Any
) -> None:
    cli_values = {name: value for name, value in REQUIRED_FLAGS.items() if name != field}
    if flag is not None:
        cli_values[field] = flag
    environ = {env_name(field): env} if env is not None else {}
    config_file = None
    if file_value is not None:
        config_file = tmp_path / "config.toml"
        config_file.write_text(f"{field} = {file_value}\n")

    settings = load_settings(cli_values, environ, config_file)

    assert getattr(settings, field) == expected


def test_kafka_config_merged_by_key(tmp_path: Path) -> None:
    config_text = '[kafka]\n"security.protocol" = "SASL_SSL"\n"linger.ms" = 10\n"client.id" = "from-file"\n'
    env = {"EQL_STREAM_KAFKA_CONFIG": "linger.ms=20;sasl.username=alice\nsasl.password=pw"}
    cli = {"kafka_config": ["linger.ms=30"]}

    properties = load(tmp_path, cli, env, config_text).kafka_properties()

    assert properties == {
        "security.protocol": "SASL_SSL",
        "client.id": "from-file",
        "linger.ms": "30",
        "sasl.username": "alice",
        "sasl.password": "pw",
    }


def test_kafka_table_dotted_keys_and_scalars(tmp_path: Path) -> None:
    config_text = (
        "[kafka]\n"
        'security.protocol = "SSL"\n'
        "enable.ssl.certificate.verification = false\n"
        "linger.ms = 5\n"
        "'ssl.ca.location' = '/etc/ca.pem'\n"
    )

    properties = load(tmp_path, config_text=config_text).kafka_properties()

    assert properties == {
        "security.protocol": "SSL",
        "enable.ssl.certificate.verification": "false",
        "linger.ms": "5",
        "ssl.ca.location": "/etc/ca.pem",
    }


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"KAFKA_BOOTSTRAP_SERVERS": "plain:9092"}, "plain:9092", id="fallback-only"),
        pytest.param(
            {"KAFKA_BOOTSTRAP_SERVERS": "plain:9092", "EQL_STREAM_BOOTSTRAP_SERVERS": "own:9092"},
            "own:9092",
            id="prefixed-wins",
        ),
        pytest.param(
            {"KAFKA_BOOTSTRAP_SERVERS": "plain:9092", "EQL_STREAM_BOOTSTRAP_SERVERS": ""},
            "plain:9092",
            id="empty-prefixed-ignored",
        ),
    ],
)
def test_bootstrap_servers_env_fallback(environ: dict[str, str], expected: str) -> None:
    settings = load_settings({"input_topics": ["events"]}, environ, None)

    assert settings.bootstrap_servers == expected


def test_bootstrap_servers_flag_beats_fallback() -> None:
    settings = load_settings(REQUIRED_FLAGS, {"KAFKA_BOOTSTRAP_SERVERS": "plain:9092"}, None)

    assert settings.bootstrap_servers == "kafka:9092"


def test_bootstrap_servers_normalized(tmp_path: Path) -> None:
    settings = load(tmp_path, {"bootstrap_servers": " a:1 , b.example:9093,[::1]:9092"})

    assert settings.bootstrap_servers == "a:1,b.example:9093,[::1]:9092"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config_file = tmp_path / "from-env.toml"
    config_file.write_text('group_id = "from-env-file"\n')

    settings = load_settings(REQUIRED_FLAGS, {"EQL_STREAM_CONFIG": str(config_file)}, None)

    assert settings.group_id == "from-env-file"


def test_config_flag_beats_config_env(tmp_path: Path) -> None:
    env_file = tmp_path / "env.toml"
    env_file.write_text('group_id = "env-file"\n')
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('group_id = "flag-file"\n')

    settings = load_settings(REQUIRED_FLAGS, {"EQL_STREAM_CONFIG": str(env_file)}, flag_file)

    assert settings.group_id == "flag-file"


def test_empty_env_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, env={"EQL_STREAM_OUTPUT_TOPIC": ""}, config_text='output_topic = "from-file"\n')

    assert settings.output_topic == "from-file"


def test_rules_relative_to_config_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "one.toml").write_text("")

    settings = load(tmp_path, config_text='rules = ["rules/one.toml"]\n')

    assert settings.rules == (tmp_path / "rules" / "one.toml",)


def test_missing_rules_path_named_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A config file named by a relative path: the message shows the absolute path that was looked for.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eql-stream.toml").write_text('rules = ["missing-rules"]\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(REQUIRED_FLAGS, {}, Path("eql-stream.toml"))

    assert f"rules '{tmp_path / 'missing-rules'}' from config file eql-stream.toml: no such file or folder" in str(caught.value)
    assert "PosixPath" not in str(caught.value)


def test_rules_env_split_by_pathsep(tmp_path: Path) -> None:
    first = tmp_path / "a.toml"
    second = tmp_path / "b"
    first.write_text("")
    second.mkdir()

    settings = load(tmp_path, env={"EQL_STREAM_RULES": f"{first}{os.pathsep}{second}"})

    assert settings.rules == (first, second)


def test_input_topics_deduplicated(tmp_path: Path) -> None:
    settings = load(tmp_path, {"input_topics": ["a", "b", "a"]})

    assert settings.input_topics == ("a", "b")


# Each case: flags, environment, config-file text, fragments the error message must contain.
INVALID_CASES = [
    pytest.param({"metrics_port": "70000"}, {}, None, ["--metrics-port", "'70000'", "65535"], id="port-too-high"),
    pytest.param(
        {}, {"EQL_STREAM_METRICS_PORT": "http"}, None,
        ["--metrics-port", "'http'", "EQL_STREAM_METRICS_PORT"], id="port-not-a-number-env",
    ),
    pytest.param({"metrics_port": "-1"}, {}, None, ["--metrics-port", "'-1'"], id="port-negative"),
    pytest.param(
        {"input_topics": None}, {}, "input_topics = []\n",
        ["input_topics", "[]", "config file", "no input topic given"], id="empty-topic-list",
    ),
    pytest.param(
        {"input_topics": None}, {}, None,
        ["--input-topic is required", "EQL_STREAM_INPUT_TOPICS"], id="topics-missing",
    ),
    pytest.param(
        {"input_topics": ["bad topic!"]}, {}, None,
        ["--input-topic", "'bad topic!'", "' '", "'!'"], id="topic-invalid-characters",
    ),
    pytest.param({"input_topics": [".."]}, {}, None, ["--input-topic", "'..'"], id="topic-dot-dot"),
    pytest.param({"input_topics": [""]}, {}, None, ["--input-topic", "''", "empty"], id="topic-empty-name"),
    pytest.param(
        {"input_topics": ["t" * 250]}, {}, None, ["--input-topic", "'ttt", "249"], id="topic-too-long",
    ),
    pytest.param(
        {"input_topics": None}, {"EQL_STREAM_INPUT_TOPICS": "a,,b"}, None,
        ["--input-topic", "''", "empty", "EQL_STREAM_INPUT_TOPICS"], id="topic-list-empty-entry",
    ),
    pytest.param({"output_topic": "alerts/x"}, {}, None, ["--output-topic", "'alerts/x'", "'/'"], id="output-invalid"),
    pytest.param({"dlq_topic": "."}, {}, None, ["--dlq-topic", "'.'"], id="dlq-invalid"),
    pytest.param(
        {"bootstrap_servers": "kafka"}, {}, None, ["--bootstrap-servers", "'kafka'", "no port"], id="bootstrap-no-port",
    ),
    pytest.param(
        {"bootstrap_servers": "kafka:0"}, {}, None, ["--bootstrap-servers", "'kafka:0'", "1 to 65535"],
        id="bootstrap-port-zero",
    ),
    pytest.param(
        {"bootstrap_servers": "kafka:99999"}, {}, None, ["--bootstrap-servers", "'kafka:99999'"],
        id="bootstrap-port-too-high",
    ),
    pytest.param(
        {"bootstrap_servers": ":9092"}, {}, None, ["--bootstrap-servers", "':9092'", "no host"],
        id="bootstrap-no-host",
    ),
    pytest.param(
        {"bootstrap_servers": "a:1,,b:2"}, {}, None, ["--bootstrap-servers", "'a:1,,b:2'", "empty entry"],
        id="bootstrap-empty-entry",
    ),
    pytest.param(
        {"bootstrap_servers": ""}, {}, None, ["--bootstrap-servers", "no broker given"], id="bootstrap-empty",
    ),
    pytest.param(
        {"bootstrap_servers": "SASL_SSL://k:9093"}, {}, None,
        ["--bootstrap-servers", "'SASL_SSL://k:9093'", "security.protocol"], id="bootstrap-url-scheme",
    ),
    pytest.param(
        {"bootstrap_servers": "::1:9092"}, {}, None, ["--bootstrap-servers", "'::1:9092'", "brackets"],
        id="bootstrap-ipv6-without-brackets",
    ),
    pytest.param(
        {"bootstrap_servers": "bad host:9092"}, {}, None, ["--bootstrap-servers", "'bad host:9092'", "white space"],
        id="bootstrap-host-with-space",
    ),
    pytest.param(
        {"bootstrap_servers": "k1:9092 k2:9092"}, {}, None,
        ["--bootstrap-servers", "'k1:9092 k2:9092'", "separate brokers with commas"], id="bootstrap-space-separated",
    ),
    pytest.param(
        {"bootstrap_servers": "bad_host!:9092"}, {}, None, ["--bootstrap-servers", "invalid host 'bad_host!'"],
        id="bootstrap-invalid-host",
    ),
    pytest.param(
        {"bootstrap_servers": None}, {}, None,
        ["--bootstrap-servers is required", "EQL_STREAM_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"],
        id="bootstrap-missing",
    ),
    pytest.param(
        {"kafka_config": ["linger.ms"]}, {}, None, ["--kafka-config", "'linger.ms'", "KEY=VALUE"],
        id="kafka-no-equals",
    ),
    pytest.param(
        {"kafka_config": ["=5"]}, {}, None, ["--kafka-config", "''", "not a librdkafka property name"],
        id="kafka-empty-key",
    ),
    pytest.param(
        {"kafka_config": ["Linger MS=5"]}, {}, None, ["--kafka-config", "'Linger MS'"], id="kafka-invalid-key",
    ),
    pytest.param(
        {"kafka_config": ["linger.ms="]}, {}, None, ["--kafka-config", "'linger.ms'", "empty value"],
        id="kafka-empty-value",
    ),
    pytest.param(
        {}, {"EQL_STREAM_KAFKA_CONFIG": "linger.ms=5;oops"}, None,
        ["--kafka-config", "EQL_STREAM_KAFKA_CONFIG", "'oops'", "KEY=VALUE"], id="kafka-env-bad-entry",
    ),
    pytest.param(
        {"kafka_config": ["enable.auto.commit=true"]}, {}, None,
        ["--kafka-config", "'enable.auto.commit'", "commits each offset", "--commit-interval"],
        id="reserved-enable-auto-commit",
    ),
    pytest.param(
        {"kafka_config": ["enable.auto.offset.store=true"]}, {}, None,
        ["--kafka-config", "'enable.auto.offset.store'", "stores and commits"], id="reserved-offset-store",
    ),
    pytest.param(
        {"kafka_config": ["group.id=other"]}, {}, None, ["--kafka-config", "'group.id'", "--group-id"],
        id="reserved-group-id",
    ),
    pytest.param(
        {"kafka_config": ["bootstrap.servers=x:1"]}, {}, None,
        ["--kafka-config", "'bootstrap.servers'", "--bootstrap-servers"], id="reserved-bootstrap-servers",
    ),
    pytest.param(
        {"kafka_config": ["metadata.broker.list=x:1"]}, {}, None,
        ["--kafka-config", "'metadata.broker.list'", "--bootstrap-servers"], id="reserved-broker-list-alias",
    ),
    pytest.param(
        {"kafka_config": ["enable.idempotence=false"]}, {}, None,
        ["--kafka-config", "'enable.idempotence'", "duplicate alerts"], id="reserved-idempotence",
    ),
    pytest.param(
        {"kafka_config": ["acks=1"]}, {}, None, ["--kafka-config", "'acks'", "lose"], id="reserved-acks",
    ),
    pytest.param(
        {"kafka_config": ["request.required.acks=1"]}, {}, None,
        ["--kafka-config", "'request.required.acks'"], id="reserved-acks-alias",
    ),
    pytest.param({"log_format": "xml"}, {}, None, ["--log-format", "'xml'", "'text' or 'json'"], id="log-format"),
    pytest.param({"log_level": "LOUD"}, {}, None, ["--log-level", "'LOUD'", "'WARNING'"], id="log-level"),
    pytest.param({"commit_interval": "-1"}, {}, None, ["--commit-interval", "'-1'", "greater than 0"],
                 id="commit-interval-negative"),
    pytest.param({"commit_interval": "0"}, {}, None, ["--commit-interval", "'0'"], id="commit-interval-zero"),
    pytest.param({"batch_size": "0"}, {}, None, ["--batch-size", "'0'"], id="batch-size-zero"),
    pytest.param({"batch_size": "100001"}, {}, None, ["--batch-size", "'100001'", "100000"], id="batch-size-high"),
    pytest.param({"batch_size": "ten"}, {}, None, ["--batch-size", "'ten'", "integer"], id="batch-size-text"),
    pytest.param({"batch_timeout": "0"}, {}, None, ["--batch-timeout", "'0'"], id="batch-timeout-zero"),
    pytest.param({"shutdown_timeout": "nan"}, {}, None, ["--shutdown-timeout", "'nan'", "finite"],
                 id="shutdown-timeout-nan"),
    pytest.param({"group_id": ""}, {}, None, ["--group-id", "''"], id="group-id-empty"),
    pytest.param({}, {"EQL_STREAM_UNTIL_END": "maybe"}, None, ["--until-end", "'maybe'", "boolean"],
                 id="until-end-not-boolean"),
    pytest.param({"rules": ["/no/such/rule.toml"]}, {}, None, ["--rules", "'/no/such/rule.toml'", "no such file"],
                 id="rules-path-missing"),
    pytest.param(
        {"output_topic": "events"}, {}, None, ["--output-topic 'events'", "input topic"], id="output-is-input",
    ),
    pytest.param(
        {"input_topics": ["a", "a.dlq"]}, {}, None, ["dead-letter topic 'a.dlq'", "--dlq-topic"],
        id="derived-dlq-is-input",
    ),
    pytest.param(
        {"dlq_topic": "same", "output_topic": "same"}, {}, None, ["--output-topic 'same'", "dead-letter"],
        id="output-is-dlq",
    ),
    pytest.param(
        {"input_topics": ["t" * 247]}, {}, None, ["longer than", "--dlq-topic"], id="derived-dlq-too-long",
    ),
    pytest.param(
        {}, {}, "metrics_port = \"x\"\n", ["metrics_port", '"x"', "is not an integer", "config file", "eql-stream.toml"],
        id="file-value-names-file",
    ),
    pytest.param(
        {}, {}, "kafka = 5\n", ["--kafka-config", "config file", "not a int"], id="file-kafka-not-a-table",
    ),
    pytest.param(
        {}, {}, "metrics_prot = 1\n", ["unknown key 'metrics_prot'", "eql-stream.toml", "metrics_port"],
        id="file-unknown-key",
    ),
    pytest.param(
        {}, {}, "kafka_config = 1\n", ["unknown key 'kafka_config'"], id="file-field-name-instead-of-kafka-table",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("cli", "env", "config_text", "fragments"), INVALID_CASES)
def test_invalid_setting_raises_config_error(
    tmp_path: Path, cli: dict[str, Any], env: dict[str, str], config_text: str | None, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, cli, env, config_text)

    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message


def test_several_problems_in_one_error(tmp_path: Path) -> None:
    env = {"EQL_STREAM_METRICS_PORT": "70000", "EQL_STREAM_LOG_FORMAT": "xml"}

    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"input_topics": ["bad topic"], "kafka_config": ["acks=0"]}, env)

    message = str(caught.value)
    assert "4 problems" in message
    assert "--metrics-port '70000' from environment variable EQL_STREAM_METRICS_PORT" in message
    assert "--log-format 'xml'" in message
    assert "--input-topic 'bad topic' from the command line" in message
    assert "'acks'" in message


def test_missing_config_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError, match="not found") as caught:
        load_settings(REQUIRED_FLAGS, {}, path)

    assert str(path) in str(caught.value)
    assert "--config" in str(caught.value)


def test_config_file_from_env_missing_names_variable(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError, match="EQL_STREAM_CONFIG") as caught:
        load_settings(REQUIRED_FLAGS, {"EQL_STREAM_CONFIG": str(path)}, None)

    assert str(path) in str(caught.value)


def test_config_file_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file") as caught:
        load_settings(REQUIRED_FLAGS, {}, tmp_path)

    assert str(tmp_path) in str(caught.value)


def test_invalid_toml_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('output_topic = "alerts"\nmetrics_port = = 1\n')

    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(REQUIRED_FLAGS, {}, path)

    assert str(path) in str(caught.value)
    assert "line 2" in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user to deny reading")
def test_unreadable_config_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "locked.toml"
    path.write_text('group_id = "g"\n')
    path.chmod(0)

    try:
        with pytest.raises(ConfigError, match="cannot be read") as caught:
            load_settings(REQUIRED_FLAGS, {}, path)
    finally:
        path.chmod(0o600)

    assert str(path) in str(caught.value)


def test_config_file_read_failure_names_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Injects the failure, because permission bits do not stop root from reading.
    path = tmp_path / "locked.toml"
    path.write_text('group_id = "g"\n')
    real_open = Path.open

    def deny_config_file(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny_config_file)

    with pytest.raises(ConfigError, match="cannot be read: Permission denied") as caught:
        load_settings(REQUIRED_FLAGS, {}, path)

    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "key",
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.jaas.config",
        "custom.token",
        "aws.credentials",
        "ssl.key.pem",
    ],
)
def test_secret_property_masked_in_summary(tmp_path: Path, key: str) -> None:
    settings = load(tmp_path, {"kafka_config": [f"{key}={SECRET}", "sasl.username=alice"]})

    summary = settings.redacted_summary()

    assert summary["kafka_config"][key] == "***"
    assert summary["kafka_config"]["sasl.username"] == "alice"
    assert SECRET not in json.dumps(summary)
    assert settings.kafka_properties()[key] == SECRET


def test_summary_lists_every_setting(tmp_path: Path) -> None:
    settings = load(tmp_path)

    summary = settings.redacted_summary()

    assert set(summary) == set(ServiceSettings.model_fields)
    assert summary["input_topics"] == ["events"]
    assert summary["rules"] == "the shipped rules"


def test_repr_masks_every_kafka_value(tmp_path: Path) -> None:
    settings = load(tmp_path, {"kafka_config": [f"sasl.password={SECRET}", f"client.id={SECRET}x"]})

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("cli", "env"),
    [
        pytest.param({"metrics_port": "bad"}, {"EQL_STREAM_KAFKA_CONFIG": f"sasl.password={SECRET}"},
                     id="other-setting-invalid"),
        pytest.param({"kafka_config": [f"sasl.password:{SECRET}"]}, {}, id="malformed-secret-entry"),
        pytest.param({"kafka_config": [f"group.id={SECRET}"]}, {}, id="reserved-key-value"),
        pytest.param({"kafka_config": [f"sasl.password={SECRET}", "acks=all"]}, {}, id="secret-beside-reserved"),
        pytest.param({}, {"EQL_STREAM_KAFKA_CONFIG": f"sasl.password {SECRET}"}, id="env-entry-without-equals"),
    ],
)  # fmt: skip
def test_error_message_hides_secrets(tmp_path: Path, cli: dict[str, Any], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, cli, env)

    assert SECRET not in str(caught.value)
    assert SECRET not in str(caught.value.__cause__)


def test_settings_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path)

    with pytest.raises(ValidationError, match="frozen"):
        settings.output_topic = "other"  # type: ignore[misc]


def test_settings_ignore_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EQL_STREAM_OUTPUT_TOPIC", "from-process-env")

    settings = load_settings(REQUIRED_FLAGS, {}, None)

    assert settings.output_topic == "eql-stream.alerts"


def test_unknown_env_variable_logs_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stream.config_loading"):
        load_settings(REQUIRED_FLAGS, {"EQL_STREAM_INPUT_TOPIC": "typo", "EQL_STREAM_CONFIG": ""}, None)

    assert "EQL_STREAM_INPUT_TOPIC" in caplog.text
    assert "EQL_STREAM_CONFIG" not in caplog.text
    assert "typo" not in caplog.text


@pytest.mark.parametrize(
    ("dlq_topic", "input_topic", "expected"),
    [
        pytest.param(None, "events", "events.dlq", id="derived-from-input"),
        pytest.param(None, "other.topic", "other.topic.dlq", id="derived-for-any-input"),
        pytest.param("dead-letters", "events", "dead-letters", id="explicit-topic"),
    ],
)
def test_dead_letter_topic_for(tmp_path: Path, dlq_topic: str | None, input_topic: str, expected: str) -> None:
    settings = load(tmp_path, {"dlq_topic": dlq_topic, "input_topics": ["events", "other.topic"]})

    assert settings.dead_letter_topic_for(input_topic) == expected


def test_help_mentions_every_env_variable_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")

    help_text = " ".join(run_parser().format_help().split())

    for field in ServiceSettings.model_fields:
        assert env_name(field) in help_text
        if field != "kafka_config":
            assert f"config {field}" in help_text
    assert "KAFKA_BOOTSTRAP_SERVERS" in help_text
    assert "EQL_STREAM_CONFIG" in help_text
    assert "config [kafka] table" in help_text


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        pytest.param("--output-topic", "Kafka topic for alerts (default: eql-stream.alerts;", id="output-topic"),
        pytest.param("--metrics-port", "(default: 9464;", id="metrics-port"),
        pytest.param("--commit-interval", "Seconds between offset commits, more than 0 (default: 5.0;",
                     id="commit-interval"),
        pytest.param("--batch-size", "1 to 100000 (default: 500;", id="batch-size"),
        pytest.param("--bootstrap-servers", "(required;", id="bootstrap-required"),
        pytest.param("--rules", "(default: the shipped rule set;", id="rules"),
        pytest.param("--until-end", "(default: off;", id="until-end"),
    ],
)  # fmt: skip
def test_help_states_default(monkeypatch: pytest.MonkeyPatch, flag: str, fragment: str) -> None:
    monkeypatch.setenv("COLUMNS", "400")

    help_text = " ".join(run_parser().format_help().split())

    assert flag in help_text
    assert fragment in help_text


def test_unset_flags_absent_from_cli_values() -> None:
    namespace = run_parser().parse_args(["--input-topic", "a"])

    assert cli_values_from_namespace(namespace) == {"input_topics": ["a"]}


def test_cli_values_collect_repeated_and_negated_flags(tmp_path: Path) -> None:
    config_file = tmp_path / "c.toml"
    config_file.write_text("until_end = true\n")
    argv = [
        "--bootstrap-servers", "k:9092",
        "--input-topic", "a", "--input-topic", "b",
        "--kafka-config", "linger.ms=5", "--kafka-config", "client.id=x",
        "--no-until-end", "--strict", "--metrics-port", "0",
        "--config", str(config_file),
    ]  # fmt: skip
    namespace = run_parser().parse_args(argv)

    cli_values = cli_values_from_namespace(namespace)
    settings = load_settings(cli_values, {}, namespace.config_file)

    assert "config_file" not in cli_values
    assert settings.input_topics == ("a", "b")
    assert settings.kafka_properties() == {"linger.ms": "5", "client.id": "x"}
    assert settings.until_end is False
    assert settings.strict is True
    assert settings.metrics_port == 0


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        pytest.param("batch_size = true", "batch_size = true is not an integer", id="boolean-for-integer"),
        pytest.param('batch_size = "500"', 'batch_size = "500" is not an integer', id="string-for-integer"),
        pytest.param('until_end = "yes"', 'until_end = "yes" is not a boolean', id="string-for-boolean"),
        pytest.param("strict = 1", "strict = 1 is not a boolean", id="integer-for-boolean"),
        pytest.param('commit_interval = "5"', 'commit_interval = "5" is not a number', id="string-for-number"),
        pytest.param("commit_interval = false", "commit_interval = false is not a number", id="boolean-for-number"),
    ],
)
def test_config_file_value_of_wrong_type_rejected(tmp_path: Path, line: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load(tmp_path, config_text=line + "\n")


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        pytest.param("commit_interval = 5", "commit_interval", 5.0, id="integer-for-number"),
        pytest.param("batch_size = 250", "batch_size", 250, id="integer"),
        pytest.param("strict = true", "strict", True, id="boolean"),
    ],
)
def test_config_file_value_of_right_type_accepted(tmp_path: Path, line: str, field: str, expected: Any) -> None:
    settings = load(tmp_path, config_text=line + "\n")

    assert getattr(settings, field) == expected
