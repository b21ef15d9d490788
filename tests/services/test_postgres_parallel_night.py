"""Scale-out is configuration: the demo's nightly for two periods × four providers on a
PostgreSQL instance, the multiprocess executor and partitions side by side, over a lake on S3
(moto's server), gives the same tables as the serial in-process run."""

from __future__ import annotations

import os

import boto3
import psycopg2
import pytest
import yaml
from dagster import DagsterInstance
from pg_server import pg_bin, postgres_server

from costlake.config import PROVIDERS, demo_settings
from costlake.focus.lake import Lake
from demo.ai import write_demo_request_logs
from demo.aws import demo_days, write_demo_aws_export
from demo.azure import write_demo_azure_export
from demo.gcp import write_demo_gcp_export
from demo.gpu import write_demo_gpu_telemetry
from demo.oci import write_demo_oci_export
from demo.rates import write_demo_rates
from pipelines.launch import run_night

PERIODS = ["2026-10", "2026-11"]
BUCKET = "costlake-scale-out"
# Lake tables and the columns whose sums are compared, per (provider or None, period) partition.
TABLES = {
    "focus": ("BilledCost", "EffectiveCost"),
    "rejects": (),
    "focus_contract_commitments": (),
    "marts/tag_coverage": (),
    "marts/untagged_spend": ("EffectiveCost",),
    "marts/commitment_utilization": (),
    "marts/ai_unit_costs": ("cost", "queries"),
    "marts/gpu_utilization": ("gpu_hours", "idle_cost"),
    "marts/anomaly_events": (),
    "marts/budgets": ("actual", "forecast"),
    "marts/forecasts": ("actual", "forecast"),
    "marts/arbitrage": ("saving",),
    # The scorecard of a period reads the forecasts of the periods before it: its values are
    # the same only if the earlier period's marts were built first, in the parallel night too.
    "marts/maturity_scorecard": ("value",),
}
# Tables of each (period, provider) partition; the others span the providers.
PROVIDER_TABLES = ("focus", "rejects", "focus_contract_commitments")


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = pg_bin()
    if bin_dir is None:
        message = "no PostgreSQL: `make test` installs Debian's postgresql package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server(bin_dir) as url:
        yield url


def _instance(postgres_url: str, name: str, home) -> DagsterInstance:
    """An instance whose run, event and schedule storage is database ``name`` of the server,
    configured as docs/operations.md shows."""
    connection = psycopg2.connect(f"{postgres_url.replace('+psycopg2', '')}/postgres")
    connection.autocommit = True
    connection.cursor().execute(f"CREATE DATABASE {name}")
    connection.close()
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "storage": {"postgres": {"postgres_url": f"{postgres_url}/{name}"}},
                "telemetry": {"enabled": False},
            }
        )
    )
    return DagsterInstance.from_config(str(home))


def _write_demo(data):
    for provider, write in {
        "aws": write_demo_aws_export,
        "azure": write_demo_azure_export,
        "gcp": write_demo_gcp_export,
        "oci": write_demo_oci_export,
    }.items():
        write(data / provider)
    write_demo_request_logs(data / "ai", demo_days(PERIODS))
    write_demo_gpu_telemetry(data / "gpu")
    write_demo_rates(data / "exchange_rates.csv", PERIODS)


def _partitions(lake: Lake) -> dict[tuple[str, str | None, str], dict[str, float]]:
    """Per table and partition: its rows and the sums of the compared columns."""
    found = {}
    for table, columns in TABLES.items():
        per_provider = table in PROVIDER_TABLES or "tag" in table or "commitment" in table
        providers = PROVIDERS if per_provider else [None]
        for provider in providers:
            for period in PERIODS:
                rows = lake.scan_partition(table, provider, period).collect()
                found[(table, provider, period)] = {
                    "rows": rows.height,
                    **{c: round(float(rows[c].sum() or 0.0), 6) for c in columns},
                }
    return found


def _night(tmp_path, postgres_url, monkeypatch, s3_endpoint, name, workers, executor):
    host = s3_endpoint.removeprefix("http://")
    root = f"s3://{BUCKET}/{name}?endpoint_override={host}&scheme=http&region=us-east-1"
    data = tmp_path / "data"
    settings = demo_settings(str(data), root).model_dump(mode="json", exclude_defaults=True)
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    instance = _instance(postgres_url, name, tmp_path / name)
    night = run_night(instance, PERIODS, PROVIDERS, workers=workers, executor=executor)
    return instance, night, Lake(root)


def test_parallel_multiprocess_night_on_postgres_equals_the_serial_one(
    tmp_path, postgres_url, monkeypatch, s3_endpoint, aws_env
):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the remote lake's scratch folder
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=BUCKET)
    _write_demo(tmp_path / "data")

    instance, parallel, parallel_lake = _night(
        tmp_path, postgres_url, monkeypatch, s3_endpoint, "parallel", 4, "multiprocess"
    )
    failed = [(r.label, r.failed_checks, r.errors) for r in parallel.runs if not r.ok]
    assert failed == []
    # 8 nightly runs and the marts of both periods, recorded in PostgreSQL.
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    records = instance.get_run_records()
    assert len(records) == len(PERIODS) * len(PROVIDERS) + len(PERIODS)
    assert {r.dagster_run.tags.get("dagster/partition") for r in records} == {
        *(f"{period}|{provider}" for period in PERIODS for provider in PROVIDERS),
        *PERIODS,
    }
    # Partitions ran side by side: some nightly run started before another one ended.
    nightly = sorted(
        (r for r in records if "|" in r.dagster_run.tags["dagster/partition"]),
        key=lambda r: r.start_time,
    )
    assert nightly[1].start_time < nightly[0].end_time
    # ... each step in a process of its own (the multiprocess executor's step events).
    run_id = nightly[0].dagster_run.run_id
    assert any(
        e.dagster_event and e.dagster_event.event_type_value == "STEP_WORKER_STARTED"
        for e in instance.all_logs(run_id)
    )

    _, serial, serial_lake = _night(
        tmp_path, postgres_url, monkeypatch, s3_endpoint, "serial", 1, "in_process"
    )
    assert all(r.ok for r in serial.runs)
    expected = _partitions(serial_lake)
    assert expected[("focus", "aws", "2026-11")]["rows"] > 0  # the demo's bills are in
    assert _partitions(parallel_lake) == expected
