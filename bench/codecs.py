"""Benchmark the per-event decode cost of JSON and Avro on the same events.

Contenders, all turning message bytes into an ECS event dict:

* ``json``: ``stream.codecs.json_codec.decode_event`` (orjson);
* ``avro_plain``: ``AvroEventDecoder`` with the writer schema given (``--input-schema``);
* ``avro_framed``: ``AvroEventDecoder`` reading Schema Registry framed messages, with the
  writer schema fetched once from an in-memory registry and cached;
* ``avro_fastavro``: the general path that ``AvroEventDecoder`` takes when it cannot compile
  a reader for the schema: fastavro's ``schemaless_reader``, then the conversion to ECS names.

Run from the repository root::

    .venv/bin/python bench/codecs.py [--events N] [--rounds R] [--seed S] [--json]

Every round decodes all events with each contender in turn, rotating the
order; the best round per contender counts. With ``--json`` the last line is
one JSON object with ``json_decode_us``, ``avro_plain_decode_us``,
``avro_framed_decode_us``, ``avro_fastavro_decode_us`` and the mean payload sizes.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(_REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPOSITORY_ROOT))

import fastavro  # noqa: E402
import orjson  # noqa: E402

from bench.events import generate_process_events  # noqa: E402
from stream.codecs.avro_codec import AvroEventDecoder, encode_event  # noqa: E402
from stream.codecs.avro_schema import load_shipped_schema  # noqa: E402
from stream.codecs.json_codec import decode_event  # noqa: E402
from stream.codecs.registry import make_registry_client, register_schema  # noqa: E402


def _time_pass(decode: Callable[[bytes], object], payloads: list[bytes]) -> float:
    """Return the mean decode time per payload, in microseconds, of one pass."""
    started = time.perf_counter()
    for payload in payloads:
        decode(payload)
    return (time.perf_counter() - started) / len(payloads) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (and JSON line with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events to decode per round (default 5000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per contender (default 7)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the event generator (default 7)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    arguments = parser.parse_args(argv)

    events = generate_process_events(arguments.events, seed=arguments.seed)
    schema = load_shipped_schema("process_event")
    registry = make_registry_client("mock://bench-codecs")
    schema_id = register_schema(registry, "bench-value", schema)

    payloads = {
        "json": [orjson.dumps(event) for event in events],
        "avro_plain": [encode_event(event, schema) for event in events],
        "avro_framed": [encode_event(event, schema, schema_id=schema_id) for event in events],
    }
    payloads["avro_fastavro"] = payloads["avro_plain"]
    decoders: dict[str, Callable[[bytes], object]] = {
        "json": decode_event,
        "avro_plain": AvroEventDecoder(writer_schema=schema).decode,
        "avro_framed": AvroEventDecoder(registry=registry).decode,
        "avro_fastavro": lambda payload: schema.converter.to_ecs(
            fastavro.schemaless_reader(io.BytesIO(payload), schema.parsed, None)
        ),
    }

    names = list(decoders)
    best = {name: float("inf") for name in names}
    for round_index in range(arguments.rounds):
        rotated = names[round_index % len(names):] + names[: round_index % len(names)]
        for name in rotated:
            best[name] = min(best[name], _time_pass(decoders[name], payloads[name]))

    sizes = {name: sum(map(len, items)) / len(items) for name, items in payloads.items()}
    print(f"{arguments.events} events, {arguments.rounds} rounds, Python {platform.python_version()}")
    print(f"{'contender':<14}{'best us/event':>15}{'mean bytes':>12}{'vs json':>9}")
    for name in names:
        print(f"{name:<14}{best[name]:>15.2f}{sizes[name]:>12.0f}{best[name] / best['json']:>9.1f}")

    if arguments.json:
        print(
            json.dumps(
                {
                    "json_decode_us": round(best["json"], 3),
                    "avro_plain_decode_us": round(best["avro_plain"], 3),
                    "avro_framed_decode_us": round(best["avro_framed"], 3),
                    "avro_fastavro_decode_us": round(best["avro_fastavro"], 3),
                    "json_bytes": round(sizes["json"]),
                    "avro_bytes": round(sizes["avro_plain"]),
                    "events": arguments.events,
                    "rounds": arguments.rounds,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
