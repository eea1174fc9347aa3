"""Tests of the benchmark event generator in bench/events.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from stream.eql import compile_query
from stream.rules.loaders import load_shipped_rules


def _load_bench_events() -> ModuleType:
    # bench/ is a folder of scripts, not an installed package, so the module is loaded from its file.
    path = Path(__file__).resolve().parent.parent / "bench" / "events.py"
    spec = importlib.util.spec_from_file_location("bench_events", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module's annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench_events = _load_bench_events()
generate_process_events = bench_events.generate_process_events
DISCOVERY_ORIGINAL_FILE_NAMES = bench_events.DISCOVERY_ORIGINAL_FILE_NAMES


def _is_discovery(event: dict) -> bool:
    return event["process"]["pe"]["original_file_name"] in DISCOVERY_ORIGINAL_FILE_NAMES


def test_generator_same_seed_same_events() -> None:
    first = generate_process_events(300, seed=7)
    second = generate_process_events(300, seed=7)

    assert first == second


def test_generator_other_seed_other_events() -> None:
    first = generate_process_events(300, seed=7)
    second = generate_process_events(300, seed=8)

    assert first != second


@pytest.mark.parametrize(
    ("count", "share", "expected"),
    [
        pytest.param(1000, 0.03, 30, id="default-share"),
        pytest.param(1000, 0.0, 0, id="no-discovery"),
        pytest.param(200, 1.0, 200, id="all-discovery"),
        pytest.param(333, 0.1, 33, id="rounded"),
        pytest.param(0, 0.03, 0, id="no-events"),
    ],
)
def test_generator_discovery_share(count: int, share: float, expected: int) -> None:
    events = generate_process_events(count, seed=3, discovery_share=share)

    assert len(events) == count
    assert sum(_is_discovery(event) for event in events) == expected


@pytest.mark.parametrize(
    ("count", "share"),
    [
        pytest.param(-1, 0.03, id="negative-count"),
        pytest.param(10, 1.5, id="share-above-one"),
        pytest.param(10, -0.1, id="negative-share"),
    ],
)
def test_generator_invalid_arguments_raise(count: int, share: float) -> None:
    with pytest.raises(ValueError, match="invalid"):
        generate_process_events(count, seed=1, discovery_share=share)


def test_generator_document_shape() -> None:
    events = generate_process_events(500, seed=11, discovery_share=0.2)

    for event in events:
        process = event["process"]
        assert event["event"]["category"] == ["process"]
        assert event["event"]["type"] == ["start"]
        assert isinstance(process["args"], list) and process["args"]
        assert all(isinstance(arg, str) for arg in process["args"])
        assert process["args_count"] == len(process["args"])
        assert process["name"] == process["executable"].rsplit("\\", 1)[-1]
        assert process["parent"]["args_count"] == len(process["parent"]["args"])
        assert event["user"]["id"].startswith("S-1-5-")


def test_generator_document_size_near_two_kilobytes() -> None:
    events = generate_process_events(2000, seed=5)

    sizes = [len(json.dumps(event, separators=(",", ":"))) for event in events]
    mean = sum(sizes) / len(sizes)

    assert 1500 <= mean <= 2500


def test_generator_includes_system_user_and_long_arguments() -> None:
    events = generate_process_events(2000, seed=5)

    user_ids = {event["user"]["id"] for event in events}
    longest_args = max(len(arg) for event in events for arg in event["process"]["args"])

    assert "S-1-5-18" in user_ids
    assert longest_args > 1024


def test_generator_discovery_events_include_look_alikes() -> None:
    rule = compile_query(load_shipped_rules()[0].query)
    events = generate_process_events(2000, seed=9, discovery_share=0.2)

    discovery = [event for event in events if _is_discovery(event)]
    ordinary = [event for event in events if not _is_discovery(event)]
    alerting = sum(rule.matches(event) for event in discovery)

    assert 0 < alerting < len(discovery)
    assert not any(rule.matches(event) for event in ordinary)
