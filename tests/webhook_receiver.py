"""A chat webhook on loopback: ``with receiving([500, 503]) as hook: send_alerts(hook.url, …)``.

Every POST is recorded (``hook.received``). Its answer is the next entry of the script (a
status, or ``(status, headers)`` such as ``(429, {"Retry-After": "0"})``); once the script is
used up, ``then`` (200 unless told) answers every request. A 2xx answer's body is ``ok``, as
Slack's; other answers echo the request path, as many web servers' error pages do, so a test can
see that the path (the webhook's secret) is not repeated by whoever reads the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = int | tuple[int, dict[str, str]]

# The shape of a Slack incoming webhook URL; the last segment is the secret token.
TOKEN = "xOxB5ecretT0kenFor7est5"
PATH = f"/services/T0C05TLAKE/B0A1ERT5/{TOKEN}"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Sequence[Answer] = (), then: Answer = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Answer] = list(script)
        self.then = then
        self.received: list[Received] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{PATH}"

    @property
    def delivered(self) -> list[bytes]:
        """Bodies of the requests answered 2xx."""
        return [r.body for r in self.received if 200 <= r.status < 300]

    def answer(self, request: Received) -> tuple[int, dict[str, str]]:
        with self._lock:
            answer = self.script.pop(0) if self.script else self.then
            status, headers = answer if isinstance(answer, tuple) else (answer, {})
            self.received.append(Received(request.path, request.headers, request.body, status))
        return status, headers


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        request = Received(self.path, dict(self.headers.items()), body, 0)
        status, headers = self.server.answer(request)
        text = b"ok" if 200 <= status < 300 else f"no luck at {self.path}".encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


@contextmanager
def receiving(script: Sequence[Answer] = (), then: Answer = 200) -> Iterator[WebhookReceiver]:
    """A receiver serving in a thread until the block ends; its port is closed afterwards."""
    server = WebhookReceiver(script, then)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
