"""Azurite, Microsoft's Azure Storage emulator, run on loopback for the tests that need a
real Blob service: ``with running_azurite(workdir) as connection_string: ...``.

Azurite is a Node package pinned in the repository's ``package.json``; ``npm ci`` at the
repository root installs it into ``node_modules/``. Without it the tests skip locally, but
fail in CI (``CI`` set), where a missing emulator must not pass silently.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
AZURITE = REPO_ROOT / "node_modules" / "azurite"
BLOB_MAIN = AZURITE / "dist" / "src" / "blob" / "main.js"
STARTUP_SECONDS = 30

# Azurite's well-known development account; its key is public and only valid for the emulator.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def connection_string(port: int) -> str:
    """The development account's connection string for Azurite's blob service on ``port``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    """Whether anything speaks HTTP on the port (Azurite answers 4xx to an unsigned request)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", f"/{ACCOUNT}?comp=list")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def _require_azurite() -> str:
    """The ``node`` executable; skips (locally) or fails (CI) when Azurite is not installed."""
    if not AZURITE.is_dir():
        message = "Azurite is not installed: run `npm ci` at the repository root (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    node = shutil.which("node")
    if node is None or not BLOB_MAIN.is_file():
        pytest.fail(f"Azurite is in node_modules but cannot run: node={node}, {BLOB_MAIN} missing?")
    return node


@contextmanager
def running_azurite(workdir: Path) -> Iterator[str]:
    """Azurite's blob service on a free loopback port, in memory, stopped on exit.

    Yields the development account's connection string. ``workdir`` is Azurite's working
    folder and takes its log (nothing else is written: the storage is in memory).
    ``--skipApiVersionCheck``: the installed azure-storage-blob may speak a newer API version
    than the pinned Azurite knows, which it would otherwise refuse.
    """
    node = _require_azurite()
    port = _free_port()
    log_path = workdir / "azurite.log"
    command = [
        node,
        str(BLOB_MAIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--extentMemoryLimit",
        "256",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log_path.read_text(errors="replace")[-2000:]
                    pytest.fail(f"Azurite did not start on port {port}:\n{output}")
                time.sleep(0.1)
            yield connection_string(port)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
