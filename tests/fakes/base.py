"""A small threaded HTTP server on 127.0.0.1 that plays a wallet provider.

Each rail's fake subclasses :class:`FakeProviderServer`, registers handlers
for the provider's documented endpoints and keeps the provider's state (payouts
by idempotency key, balances, tokens). Tests inject faults through
:meth:`FakeProviderServer.inject`.
"""

import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

_logger = logging.getLogger(__name__)


class FakeRequest:
    """The parts of an HTTP request a handler reads."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body or b"null")

    def form(self):
        """Return the url-encoded body as ``{name: last value}``."""
        parsed = parse_qs(self.body.decode(), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}


class FakeResponse:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.status = status
        self.body = body
        self.headers = dict(headers or {}, **{"Content-Type": content_type})


class FakeProviderServer:
    """Serve registered routes on a random port of 127.0.0.1 until stopped.

    Faults queued with :meth:`inject` apply to the next matching requests:

    - ``"status"``: answer with that HTTP status (e.g. 500) without running the
      handler, as a provider whose front end failed
    - ``"drop_after"``: run the handler (the provider applies the request), then
      sleep ``seconds`` before answering, so the client times out: the classic
      unknown outcome
    - ``"delay"``: sleep ``seconds`` before running the handler
    - ``"reset_after"``: run the handler (the provider applies the request),
      then close the connection without answering: the same unknown outcome as
      ``drop_after``, without waiting for the client's timeout
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.faults = deque()
        self.lock = threading.RLock()
        self.server = None
        self.thread = None

    # === LIFECYCLE === #

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server._handle(self)

            def do_POST(self):
                server._handle(self)

            def do_PUT(self):
                server._handle(self)

            def log_message(self, format, *args):
                _logger.debug("fake provider: " + format, *args)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        host, port = self.server.server_address
        return f"http://{host}:{port}"

    # === ROUTING === #

    def route(self, method, path, handler):
        """Register ``handler(request) -> FakeResponse`` for a method and path."""
        self.routes[(method, path)] = handler

    def inject(self, kind, path=None, times=1, **options):
        """Queue a fault for the next ``times`` requests to ``path`` (any if None)."""
        with self.lock:
            for _index in range(times):
                self.faults.append(dict(options, kind=kind, path=path))

    def _take_fault(self, path):
        with self.lock:
            for fault in list(self.faults):
                if fault["path"] in (None, path):
                    self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, http_handler):
        parts = urlsplit(http_handler.path)
        length = int(http_handler.headers.get("Content-Length") or 0)
        body = http_handler.rfile.read(length) if length else b""
        request = FakeRequest(
            http_handler.command,
            parts.path,
            {name: values[-1] for name, values in parse_qs(parts.query).items()},
            http_handler.headers,
            body,
        )
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(parts.path)
        if fault and fault["kind"] == "status":
            response = FakeResponse(fault["status"], fault.get("body", {"error": "injected"}))
        else:
            if fault and fault["kind"] == "delay":
                time.sleep(fault["seconds"])
            response = self._dispatch(request)
            if fault and fault["kind"] == "drop_after":
                time.sleep(fault["seconds"])
            elif fault and fault["kind"] == "reset_after":
                http_handler.close_connection = True
                return
        try:
            http_handler.send_response(response.status)
            for name, value in response.headers.items():
                http_handler.send_header(name, value)
            http_handler.send_header("Content-Length", str(len(response.body)))
            http_handler.end_headers()
            http_handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The client gave up waiting, as the drop_after fault intends.

    def _dispatch(self, request):
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            for (method, prefix), candidate in self.routes.items():
                if method == request.method and prefix.endswith("/") and request.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            return FakeResponse(404, {"error": "not found"})
        try:
            return handler(request)
        except Exception:  # A broken fake must show up in the test, not hang it.
            _logger.exception("fake provider handler failed")
            return FakeResponse(599, {"error": "fake handler failed"})

    # === NOTIFICATIONS === #

    def deliver(self, url, body, headers):
        """Post a notification to our webhook, as the provider's server does.

        :return: the webhook's response
        """
        return requests.post(url, data=body, headers=headers, timeout=30)

    def requests_to(self, path):
        with self.lock:
            return [request for request in self.requests if request.path == path]
