"""bqemulator, a DuckDB-backed BigQuery emulator, run on loopback for the tests that need a real
BigQuery API: ``with running_bqemulator(workdir) as emulator: client = emulator.client()``, or
the session fixture ``bigquery_emulator`` (register it in conftest.py with
``from bqemulator import bigquery_emulator  # noqa: F401``).

The emulator lives in its own venv, ``.venv-bqemulator`` (``bash scripts/setup_bqemulator_env.sh``,
which ``make test`` runs): it needs duckdb 1.5.5, the project uses duckdb 2. Its DuckDB loads the
spatial and avro extensions at start and cannot download them here, so they are copied from their
wheels into ``$HOME/.duckdb/extensions/`` of a throw-away ``HOME``. Without the venv the tests
fail (they never skip): a missing emulator must not pass silently.

(This module's name shadows the ``bqemulator`` package for imports from the tests folder; the
package is only installed in ``.venv-bqemulator``, never in the project's venv.)
"""

from __future__ import annotations

import http.client
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV = REPO_ROOT / ".venv-bqemulator"
EXECUTABLE = VENV / "bin" / "bqemulator"
DUCKDB_VERSION = "v1.5.5"  # the extension folder of the DuckDB the emulator is pinned to
PROJECT = "test-project"
STARTUP_SECONDS = 60
SETUP_HINT = "run `bash scripts/setup_bqemulator_env.sh` (make test does)"


@dataclass(frozen=True)
class BigQueryEmulator:
    """A running emulator: its REST endpoint and the project it answers for."""

    endpoint: str  # http://127.0.0.1:<port>
    project: str = PROJECT

    def client(self) -> bigquery.Client:
        """A real BigQuery client talking to the emulator, without credentials."""
        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _duckdb_platform() -> str:
    """DuckDB's name for this platform's extension folder (``linux_amd64``, …)."""
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    arch = machine.get(platform.machine().lower(), platform.machine().lower())
    system = "osx" if sys.platform == "darwin" else "linux"
    return f"{system}_{arch}"


def _extension_files() -> list[Path]:
    """The spatial and avro extension files the setup script installed (as wheels)."""
    pattern = f"lib/python*/site-packages/duckdb_extension_*/extensions/{DUCKDB_VERSION}/"
    return sorted(VENV.glob(pattern + "*.duckdb_extension"))


def _require_emulator() -> list[Path]:
    """The extension files to install; fails the test when the emulator's venv is missing."""
    if not EXECUTABLE.is_file():
        pytest.fail(f"the BigQuery emulator is not installed at {EXECUTABLE}: {SETUP_HINT}")
    files = _extension_files()
    names = sorted(f.name for f in files)
    if names != ["avro.duckdb_extension", "spatial.duckdb_extension"]:
        pytest.fail(
            f"{VENV} lacks DuckDB's {DUCKDB_VERSION} avro and spatial extension files "
            f"(found {names}): {SETUP_HINT}"
        )
    return files


def _answers(port: int, project: str) -> bool:
    """Whether the emulator's REST API lists the project's datasets yet."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", f"/bigquery/v2/projects/{project}/datasets")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def running_bqemulator(workdir: Path, project: str = PROJECT) -> Iterator[BigQueryEmulator]:
    """The emulator on free loopback ports, in memory (``--ephemeral``), stopped on exit.

    ``workdir`` becomes its ``HOME`` (holding the DuckDB extensions) and takes its log.
    """
    extensions = workdir / ".duckdb" / "extensions" / DUCKDB_VERSION / _duckdb_platform()
    extensions.mkdir(parents=True, exist_ok=True)
    for source in _require_emulator():
        shutil.copyfile(source, extensions / source.name)
    rest_port, grpc_port = _free_port(), _free_port()
    command = [
        str(EXECUTABLE),
        "start",
        "--rest-host",
        "127.0.0.1",
        "--rest-port",
        str(rest_port),
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        str(grpc_port),
        "--ephemeral",
        "--project",
        project,
        "--log-level",
        "warning",
    ]
    environment = {**os.environ, "HOME": str(workdir)}
    log_path = workdir / "bqemulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(rest_port, project):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log_path.read_text(errors="replace")[-3000:]
                    pytest.fail(f"bqemulator did not start on port {rest_port}:\n{output}")
                time.sleep(0.2)
            yield BigQueryEmulator(f"http://127.0.0.1:{rest_port}", project)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """One emulator for the test session; each test makes its own dataset in it."""
    with running_bqemulator(tmp_path_factory.mktemp("bqemulator")) as emulator:
        yield emulator
