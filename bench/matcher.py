"""Benchmark the per-event cost of the compiled EQL matcher.

Three contenders evaluate the shipped rule ("Windows System Network
Connections Discovery") on the same synthetic Elastic Defend events:

* the compiled matcher of ``stream.eql``;
* a hand-written Python function with the same semantics;
* the ``PythonEngine`` of the ``eql`` package (AGPL-3.0, a benchmark-only
  dependency: install it with ``.venv/bin/pip install eql``).

Run from the repository root::

    .venv/bin/python bench/matcher.py [--events N] [--repeat R] [--seed S] [--json]

Each round times one pass of every contender over all events, with the order
of contenders rotated from round to round and garbage collection paused
during a pass. The headline figure per contender is its best round, and the
median round is shown next to it. With ``--json`` the last line of output is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The script runs without installing the package, so the repository root goes on the import path.
_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(_REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPOSITORY_ROOT))

from bench.events import generate_process_events  # noqa: E402
from stream.eql import compile_query  # noqa: E402
from stream.rules.loaders import load_shipped_rules  # noqa: E402

Event = Mapping[str, Any]

# Target: the matcher costs at most this many times as much as the hand-written function.
MAX_MATCHER_VS_HANDWRITTEN = 1.5
# Target: the eql package's engine costs at least this many times as much as the matcher.
MIN_EQL_VS_MATCHER = 5.0


# Hand-written rule ------------------------------------------------------------------------------------------

# Keyword fields in the ECS templates do not index a value longer than this many UTF-16 code units.
_IGNORE_ABOVE = 1024
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NET_SUBCOMMANDS = frozenset({"use", "user", "session", "config"})


def handwritten_discovery_rule(event: Event) -> bool:
    """Return whether ``event`` matches the shipped rule, evaluated by hand.

    It follows the matcher's semantics. Every field is a keyword field whose
    value set is every non-null scalar at its path, with arrays flattened.
    Values over 1024 UTF-16 code units are not indexed. ``:`` folds ASCII
    letters only, and a negated test passes when the field is absent. Unlike
    the matcher, it reads nested objects only, not dotted keys such as
    ``{"process.name": ...}``.
    """
    if "process" not in _keyword_values(event, ("event", "category")):
        return False
    if "start" not in _keyword_values(event, ("event", "type")):
        return False
    if not _is_discovery_command(event):
        return False
    return "s-1-5-18" not in _folded_values(event, ("user", "id"))


def _is_discovery_command(event: Event) -> bool:
    names = _folded_values(event, ("process", "name"))
    if "netstat.exe" in names:
        return True

    original_names = _keyword_values(event, ("process", "pe", "original_file_name"))
    is_net = "net.exe" in names or "net.exe" in original_names
    is_net1 = (
        ("net1.exe" in names or "net1.exe" in original_names)
        and "net.exe" not in _folded_values(event, ("process", "parent", "name"))
    )
    if is_net or is_net1:
        args = _folded_values(event, ("process", "args"))
        has_subcommand = any(arg in _NET_SUBCOMMANDS for arg in args)
        if has_subcommand and not any(_is_excluded_net_argument(arg) for arg in args):
            return True

    if "nbtstat.exe" in names:
        return any(arg.startswith("-s") for arg in _folded_values(event, ("process", "args")))
    return False


def _is_excluded_net_argument(folded_arg: str) -> bool:
    # The patterns "/persistent:*", "/delete" and "\\*" (a UNC path), folded.
    return folded_arg.startswith("/persistent:") or folded_arg == "/delete" or folded_arg.startswith("\\\\")


def _folded_values(event: Event, path: tuple[str, ...]) -> list[str]:
    return [_fold(text) for text in _keyword_values(event, path)]


def _keyword_values(event: Event, path: tuple[str, ...]) -> list[str]:
    """Return the indexed text values of a keyword field: JSON text of each scalar, short enough to index."""
    texts = []
    for value in _field_values(event, path):
        text = _as_text(value)
        if _utf16_length(text) <= _IGNORE_ABOVE:
            texts.append(text)
    return texts


def _field_values(node: Any, path: tuple[str, ...]) -> list[Any]:
    values: list[Any] = []
    _collect(node, path, 0, values)
    return values


def _collect(node: Any, path: tuple[str, ...], depth: int, out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, path, depth, out)
    elif depth == len(path):
        if node is not None and not isinstance(node, dict):
            out.append(node)
    elif isinstance(node, dict):
        _collect(node.get(path[depth]), path, depth + 1, out)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fold(text: str) -> str:
    # str.lower() folds ASCII text exactly, but on other text it would also fold non-ASCII letters.
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_LOWER)


def _utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# Contenders -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contender:
    """One implementation under test: ``run`` evaluates every event once and returns the match count."""

    label: str
    key: str
    run: Callable[[], int]


def _counting_run(predicate: Callable[[Event], bool], events: Sequence[Event]) -> Callable[[], int]:
    def run() -> int:
        count = 0
        for event in events:
            if predicate(event):
                count += 1
        return count

    return run


def _eql_engine_contender(query: str, events: Sequence[Event]) -> Contender:
    """Build the ``eql`` package's ``PythonEngine`` for ``query`` and convert ``events`` for it (untimed).

    ``eql.Event.from_data`` takes the event type from an ``event_type`` key,
    which ECS documents lack, so each event is wrapped as
    ``eql.Event(<first event.category>, 0, document)`` instead. The engine
    then dispatches ``process where`` on that type.

    Raises:
        SystemExit: the ``eql`` package is not installed.
    """
    # eql is AGPL-3.0 and optional, so it is imported only when this benchmark runs.
    try:
        import eql  # noqa: PLC0415
    except ImportError:
        raise SystemExit("the eql package is missing: install it with '.venv/bin/pip install eql'") from None

    with eql.parser.elasticsearch_syntax:
        parsed = eql.parse_query(query)
    engine = eql.PythonEngine()
    engine.add_query(parsed)
    outputs: list[Any] = []
    engine.add_output_hook(outputs.append)

    converted = [eql.Event(_first_category(event), 0, event) for event in events]
    stream_event = engine.stream_event

    def run() -> int:
        outputs.clear()
        for event in converted:
            stream_event(event)
        return len(outputs)

    return Contender(f"eql {eql.__version__} PythonEngine", "eql_engine", run)


def _first_category(event: Event) -> str:
    category = event.get("event", {}).get("category")
    if isinstance(category, list):
        category = category[0] if category else None
    return category if isinstance(category, str) else "generic"


# Measurement ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """Timings of one contender: per-event cost of each round in microseconds, and its match count."""

    contender: Contender
    round_us: list[float]
    matches: int

    @property
    def best_us(self) -> float:
        return min(self.round_us)

    @property
    def median_us(self) -> float:
        return statistics.median(self.round_us)


def measure(contenders: Sequence[Contender], event_count: int, rounds: int) -> list[Result]:
    """Time ``rounds`` passes of each contender, interleaved, and return the per-event costs.

    Every contender runs once untimed first to warm caches. In round ``i`` the
    contenders start at position ``i`` modulo their number, so none always runs first.
    """
    matches = {contender.key: contender.run() for contender in contenders}
    timings: dict[str, list[float]] = {contender.key: [] for contender in contenders}

    for round_index in range(rounds):
        start = round_index % len(contenders)
        for contender in [*contenders[start:], *contenders[:start]]:
            timings[contender.key].append(_time_pass(contender, event_count))

    return [Result(contender, timings[contender.key], matches[contender.key]) for contender in contenders]


def _time_pass(contender: Contender, event_count: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        contender.run()
        elapsed = time.perf_counter_ns() - started
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / event_count / 1000


def find_disagreements(events: Sequence[Event], matcher: Callable[[Event], bool]) -> list[int]:
    """Return the positions of events on which ``matcher`` and the hand-written function differ."""
    return [index for index, event in enumerate(events) if matcher(event) != handwritten_discovery_rule(event)]


# Output -----------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's processor string elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def summarise(results: Sequence[Result], event_count: int, rounds: int) -> dict[str, Any]:
    """Collect the figures of a run into one JSON-ready dictionary."""
    by_key = {result.contender.key: result for result in results}
    matcher = by_key["matcher"]
    handwritten = by_key["handwritten"]
    eql_engine = by_key["eql_engine"]
    matcher_vs_handwritten = matcher.best_us / handwritten.best_us
    eql_vs_matcher = eql_engine.best_us / matcher.best_us

    return {
        "matcher_us": round(matcher.best_us, 3),
        "handwritten_us": round(handwritten.best_us, 3),
        "eql_engine_us": round(eql_engine.best_us, 3),
        "matcher_vs_handwritten": round(matcher_vs_handwritten, 3),
        "eql_vs_matcher": round(eql_vs_matcher, 3),
        "matcher_within_1_5x_of_handwritten": matcher_vs_handwritten <= MAX_MATCHER_VS_HANDWRITTEN,
        "matcher_5x_faster_than_eql_engine": eql_vs_matcher >= MIN_EQL_VS_MATCHER,
        "median_us": {key: round(result.median_us, 3) for key, result in by_key.items()},
        "matches": {key: result.matches for key, result in by_key.items()},
        "statistic": "best round",
        "events": event_count,
        "rounds": rounds,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def format_table(results: Sequence[Result], summary: Mapping[str, Any]) -> str:
    """Render the results as a plain-text table followed by the two target checks."""
    lines = [
        f"{summary['events']} events, {summary['rounds']} rounds, Python {summary['python']}, {summary['cpu']}",
        "",
        f"{'contender':<28} {'best us/event':>14} {'median us/event':>16} {'matches':>8}",
    ]
    for result in results:
        lines.append(
            f"{result.contender.label:<28} {result.best_us:>14.3f} {result.median_us:>16.3f} {result.matches:>8}"
        )
    lines += [
        "",
        f"matcher / hand-written: {summary['matcher_vs_handwritten']:.2f}x "
        f"(target at most {MAX_MATCHER_VS_HANDWRITTEN}x: {_verdict(summary['matcher_within_1_5x_of_handwritten'])})",
        f"eql engine / matcher:   {summary['eql_vs_matcher']:.2f}x "
        f"(target at least {MIN_EQL_VS_MATCHER}x: {_verdict(summary['matcher_5x_faster_than_eql_engine'])})",
    ]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


# Command line -----------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line and reject an ``--events`` or ``--repeat`` below 1."""
    parser = argparse.ArgumentParser(description="Measure the per-event cost of the compiled EQL matcher.")
    parser.add_argument("--events", type=int, default=20_000, help="number of generated events (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per contender (default 7)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the event generator (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    arguments = parser.parse_args(argv)
    if arguments.events < 1:
        parser.error(f"--events must be at least 1, got {arguments.events}")
    if arguments.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {arguments.repeat}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table.

    Returns the exit status: 0, or 1 when the matcher and the hand-written
    function disagree on some event (nothing is timed then).
    """
    arguments = parse_arguments(argv)
    query = load_shipped_rules()[0].query
    compiled = compile_query(query)
    events = generate_process_events(arguments.events, seed=arguments.seed)

    disagreements = find_disagreements(events, compiled.matches)
    if disagreements:
        first_positions = ", ".join(str(index) for index in disagreements[:10])
        print(
            f"error: the matcher and the hand-written function disagree on {len(disagreements)} events "
            f"(first positions: {first_positions}). Fix the disagreement before timing.",
            file=sys.stderr,
        )
        return 1

    contenders = [
        Contender("stream.eql compiled matcher", "matcher", _counting_run(compiled.matches, events)),
        Contender("hand-written function", "handwritten", _counting_run(handwritten_discovery_rule, events)),
        _eql_engine_contender(query, events),
    ]
    results = measure(contenders, len(events), arguments.repeat)
    summary = summarise(results, len(events), arguments.repeat)

    print(format_table(results, summary))
    if arguments.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
