"""A PostgreSQL server of Debian's ``postgresql`` package in a temporary folder, on loopback.

``make test`` installs the package when it is missing. PostgreSQL refuses to run as root, so
under root the server runs as the ``postgres`` user the package creates (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server with its data in a temporary folder; yield ``postgresql+psycopg2://…`` of
    its superuser ``costlake`` (trust authentication, loopback only); stop it and remove the
    folder at the end. (SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, which
    dagster-postgres does not use.)"""
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="costlake-postgres-"))  # reachable by its owner alone
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    try:
        yield from _serve(folder, bin_dir, prefix)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(folder: Path, bin_dir: Path, prefix: list[str]) -> Iterator[str]:
    data, sockets, port = folder / "data", folder / "sockets", _free_port()
    run = [*prefix]
    subprocess.run(
        [*run, str(bin_dir / "initdb"), "-D", str(data), "-U", "costlake", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    if prefix:
        subprocess.run([*run, "mkdir", "-p", str(sockets)], check=True)
    else:
        sockets.mkdir()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    subprocess.run(
        [
            *run,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "server.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://costlake@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*run, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
