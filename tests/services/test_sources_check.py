"""``costlake sources check``: reachability and what a run would take, with nothing written."""

import uuid

import boto3
import pytest
import yaml
from conftest import HAND_CUR2, gzip_file, write_cur2_delivery
from typer.testing import CliRunner

from pipelines.cli import app

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def exports(s3_endpoint, tmp_path):
    """A bucket on the moto server holding one CUR 2.0 delivery of 2026-11 (exec-1), and the
    size of its one data file."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"exports-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    folder = tmp_path / "export"
    write_cur2_delivery(folder, {"a.csv.gz": part}, "2026-11", "exec-1")
    for path in folder.rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket=name, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )
    return name, part.stat().st_size


def write_config(tmp_path, sources: list[dict]):
    config = tmp_path / "costlake.yaml"
    config.write_text(yaml.safe_dump({"lake_root": str(tmp_path / "lake"), "aws": sources}))
    return config


def files_under(folder) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_check_reports_each_source_and_writes_nothing(tmp_path, monkeypatch, s3_endpoint, exports):
    bucket, size = exports
    monkeypatch.chdir(tmp_path)
    config = write_config(
        tmp_path,
        [
            {"kind": "s3", "name": "payer", "bucket": bucket, "endpoint_url": s3_endpoint},
            {"kind": "s3", "name": "gone", "bucket": "no-such-bucket", "endpoint_url": s3_endpoint},
        ],
    )
    before = files_under(tmp_path)
    result = CliRunner().invoke(app, ["sources", "check", "--config", str(config)])
    assert result.exit_code == 1  # one source cannot be read
    lines = result.output.splitlines()
    payer = next(i for i, line in enumerate(lines) if line.startswith("aws payer"))
    assert f"s3://{bucket}" in lines[payer] and "readable, 1 billing period" in lines[payer]
    period = lines[payer + 1].split()
    assert period[:3] == ["2026-11", "exec-1", "1"]
    assert f"{size / 2**20:,.1f}" in lines[payer + 1] and lines[payer + 1].endswith("ingest (new)")
    gone = next(line for line in lines if line.startswith("aws gone"))
    assert "cannot read" in gone and "no-such-bucket" in gone
    assert "1 of 2 source(s) cannot be read" in result.output
    assert files_under(tmp_path) == before  # no lake, no cache, no staging


def test_check_says_what_is_already_in_the_lake(
    tmp_path, monkeypatch, s3_endpoint, exports, nightly_run
):
    bucket, _ = exports
    source = {"kind": "s3", "name": "payer", "bucket": bucket, "endpoint_url": s3_endpoint}
    assert nightly_run({"lake_root": str(tmp_path / "lake"), "aws": [source]}, "aws").success
    config = write_config(tmp_path, [source])

    result = CliRunner().invoke(app, ["sources", "check", "--config", str(config)])
    assert result.exit_code == 0
    assert "2026-11  exec-1" in result.output and result.output.rstrip().endswith("→ skip")

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    folder = tmp_path / "again"
    part = gzip_file(HAND_CUR2, tmp_path / "q.csv.gz")
    write_cur2_delivery(folder, {"a.csv.gz": part}, "2026-11", "exec-2")
    for path in folder.rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )
    result = CliRunner().invoke(app, ["sources", "check", "--config", str(config)])
    assert "2026-11  exec-2" in result.output
    assert result.output.rstrip().endswith("ingest (replaces the lake's)")
