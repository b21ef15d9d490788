"""A chat webhook on loopback: ``with receiving([500, 503]) as hook: deliver_pending(…, hook.url)``.

Every POST is recorded (``hook.received``) as soon as its body is read. Its answer is the next
entry of the script (a status, ``(status, headers)`` such as ``(429, {"Retry-After": "0"})``,
or ``Slow(seconds, status)``, answered only after that many seconds, as a webhook under load);
once the script is used up, ``then`` (200 unless told) answers every request. A 2xx answer's
body is ``ok``, as Slack's; other answers echo the request path, as many web servers' error pages
do, so a test can see that the path (the webhook's secret) is not repeated by whoever reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Slow:
    """An answer given ``seconds`` after the request arrived."""

    seconds: float
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Answer = int | tuple[int, dict[str, str]] | Slow

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

    def answer(self, request: Received) -> tuple[int, dict[str, str], float]:
        """The status, headers and delay (seconds) of the answer to ``request``."""
        with self._lock:
            answer = self.script.pop(0) if self.script else self.then
            if isinstance(answer, Slow):
                status, headers, delay = answer.status, answer.headers, answer.seconds
            elif isinstance(answer, tuple):
                status, headers, delay = answer[0], answer[1], 0.0
            else:
                status, headers, delay = answer, {}, 0.0
            self.received.append(Received(request.path, request.headers, request.body, status))
        return status, headers, delay


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
        status, headers, delay = self.server.answer(request)
        time.sleep(delay)
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
