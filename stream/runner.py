"""Start-up of the detection service: rules, metrics, health, signals, then the loop.

``run_detection_service`` runs one service process with its own metrics
endpoint; ``run_worker`` runs one of several worker processes whose metrics
the parent serves (see :mod:`stream.workers`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, ProcessCollector

from stream import __version__
from stream.config import ServiceSettings
from stream.errors import ConfigError
from stream.health import HealthState
from stream.metrics import Metrics
from stream.metrics_server import start_metrics_server
from stream.rules.lint import rule_warnings
from stream.ruleset import RuleSet, load_rule_set
from stream.service import DetectionService
from stream.workers import watch_parent

logger = logging.getLogger(__name__)

# /healthz fails when the main loop has not completed an iteration for this long.
# An iteration waits at most batch_timeout for messages, or shutdown_timeout
# (default 30 s) for deliveries when partitions are revoked.
STALL_TIMEOUT_SECONDS = 120.0

# How many rule names the start-up log line lists; a folder of Elastic's rules has hundreds.
LOGGED_RULE_NAMES = 20


def run_detection_service(settings: ServiceSettings) -> int:
    """Load the rules, start the metrics endpoint and run the service until it stops.

    Returns the process exit code: 0 after a requested stop or ``--until-end``,
    1 after a fatal Kafka error or an undeliverable record.

    Raises:
        ConfigError: no rule could be loaded, or a rule failed under ``--strict``.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return _run_service(settings, registry, serve_metrics=True)


def run_worker(
    settings: ServiceSettings,
    on_ready_change: Callable[[bool], None] | None = None,
    parent_pid: int | None = None,
    *,
    report_rule_problems: bool = True,
) -> int:
    """Run the service in a worker process, whose metrics the parent serves.

    The caller sets ``PROMETHEUS_MULTIPROC_DIR`` before this process imports
    prometheus_client, so every metric is written to the shared directory.
    ``on_ready_change`` receives each change of the worker's readiness. With
    ``parent_pid``, the service stops as after SIGTERM once that parent
    process has exited. Every worker loads the same rules, so only one needs
    ``report_rule_problems``: the others log rule errors and warnings at
    DEBUG level.
    """
    return _run_service(
        settings, CollectorRegistry(), serve_metrics=False, on_ready_change=on_ready_change, parent_pid=parent_pid,
        report_rule_problems=report_rule_problems,
    )


def _run_service(
    settings: ServiceSettings,
    registry: CollectorRegistry,
    *,
    serve_metrics: bool,
    on_ready_change: Callable[[bool], None] | None = None,
    parent_pid: int | None = None,
    report_rule_problems: bool = True,
) -> int:
    rule_set = _load_rules(settings, report_problems=report_rule_problems)
    metrics = _build_metrics(registry, settings, rule_set)
    health = HealthState(ready_gauge=metrics.ready, stall_timeout=STALL_TIMEOUT_SECONDS, on_ready_change=on_ready_change)

    server = None
    if serve_metrics:
        server = start_metrics_server(registry, health, settings.metrics_host, settings.metrics_port)
        logger.info("metrics endpoint listening on %s", server.url)
    service = DetectionService(settings, rule_set, metrics, health)
    restore = _install_signal_handlers(service.request_stop)
    end_watch = watch_parent(parent_pid, service.request_stop) if parent_pid is not None else None
    try:
        return service.run()
    finally:
        if end_watch is not None:
            end_watch()
        restore()
        if server is not None:
            server.stop()


def _build_metrics(registry: CollectorRegistry, settings: ServiceSettings, rule_set: RuleSet) -> Metrics:
    metrics = Metrics(registry)
    metrics.set_build_info(__version__)
    metrics.set_loaded_rules(rule_set.rule_ids, {compiled.rule.rule_id: compiled.rule.name for compiled in rule_set.rules})
    metrics.set_input_topics(settings.input_topics)
    return metrics


def _load_rules(settings: ServiceSettings, *, report_problems: bool = True) -> RuleSet:
    rule_set, reports = load_rule_set([*settings.rules], options=settings.match_options())
    failed = [report for report in reports if report.status != "ok"]
    error_level = logging.ERROR if report_problems else logging.DEBUG
    warning_level = logging.WARNING if report_problems else logging.DEBUG
    for report in failed:
        logger.log(error_level, "rule not loaded: %s", report.error)
    if failed and settings.strict:
        raise ConfigError(f"{len(failed)} rules failed to load or compile and --strict is set")
    if not rule_set.rules:
        raise ConfigError("no rule could be loaded: fix the errors above or check --rules")
    for compiled in rule_set.rules:
        for warning in rule_warnings(compiled.rule, compiled.query.syntax):
            logger.log(warning_level, "%s", warning)
    listed = rule_set.describe_names(limit=LOGGED_RULE_NAMES)
    if len(rule_set) > LOGGED_RULE_NAMES:
        listed += " (every name at DEBUG level)"
        logger.debug("loaded rules: %s", rule_set.describe_names(limit=len(rule_set)))
    logger.info(
        "loaded %d %s (%d failed to load or compile): %s",
        len(rule_set), "rule" if len(rule_set) == 1 else "rules", len(failed), listed,
    )
    return rule_set


def _install_signal_handlers(stop: Callable[[str], None]) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda received, frame: stop(signal.Signals(received).name))

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore
