"""librdkafka configuration for the service's consumer and producer, in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from stream.errors import ConfigError
from stream.logging_setup import LIBRDKAFKA_LOGGER

# Delivery guarantees the service relies on; user properties cannot override them.
_CONSUMER_OWNED = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
}
_PRODUCER_OWNED = {
    "enable.idempotence": True,
    "acks": "all",
}

# Defaults the user may override with --kafka-config.
_CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",
    # librdkafka (2.x) pauses a partition's fetching for this long once its
    # prefetch queue is full; the default of 1000 ms let the queue run dry while
    # the service was still evaluating, and halved the consume rate (measured:
    # 100,000 events in 4.3 s with 1000 ms, 2.3 s with 10 ms, start-up included).
    "fetch.queue.backoff.ms": 10,
    # The prefetch queue's size limit (librdkafka's default is 64 MiB). 32 MiB cut the peak
    # memory on a 200,000-event backlog from about 180 to 140 MB at the same rate, and 16 MiB
    # with all 488 of Elastic's process rules from 199 to 181 MiB, again at the same rate.
    "queued.max.messages.kbytes": 16384,
    "statistics.interval.ms": 5000,
    "session.timeout.ms": 45000,
    # A member notices a rebalance at its next heartbeat, so a worker that joins gets its
    # partitions within about a second instead of librdkafka's default of three.
    "heartbeat.interval.ms": 1000,
}
_PRODUCER_DEFAULTS = {
    "linger.ms": 5,
    "compression.type": "lz4",
    "statistics.interval.ms": 0,
}

# librdkafka's defaults of the two settings that bound a produced record batch.
LIBRDKAFKA_BATCH_SIZE = 1_000_000
LIBRDKAFKA_MESSAGE_MAX_BYTES = 1_000_000

# Properties that only make sense for one client type.
_PRODUCER_ONLY_PREFIXES = ("linger.ms", "compression.", "batch.", "queue.buffering.", "message.timeout.ms", "retries", "delivery.timeout.ms")
_CONSUMER_ONLY_PREFIXES = ("queued.", "auto.offset.reset", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "fetch.", "partition.assignment.strategy", "group.", "isolation.level")


def consumer_config(
    bootstrap_servers: str,
    group_id: str,
    extra: Mapping[str, Any],
    *,
    stats_callback: Callable[[str], None] | None = None,
    error_callback: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Return the consumer's librdkafka configuration.

    Offsets are stored by the service only after every output of a message
    is acknowledged, and committed by the service, so auto-commit and
    auto-store are off whatever ``extra`` sets.
    """
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "group.id": group_id}
    config.update(_CONSUMER_DEFAULTS)
    config.update({key: value for key, value in extra.items() if not key.startswith(_PRODUCER_ONLY_PREFIXES)})
    config.update(_CONSUMER_OWNED)
    config["logger"] = logging.getLogger(LIBRDKAFKA_LOGGER)
    if stats_callback is not None:
        config["stats_cb"] = stats_callback
    if error_callback is not None:
        config["error_cb"] = error_callback
    return config


def producer_config(
    bootstrap_servers: str,
    extra: Mapping[str, Any],
    *,
    error_callback: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Return the producer's librdkafka configuration: idempotent, ``acks=all``."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers}
    config.update(_PRODUCER_DEFAULTS)
    config.update({key: value for key, value in extra.items() if not key.startswith(_CONSUMER_ONLY_PREFIXES)})
    config.update(_PRODUCER_OWNED)
    config["logger"] = logging.getLogger(LIBRDKAFKA_LOGGER)
    if error_callback is not None:
        config["error_cb"] = error_callback
    return config


def admin_config(bootstrap_servers: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Return the configuration of an admin client: the connection and security settings of ``extra``."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers}
    config.update(
        {key: value for key, value in extra.items() if not key.startswith(_CONSUMER_ONLY_PREFIXES + _PRODUCER_ONLY_PREFIXES)}
    )
    config["logger"] = logging.getLogger(LIBRDKAFKA_LOGGER)
    return config


def producer_batch_limit(extra: Mapping[str, Any]) -> int | None:
    """Return the largest record batch, in bytes, that the service's producer builds with ``extra``.

    That is librdkafka's ``batch.size``, capped by its ``message.max.bytes``
    (both 1,000,000 by default). Returns None when a value is not a plain
    number, such as ``1e6``, which librdkafka reads in its own way.
    """
    sizes = [_whole_number(extra.get("batch.size", LIBRDKAFKA_BATCH_SIZE)), _whole_number(extra.get("message.max.bytes", LIBRDKAFKA_MESSAGE_MAX_BYTES))]
    return None if None in sizes else min(sizes)  # type: ignore[type-var]


def _whole_number(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def check_client_configs(bootstrap_servers: str, group_id: str, extra: Mapping[str, Any]) -> None:
    """Build a consumer and a producer from the settings and close them at once.

    librdkafka checks every property name and value when a client is built,
    so an unknown property or an invalid value is reported here, before the
    service (or any worker process) starts.

    Raises:
        ConfigError: librdkafka rejected a property; the message is librdkafka's
            own reason, which names the property and, for a bad value, the value.
    """
    try:
        consumer = Consumer(consumer_config(bootstrap_servers, group_id, extra))
    except KafkaException as exc:
        raise _rejected_setting("consumer", exc) from None
    consumer.close()

    try:
        Producer(producer_config(bootstrap_servers, extra))
    except KafkaException as exc:
        raise _rejected_setting("producer", exc) from None


def error_code(exc: KafkaException) -> int | None:
    """Return the librdkafka error code that ``exc`` carries, or None when it carries no KafkaError."""
    error = exc.args[0] if exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def error_text(error: object) -> str:
    """Return librdkafka's description and code name of a KafkaError, or of the one a KafkaException carries.

    Example: ``Broker: Broker failed to validate record (INVALID_RECORD)``.
    Any other error or exception is returned as its ``str``.
    """
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        error = error.args[0]
    if isinstance(error, KafkaError):
        return f"{error.str()} ({error.name()})"
    return str(error) or type(error).__name__


def _rejected_setting(client: str, exc: KafkaException) -> ConfigError:
    error = exc.args[0] if exc.args else None
    reason = error.str() if isinstance(error, KafkaError) else str(exc)
    return ConfigError(
        f"invalid librdkafka setting for the {client}: {reason}. Fix or remove it in --kafka-config, "
        "EQL_STREAM_KAFKA_CONFIG or the [kafka] table of the config file"
    )
