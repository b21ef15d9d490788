"""``costlake gpu utilization FILE... [--query-gpu FIELDS] [--from TIME --to TIME] [--json]``
on the real H100 capture (see fixtures/gpu_telemetry/ORIGIN.md) and on hand-made captures.

The phase window of the capture (phases.csv) is 1795719133.241 to 1795719283.611 unix seconds:
2026-11-26 18:52:13.241 to 18:54:43.611 UTC. Over it docs/gpu.md gives the busy ratio 0.463 for
the nvidia-smi CSV and 0.474 for the NVML samples.
"""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES
from test_gpu_efficiency import TRUTH, efficiency_capture
from typer.testing import CliRunner

from pipelines import cli

CAPTURE = FIXTURES / "gpu_telemetry" / "h100_phases"
SMI = str(CAPTURE / "nvidia_smi_query.csv")
NVML = str(CAPTURE / "nvml_samples.csv")
WINDOW = ["--from", "2026-11-26T18:52:13.241", "--to", "2026-11-26T18:54:43.611"]
FIELDS = [
    "gpu",
    "samples",
    "seconds",
    "busy_ratio",
    "sm_active_ratio",
    "tensor_active_ratio",
    "dram_active_ratio",
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["gpu", "utilization", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_json_is_one_object_per_gpu_with_nulls_for_absent_fields():
    code, output = run(SMI, *WINDOW, "--json")
    assert code == 0, output
    (gpu,) = json.loads(output)
    assert list(gpu) == FIELDS
    assert gpu["gpu"] == "GPU-32128e37-95fb-8080-c3c7-7b793b453797"
    assert gpu["busy_ratio"] == pytest.approx(0.463, abs=0.001)
    # 150.37 s of window; the first sample inside it covers back to the one before it.
    assert gpu["seconds"] == pytest.approx(150.37, abs=0.01)
    # Samples 18:52:13.4 … 18:54:43.5 every ~0.5 s (lines 14 to 312 of the CSV): 299.
    assert gpu["samples"] == 299
    assert (gpu["sm_active_ratio"], gpu["tensor_active_ratio"], gpu["dram_active_ratio"]) == (
        None,
        None,
        None,
    )


def test_a_window_with_an_offset_is_the_same_window_in_utc():
    shifted = ["--from", "2026-11-26T19:52:13.241+01:00", "--to", "2026-11-26T19:54:43.611+01:00"]
    _, in_utc = run(SMI, *WINDOW, "--json")
    _, with_offset = run(SMI, *shifted, "--json")
    (a,), (b,) = json.loads(in_utc), json.loads(with_offset)
    # Sums of many floats may be added in another order from run to run: equal to 1e-9.
    assert a == {k: pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for k, v in b.items()}


def test_headerless_capture_with_query_gpu_gives_the_headed_busy_ratio(tmp_path):
    lines = (CAPTURE / "nvidia_smi_query.csv").read_text().splitlines()[1:]
    path = tmp_path / "noheader.csv"
    path.write_text("\n".join(lines) + "\n")
    query = (
        "timestamp,index,uuid,name,pci.bus_id,utilization.gpu,utilization.memory,memory.used,"
        "memory.total,power.draw,power.limit,clocks.sm,clocks.mem,temperature.gpu"
    )
    code, output = run(str(path), "--query-gpu", query, *WINDOW, "--json")
    assert code == 0, output
    assert json.loads(output)[0]["busy_ratio"] == pytest.approx(0.463, abs=0.01)
    code, output = run(str(path), *WINDOW)
    assert code == 1
    assert "nvidia-smi CSV without a header" in output


def test_several_files_and_the_table(tmp_path):
    prom = tmp_path / "g5-node.prom"
    prom.write_text(efficiency_capture())
    code, output = run(SMI, NVML, str(prom))
    assert code == 0, output
    rows = [line for line in output.splitlines() if "│" in line]
    a10g = next(line for line in rows if "GPU-a10g" in line)
    cells = [c.strip() for c in a10g.split("│")[1:-1]]
    # 361 scrapes, 3,600 s covered; busy 0.354, SM 0.234, tensor 0.167, DRAM 0.118 (by hand in
    # test_gpu_efficiency).
    assert cells[1:3] == ["361", "3,600.0"]
    assert [float(c) for c in cells[3:]] == [
        pytest.approx(TRUTH[k], abs=0.001) for k in ("busy", "sm", "tensor", "dram")
    ]
    assert sum("GPU-32128e37" in line for line in rows) == 2  # one row per file's GPU


def test_errors_name_the_file_and_what_was_expected(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("time,gpu,load\n1,0,50\n")
    code, output = run(str(odd))
    assert code == 1
    assert "not a known GPU telemetry format" in output and "dcgm-exporter" in output
    code, output = run(SMI, "--from", "yesterday")
    assert code == 1
    assert "--from 'yesterday': expected an ISO 8601 time" in output
    code, output = run(str(CAPTURE / "nvidia_smi_dmon.txt"))
    assert code == 1
    assert "dmon -o T prints no date: give --from" in output
    code, output = run(str(CAPTURE / "nvidia_smi_dmon.txt"), *WINDOW, "--json")
    assert code == 0 and json.loads(output)[0]["gpu"] == "gpu 0"
