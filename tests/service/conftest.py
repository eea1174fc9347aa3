"""Fixtures for the service tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class ServiceTopics:
    """The topics one service test uses; the dead-letter topic has the default name."""

    input: str
    output: str
    dead_letter: str


@pytest.fixture
def service_topics_factory(kafka_topic_factory: Callable[..., str]) -> Callable[..., ServiceTopics]:
    """Factory ``make(partitions=1) -> ServiceTopics`` creating input, output and ``<input>.dlq`` topics."""

    def make(partitions: int = 1) -> ServiceTopics:
        input_topic = kafka_topic_factory(partitions=partitions)
        output_topic = kafka_topic_factory()
        dead_letter_topic = kafka_topic_factory(name=f"{input_topic}.dlq")
        return ServiceTopics(input_topic, output_topic, dead_letter_topic)

    return make
