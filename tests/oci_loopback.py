"""Just enough of OCI Object Storage on loopback for the real SDK client to list and read a
bucket: ``with serving(namespace, bucket) as server: server.put(name, data)``.

No emulator exists for OCI, so this speaks the two calls a ``FileStore`` makes, as the API
reference describes them: ``GET /n/{ns}/b/{bucket}/o`` (ListObjects: ``prefix``, ``start``
(inclusive), ``limit``, ``fields``; pages end with ``nextStartWith``) and
``GET /n/{ns}/b/{bucket}/o/{name}`` (GetObject). Faults a real service makes now and then are
injected per object or per listing call. It checks no signature; it records the Authorization
header so a test can see the request was signed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

API_PATH = re.compile(r"/n/([^/]+)/b/([^/]+)/o(?:/(.+))?")
SEND_BYTES = 64 << 10  # a body is written in pieces, so a test can see how far it got


class LoopbackObjectStorage(ThreadingHTTPServer):
    """One bucket of ``objects`` (name → bytes) served on 127.0.0.1.

    ``faults[name]``: "unavailable" answers that object's first GET with 503, "cut" sends its
    headers and half its body, then closes the connection. ``list_faults``: statuses answered
    to the next listing calls in turn (None: answer normally).
    """

    daemon_threads = True

    def __init__(self, namespace: str, bucket: str, page_size: int = 1000) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.namespace = namespace
        self.bucket = bucket
        self.page_size = page_size
        self.objects: dict[str, bytes] = {}
        self.created: dict[str, float] = {}
        self.faults: dict[str, str] = {}
        self.list_faults: list[int | None] = []
        self.gets: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # body bytes written by the latest GET of each object
        self.list_queries: list[dict[str, str]] = []
        self.authorizations: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def put(self, name: str, data: bytes, created: float = 1_790_000_000.0) -> None:
        self.objects[name] = data
        self.created[name] = created

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-body (a test closing a stream early) is not an error here."""


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackObjectStorage
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        match = API_PATH.fullmatch(url.path)
        if not match:
            return self._error(404, "NotFound", f"no such API path {url.path}")
        namespace, bucket = unquote(match[1]), unquote(match[2])
        if (namespace, bucket) != (self.server.namespace, self.server.bucket):
            message = f"Either the bucket named '{bucket}' does not exist in the namespace "
            return self._error(404, "BucketNotFound", message + f"'{namespace}' or not allowed")
        self.server.authorizations.append(self.headers.get("authorization", ""))
        if match[3] is None:
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            return self._list(query)
        return self._get(unquote(match[3]))

    def _list(self, query: dict[str, str]) -> None:
        server = self.server
        server.list_queries.append(query)
        fault = server.list_faults.pop(0) if server.list_faults else None
        if fault:
            return self._error(fault, "TooManyRequests", "slow down")
        prefix, start = query.get("prefix", ""), query.get("start", "")
        limit = min(int(query.get("limit", server.page_size)), server.page_size)
        fields = {f.strip().lower() for f in query.get("fields", "name").split(",")}
        names = sorted(n for n in server.objects if n.startswith(prefix) and n >= start)
        objects = []
        for name in names[:limit]:
            item: dict[str, Any] = {"name": name}
            if "size" in fields:
                item["size"] = len(server.objects[name])
            if "timecreated" in fields:
                moment = datetime.fromtimestamp(server.created[name], UTC)
                item["timeCreated"] = moment.isoformat(timespec="milliseconds")[:-6] + "Z"
            objects.append(item)
        page: dict[str, Any] = {"objects": objects, "prefixes": []}
        if len(names) > limit:
            page["nextStartWith"] = names[limit]
        self._send(200, "application/json", json.dumps(page).encode())

    def _get(self, name: str) -> None:
        server = self.server
        server.gets[name] = server.gets.get(name, 0) + 1
        data = server.objects.get(name)
        fault = server.faults.get(name)
        if data is None:
            message = f"The object '{name}' was not found in the bucket '{server.bucket}'"
            return self._error(404, "ObjectNotFound", message)
        if fault == "unavailable" and server.gets[name] == 1:
            return self._error(503, "ServiceUnavailable", "The service is currently unavailable")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", hashlib.md5(data).hexdigest())
        self.send_header("opc-request-id", uuid.uuid4().hex)
        self.end_headers()
        body = data[: len(data) // 2] if fault == "cut" else data
        server.sent[name] = 0
        for at in range(0, len(body), SEND_BYTES):
            self.wfile.write(body[at : at + SEND_BYTES])
            server.sent[name] += len(body[at : at + SEND_BYTES])
        self.wfile.flush()
        if fault == "cut":
            self.close_connection = True  # the rest never comes: the socket closes

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, "application/json", json.dumps({"code": code, "message": message}))

    def _send(self, status: int, content_type: str, body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("opc-request-id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(namespace: str, bucket: str, page_size: int = 1000) -> Iterator[LoopbackObjectStorage]:
    """A running server for one bucket, shut down on exit."""
    server = LoopbackObjectStorage(namespace, bucket, page_size)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def write_api_key(folder: Path) -> tuple[Path, str]:
    """A throwaway RSA key in ``folder`` as OCI's API signing keys are: the PEM file and the
    fingerprint the config names it by (MD5 of the public key's DER, colon-separated)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "oci_api_key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())
