"""Just enough of the Azure Cost Management Exports API on loopback for the real SDK client:
``with serving(token) as server: server.put_export(scope, name, properties)``.

No emulator exists for Cost Management. This answers the calls costlake makes, with the
response shapes of the REST reference and its 2025-03-01 examples (the api-version
azure-mgmt-costmanagement 5.0.0 sends):

- ``GET  /{scope}/providers/Microsoft.CostManagement/exports``: ``{"value": [export, ...]}``
- ``GET  /{scope}/providers/Microsoft.CostManagement/exports/{name}``: the export
- ``POST /{scope}/providers/Microsoft.CostManagement/exports/{name}/run``: 200, no body; the
  request is recorded and a Queued OnDemand run is added to the history
- ``GET  /{scope}/providers/Microsoft.CostManagement/exports/{name}/runHistory``:
  ``{"value": [run, ...]}``

An unknown export gets 404 ``{"error": {"code": "NotFound", "message": ...}}`` (the code and
message the service was seen to send). A request without ``Authorization: Bearer <token>``
gets 401, one with another api-version 400.

azure-core sends a bearer token only over https, so the server speaks TLS with a throwaway
self-signed certificate made at start; clients trust it with
``connection_verify=server.cert_path``.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

API_VERSION = "2025-03-01"
PROVIDER = "/providers/Microsoft.CostManagement/exports"
API_PATH = re.compile(
    r"/(?P<scope>.+?)/providers/Microsoft\.CostManagement/exports"
    r"(?:/(?P<name>[^/]+)(?:/(?P<action>run|runHistory))?)?",
    re.IGNORECASE,
)
# (method, action) pairs answered for one export; the listing is GET without an export name.
_ANSWERED = {("GET", None), ("POST", "run"), ("GET", "runhistory")}


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (the Authorization header's value is kept so a test
    can check which token was sent)."""

    method: str
    path: str
    api_version: str | None
    authorization: str | None
    body: bytes


def _key(scope: str, name: str) -> tuple[str, str]:
    """ARM resource ids compare case-insensitively."""
    return ("/" + scope.strip("/")).lower(), name.lower()


class LoopbackCostManagement(ThreadingHTTPServer):
    """Exports and their run histories at any number of scopes, served over TLS on 127.0.0.1.

    ``put_export`` / ``put_run`` fill it; ``requests`` and ``run_requests`` record what came.
    """

    daemon_threads = True

    def __init__(self, token: str, cert_path: Path, key_path: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.token = token
        self.cert_path = cert_path
        self.api_version = API_VERSION
        self.submitted_by = "costlake-tests@example.com"
        self.exports: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[Request] = []
        self.run_requests: list[str] = []  # paths of the POST .../run requests answered 200

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def put_export(self, scope: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Define export ``name`` at ``scope``; ``properties`` is its JSON ``properties``."""
        scope = "/" + scope.strip("/")
        export = {
            "id": f"{scope}{PROVIDER}/{name}",
            "name": name,
            "type": "Microsoft.CostManagement/exports",
            "eTag": f'"{uuid.uuid4().hex[:16]}"',
            "properties": properties,
        }
        self.exports[_key(scope, name)] = export
        self.runs.setdefault(_key(scope, name), [])
        return export

    def put_run(
        self, scope: str, name: str, properties: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        """Add a run (JSON ``properties`` of an ExportRun) to export ``name``'s history."""
        scope = "/" + scope.strip("/")
        run = {
            "id": f"{scope}{PROVIDER}/{name}/Run/{run_id or uuid.uuid4()}",
            "properties": properties,
        }
        self.runs[_key(scope, name)].append(run)
        return run

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (or refusing the certificate) is not an error here."""


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackCostManagement
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        api_version = query.get("api-version", [None])[0]
        authorization = self.headers.get("Authorization")
        server.requests.append(Request(method, url.path, api_version, authorization, body))

        if not authorization:
            message = "Authentication failed. The 'Authorization' header is missing."
            return self._error(401, "AuthenticationFailed", message)
        if authorization != f"Bearer {server.token}":
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if api_version != server.api_version:
            message = (
                f"The api-version '{api_version}' is invalid. "
                f"The supported versions are '{server.api_version}'."
            )
            return self._error(400, "InvalidApiVersionParameter", message)
        match = API_PATH.fullmatch(url.path)
        if not match:
            return self._error(404, "NotFound", f"No HTTP resource was found for {url.path}.")
        scope, name, action = match["scope"], match["name"], match["action"]
        name = unquote(name) if name is not None else None

        if name is None and method == "GET":
            return self._list(scope)
        action = action.lower() if action is not None else None
        if name is None or (method, action) not in _ANSWERED:
            return self._error(405, "MethodNotAllowed", f"{method} is not supported here.")
        key = _key(scope, name)
        if key not in server.exports:
            message = f"The requested export with export name: {name} could not be found."
            return self._error(404, "NotFound", message)
        if action is None:
            return self._json(200, server.exports[key])
        if action == "run":
            return self._run(key, url.path)
        return self._json(200, {"value": server.runs[key]})

    def _list(self, scope: str) -> None:
        wanted = _key(scope, "")[0]
        exports = [e for (s, _), e in self.server.exports.items() if s == wanted]
        self._json(200, {"value": exports})

    def _run(self, key: tuple[str, str], path: str) -> None:
        """An on-demand run: queued now, with the export's settings as its run settings."""
        server = self.server
        export = server.exports[key]
        settings = {k: v for k, v in export["properties"].items() if k != "schedule"}
        settings.pop("nextRunTimeEstimate", None)
        run_id = str(uuid.uuid4())
        server.runs[key].append(
            {
                "id": f"{export['id']}/Run/{run_id}",
                "properties": {
                    "executionType": "OnDemand",
                    "status": "Queued",
                    "submittedBy": server.submitted_by,
                    "submittedTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "runSettings": copy.deepcopy(settings),
                },
            }
        )
        server.run_requests.append(path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _json(self, status: int, document: Any) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)


def write_self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost, and its key: (cert, key) PEM files.

    It signs itself and is marked a CA, so a client given it as its only trusted root
    (``connection_verify``) accepts the server.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "costlake loopback")])
    now = datetime.now(UTC)
    subject_key = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(subject_key, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(subject_key),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "loopback-cert.pem", folder / "loopback-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def serving(token: str) -> Iterator[LoopbackCostManagement]:
    """A running server that accepts ``token`` as bearer token, shut down on exit."""
    with tempfile.TemporaryDirectory(prefix="cm-loopback-") as folder:
        cert_path, key_path = write_self_signed_cert(Path(folder))
        server = LoopbackCostManagement(token, cert_path, key_path)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
