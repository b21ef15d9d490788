"""Shared helpers: build AWS export buckets in temporary folders, laid out as AWS writes them."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from focus_validation import focus_validation_failures, validator_executable

from costlake.focus.lake import Lake
from costlake.focus.schema import FOCUS_1_3_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
AWS_SAMPLE = FIXTURES / "aws" / "sample-anonymous-aws-export-dataset.csv"
HAND_CUR2 = FIXTURES / "aws" / "hand_cur2.csv"


def gzip_file(source: Path, target: Path) -> Path:
    """``source`` gzip-compressed into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def write_legacy_delivery(
    bucket: Path, data: Path, assembly: str, period: str = "20231101-20231201"
) -> Path:
    """A legacy CUR delivery: root manifest naming one gzip file in its assembly folder."""
    key = f"cur/report/{period}/{assembly}/report-1.csv.gz"
    gzip_file(data, bucket / key)
    manifest = bucket / f"cur/report/{period}/report-Manifest.json"
    manifest.write_text(json.dumps({"assemblyId": assembly, "reportKeys": [key]}))
    return manifest


def write_cur2_delivery(bucket: Path, files: dict[str, Path], period: str, execution: str) -> Path:
    """A CUR 2.0 delivery: ``dataFiles`` manifest under metadata/BILLING_PERIOD=…/."""
    keys = []
    for name, source in files.items():
        key = f"cur2/exp/data/BILLING_PERIOD={period}/{execution}/{name}"
        target = bucket / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        keys.append(f"s3://bucket/{key}")
    manifest = bucket / f"cur2/exp/metadata/BILLING_PERIOD={period}/exp-Manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"executionId": execution, "dataFiles": keys, "columns": []}))
    return manifest


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """An empty folder standing for an S3 bucket."""
    path = tmp_path / "bucket"
    path.mkdir()
    return path


@pytest.fixture
def focus_validator():
    """``failures(lake, workdir)``: what the public FOCUS validator reports on a lake's output.

    Skips the test where the validator is not installed, except in CI, where that is a failure.
    """
    if validator_executable() is None:
        message = "no FOCUS validator: run `bash scripts/setup_validator_env.sh` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    def failures(lake: Lake, workdir: Path) -> list[str]:
        # The validator reads one file: every FOCUS part of the lake, concatenated, on the
        # columns FOCUS 1.2 defines (the 1.3 columns are checked by focus_conformance.py).
        tables = [
            pq.read_table(f).drop_columns(list(FOCUS_1_3_COLUMNS)) for f in lake.files("focus")
        ]
        target = workdir / "focus-for-validator.parquet"
        with pq.ParquetWriter(target, tables[0].schema) as writer:
            for table in tables:
                writer.write_table(table)
        return focus_validation_failures(target)

    return failures


def write_azure_run(
    container: Path,
    files: dict[str, Path],
    period: str,
    run_id: str,
    submitted: str,
    export_type: str = "ActualCost",
) -> Path:
    """An Azure export run: data blobs and the manifest.json naming them, as Azure lays them out."""
    start = f"{period}-01"
    folder = f"exports/costlake/{period.replace('-', '')}01-{period.replace('-', '')}28/demo"
    run = f"{folder}/{submitted[:16].replace('-', '').replace('T', '').replace(':', '')}/{run_id}"
    blobs = []
    for name, source in files.items():
        target = container / run / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        blobs.append({"blobName": f"{run}/{name}", "byteCount": target.stat().st_size})
    manifest = container / run / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "exportConfig": {"exportName": "demo", "type": export_type},
                "runInfo": {
                    "runId": run_id,
                    "submittedTime": submitted,
                    "startDate": f"{start}T00:00:00",
                    "endDate": f"{period}-28T00:00:00",
                },
                "blobs": blobs,
            }
        )
    )
    return manifest


@pytest.fixture
def nightly_run(tmp_path, monkeypatch):
    """``run(settings, provider, period)``: the nightly job on one (period, provider) partition,
    with ``settings`` written as the costlake.yaml in use, a throw-away Dagster instance and the
    test's folder as the working folder; returns the run's result."""
    from dagster import DagsterInstance

    from assets.partitions import partition_key
    from pipelines.definitions import defs

    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(
        str(tmp_path / "dagster"), overrides={"telemetry": {"enabled": False}}
    )
    monkeypatch.chdir(tmp_path)  # a test that writes into the working folder shows it here

    def run(settings: dict, provider: str, period: str = "2026-11"):
        config = tmp_path / "costlake.yaml"
        config.write_text(yaml.safe_dump(settings))
        monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
        return defs.resolve_job_def("nightly").execute_in_process(
            partition_key=partition_key(period, provider),
            instance=instance,
            raise_on_error=False,
        )

    return run


def check_verdicts(result, asset: str = "focus") -> dict[str, bool]:
    """Each check of ``asset`` evaluated in a run: its name → whether it passed."""
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key.path == [asset]
    }


def upload_tree(client, bucket: str, root: Path) -> dict[str, bytes]:
    """Every file under ``root`` put in the bucket under its relative path; the bytes by key."""
    uploaded = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        uploaded[key] = path.read_bytes()
        client.put_object(Bucket=bucket, Key=key, Body=uploaded[key])
    return uploaded


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Credentials only in the environment, as boto3's chain finds them; no real profile."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def s3_endpoint():
    """``http://127.0.0.1:<port>`` of moto's S3 server, started once for the test session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def failed_audit(run):
    """Run ``run()``, an ingest expected to fail its audit (a row with cost rejected, so the
    lake cannot match the bill): its report and the failed version kept, read as a lake."""
    from costlake.focus.lake import AuditFailed

    with pytest.raises(AuditFailed) as failed:
        run()
    return failed.value.report, Lake(failed.value.kept_at, read_only=True)


# The folder a test lives in is its kind: tests/unit (pure logic, fast), tests/integration
# (Dagster runs, the CLI, the FOCUS validator), tests/services (real stand-ins on loopback).
TEST_KINDS = ("unit", "integration", "services")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its kind, from its folder, so ``-m unit`` selects the quick set."""
    tests = Path(__file__).resolve().parent
    for item in items:
        kind = item.path.resolve().relative_to(tests).parts[0]
        if kind in TEST_KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        # The FOCUS validator is an external program started per test (seconds each).
        if "focus_validator" in item.fixturenames or "validator" in item.name:
            item.add_marker(pytest.mark.validator)
