"""A credential written by mistake into costlake.yaml never reaches Dagster's run records."""

from __future__ import annotations

from pathlib import Path

CANARY = "Zq9-NOT-FOR-PRINTING-7f3c"  # a secret written by mistake; never shown anywhere


def write(folder: Path, text: str) -> Path:
    path = folder / "costlake.yaml"
    path.write_text(text)
    return path


def test_a_secret_in_the_file_reaches_no_dagster_run_record(tmp_path, monkeypatch):
    """A credential written by mistake into costlake.yaml: the run fails on the settings, and
    neither its events (error, causes, stack) nor its record (config, tags) hold the value."""
    from dagster import DagsterInstance
    from dagster._serdes import serialize_value

    from pipelines.definitions import defs

    path = write(tmp_path, f"lake_root: lake\naws: [{{root: exports, password: {CANARY}}}]\n")
    monkeypatch.setenv("COSTLAKE_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("period_marts").execute_in_process(
        partition_key="2026-10", instance=instance, raise_on_error=False
    )
    assert not result.success
    events = [serialize_value(e) for e in instance.all_logs(result.run_id)]
    assert any("aws.0.folder.password: Extra inputs are not permitted" in e for e in events)
    run = instance.get_run_by_id(result.run_id)
    for text in [*events, serialize_value(run)]:
        assert CANARY not in text
