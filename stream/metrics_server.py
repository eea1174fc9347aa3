"""HTTP endpoint of the service: /metrics, /healthz and /readyz on a background thread.

/metrics is prometheus_client's own WSGI application, so content negotiation
(the Prometheus text format by default, OpenMetrics when the ``Accept`` header
requests it), gzip and ``name[]`` filtering behave as in prometheus_client's
own ``start_http_server``. The probes return plain text: ``ok`` with 200, or the failure
reason with 503. Any other path returns 404.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import make_wsgi_app
from prometheus_client.registry import Collector

from stream.errors import ConfigError
from stream.health import HealthState, ProbeResult

__all__ = ["MetricsServer", "start_metrics_server"]

_log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

_PROBE_METHODS = ("GET", "HEAD")
_TEXT_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]

# serve_forever checks for a shutdown request this often, so it bounds how long stop() waits.
_POLL_INTERVAL_SECONDS = 0.25


class MetricsServer:
    """A running endpoint. ``port`` is the bound port, which matters when 0 was requested."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.host = str(server.server_address[0])
        self.port = server.server_port

    @property
    def url(self) -> str:
        """Base URL ``http://HOST:PORT`` of the endpoint, with an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the listening socket and wait for the serving thread.

        The wait lasts at most ``timeout`` seconds. Requests still in progress
        run to completion on their own daemon threads. Calling ``stop`` again
        does nothing.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True

        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
        if self._thread.is_alive():
            _log.warning("metrics server thread did not stop within %.1f s", timeout)
            return

        _log.info("metrics server on %s stopped", self.url)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_metrics_server(
    registry: Collector, health: HealthState, host: str, port: int
) -> MetricsServer:
    """Serve /metrics from ``registry`` and the probes from ``health`` on a daemon thread.

    ``registry`` may be the one the service's ``Metrics`` is registered on, or
    one from ``stream.metrics.multiprocess_registry``. ``host`` may be an IPv4
    or IPv6 address or a host name. ``port`` 0 binds a free port, which the
    returned server reports.

    Raises ``ConfigError`` when the address cannot be resolved or bound, for
    example because another process already listens on the port.
    """
    app = _EndpointApp(registry, health)
    try:
        server_class = _server_class_for(host, port)
        server = make_server(
            host, port, app, server_class=server_class, handler_class=_RequestHandler
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen for metrics on {host}:{port}: {exc}. {_listen_fix(exc)}") from exc

    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": _POLL_INTERVAL_SECONDS},
        name="eql-stream-metrics-server",
        daemon=True,
    )
    thread.start()

    running = MetricsServer(server, thread)
    _log.debug("metrics server listening on %s", running.url)
    return running


class _EndpointApp:
    """WSGI application that routes each path to the metrics app or a probe."""

    def __init__(self, registry: Collector, health: HealthState) -> None:
        self._metrics_app = make_wsgi_app(registry)
        self._health = health

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path == METRICS_PATH:
                return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
            if path == LIVENESS_PATH:
                return _probe_response(self._health.liveness(), environ, start_response)
            if path == READINESS_PATH:
                return _probe_response(self._health.readiness(), environ, start_response)
        except Exception:  # noqa: BLE001 - the last line of defence of a server thread
            # A collector that raises must not end the server thread, so the request gets a 500.
            _log.exception("metrics endpoint failed to respond to %s", path)
            return _text_response(start_response, "500 Internal Server Error", "internal error\n")

        return _text_response(
            start_response,
            "404 Not Found",
            f"not found: {path}. Use {METRICS_PATH}, {LIVENESS_PATH} or {READINESS_PATH}.\n",
        )


def _listen_fix(error: OSError) -> str:
    """Return what to do about ``error`` from binding the metrics endpoint."""
    if isinstance(error, socket.gaierror):
        return "The metrics host is not a valid address or a name that resolves; fix --metrics-host"
    if error.errno == errno.EADDRINUSE:
        return "Another process listens on that port: choose another --metrics-port, or stop that process"
    if error.errno == errno.EADDRNOTAVAIL:
        return "That address belongs to no interface of this host; choose another --metrics-host, such as 0.0.0.0"
    if error.errno == errno.EACCES:
        return "Ports below 1024 need extra privileges; choose a --metrics-port of 1024 or above"
    return "Choose another --metrics-host or --metrics-port"


def _probe_response(
    result: ProbeResult, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in _PROBE_METHODS:
        start_response(
            "405 Method Not Allowed", [*_TEXT_HEADERS, ("Allow", ", ".join(_PROBE_METHODS))]
        )
        return [f"method {method} not allowed. Use GET or HEAD.\n".encode()]

    status = "200 OK" if result.ok else "503 Service Unavailable"
    body = "ok\n" if result.ok else f"{result.reason}\n"
    response = _text_response(start_response, status, body)
    return [] if method == "HEAD" else response


def _text_response(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    encoded = body.encode("utf-8")
    start_response(status, [*_TEXT_HEADERS, ("Content-Length", str(len(encoded)))])
    return [encoded]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Request threads are daemon threads, so neither server_close() nor interpreter exit
    # waits for them.
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr. A scraper that hangs up early is
        # routine, so only other failures reach WARNING.
        error = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(error, ConnectionError) else logging.WARNING
        _log.log(level, "metrics request from %s failed", client_address, exc_info=True)


class _ThreadingServerIPv6(_ThreadingServer):
    address_family = socket.AF_INET6


def _server_class_for(host: str, port: int) -> type[_ThreadingServer]:
    # WSGIServer binds IPv4 only, so an IPv6 host needs the IPv6 socket family.
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family = infos[0][0]
    return _ThreadingServerIPv6 if family == socket.AF_INET6 else _ThreadingServer


class _RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # Each scrape is routine, so the access log goes to DEBUG instead of stderr.
        _log.debug("%s %s", self.address_string(), format % args)
