"""GPU telemetry: four samplers into one ``gpu_samples`` table, and busy time per GPU-hour.

The real capture (``fixtures/gpu_telemetry/h100_phases``, see its ORIGIN.md) drove one H100
through known phases; its README gives the expected answer: busy about
(40 + 0.3·40.4 + 20) / 150.4 ≈ 48 % of the phase window, idle phases idle, full-load phases
near 100 %. Every other input is written by hand below, and every expected value is worked out
by hand from these inputs (the arithmetic is in the comments).
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES

from costlake.gpu.telemetry import (
    DCGM_PROMETHEUS,
    GPU_SAMPLES_SCHEMA,
    GPU_UTIL,
    GR_ENGINE_ACTIVE,
    NVIDIA_SMI_DMON,
    NVIDIA_SMI_QUERY_CSV,
    NVML_SAMPLES_CSV,
    TelemetryFormatError,
    busy_by_gpu_hour,
    busy_ratio_between,
    combined_busy_hours,
    detect_telemetry_format,
    gpu_samples,
    read_dcgm_prometheus,
    read_gpu_mapping,
    read_nvidia_smi_dmon,
    read_nvidia_smi_query_csv,
    read_nvml_samples_csv,
)

CAPTURE = FIXTURES / "gpu_telemetry" / "h100_phases"
CAPTURE_DAY = date(2026, 11, 26)  # the README: captured on 2026-11-26, timestamps UTC
H100_UUID = "GPU-32128e37-95fb-8080-c3c7-7b793b453797"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# The real capture: three samplers against the phases


def phases() -> list[tuple[str, float, float]]:
    with open(CAPTURE / "phases.csv") as f:
        return [
            (r["phase"], float(r["start_unix"]), float(r["end_unix"])) for r in csv.DictReader(f)
        ]


def read_sampler(sampler: str) -> pl.LazyFrame:
    if sampler == "nvidia_smi_query":
        read = read_nvidia_smi_query_csv(CAPTURE / "nvidia_smi_query.csv")
    elif sampler == "nvidia_smi_dmon":
        read = read_nvidia_smi_dmon(CAPTURE / "nvidia_smi_dmon.txt", CAPTURE_DAY)
    else:
        read = read_nvml_samples_csv(CAPTURE / "nvml_samples.csv")
    assert read.problems == []  # the capture has no [N/A], no bad line
    return read.samples


SAMPLERS = ["nvidia_smi_query", "nvidia_smi_dmon", "nvml"]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_capture_busy_over_the_whole_phase_window_is_about_48_percent(sampler):
    spans = phases()
    ratio = busy_ratio_between(read_sampler(sampler), spans[0][1], spans[-1][2])
    # README: (40 + 0.3 × 40.4 + 20) / 150.4 = 72.12 / 150.4 = 0.4795
    assert ratio == pytest.approx(0.48, abs=0.03)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_capture_each_phase_reads_as_what_the_gpu_did(sampler):
    samples = read_sampler(sampler)
    for phase, start, end in phases():
        ratio = busy_ratio_between(samples, start, end)
        if phase == "idle":
            assert ratio <= 0.05, (phase, start, ratio)
        elif phase in ("matmul_full", "memcopy_full"):
            assert ratio >= 0.95, (phase, ratio)
        else:
            assert phase == "matmul_duty_30pct"
            assert 0.20 <= ratio <= 0.45, ratio


def test_capture_readings_describe_the_time_before_them():
    """Why a sample's value covers the interval *ending* at it (``value_describes="preceding"``).

    From ``nvidia_smi_query.csv`` and ``phases.csv``: matmul_full runs 18:52:33.241 to
    18:53:13.244 UTC. The reading 0.37 s into the load (18:52:33.611) is still 0 % and the
    next one 100 %; the reading 0.05 s after the load ends (18:53:13.296) is still 100 % and
    the next one 0 %. A reading reports the past sample period, so it belongs to the time
    before it.
    """
    samples = read_sampler("nvidia_smi_query").collect()
    busy_at = dict(zip(samples["time"].to_list(), samples["busy"].to_list(), strict=True))
    assert busy_at[utc(2026, 11, 26, 18, 52, 33, 611000)] == 0.0
    assert busy_at[utc(2026, 11, 26, 18, 52, 34, 113000)] == 1.0
    assert busy_at[utc(2026, 11, 26, 18, 53, 13, 296000)] == 1.0
    assert busy_at[utc(2026, 11, 26, 18, 53, 13, 798000)] == 0.0
    # Holding each value forward instead moves that last 100 % reading's half second into the
    # idle phase after the matmul (18:53:13.244–18:53:28.244): 0.502 s / 15 s = 3.3 % more.
    idle = [p for p in phases() if p[0] == "idle"][1]
    preceding = busy_ratio_between(read_sampler("nvidia_smi_query"), idle[1], idle[2])
    following = busy_ratio_between(
        read_sampler("nvidia_smi_query"), idle[1], idle[2], value_describes="following"
    )
    assert preceding < 0.01
    assert following == pytest.approx(preceding + 0.502 / 15, abs=0.002)


def test_capture_first_rows_of_each_sampler():
    query = read_sampler("nvidia_smi_query").collect()
    # 2026/11/26 18:52:07.374, 0, GPU-3212…, NVIDIA H100 80GB HBM3, …, 0 %, 0 %, 0 MiB,
    # 81559 MiB, 118.76 W, …
    assert query.schema == GPU_SAMPLES_SCHEMA
    assert query.row(0, named=True) == {
        "time": utc(2026, 11, 26, 18, 52, 7, 374000),
        "host": None,
        "gpu_uuid": H100_UUID,
        "gpu_index": 0,
        "gpu_model": "NVIDIA H100 80GB HBM3",
        "busy": 0.0,
        "busy_source": "utilization.gpu",
        "memory_used_mib": 0.0,
        "memory_total_mib": 81559.0,
        "power_w": 118.76,
        # nvidia-smi has no profiling fields, no MIG instance, no Kubernetes labels.
        "sm_active": None,
        "tensor_active": None,
        "dram_active": None,
        "mig_instance": None,
        "mig_profile": None,
        "gpu_share": 1.0,
        "namespace": None,
        "pod": None,
        "container": None,
        "resource_id": None,
        "source_format": NVIDIA_SMI_QUERY_CSV,
        "source_file": str(CAPTURE / "nvidia_smi_query.csv"),
        "source_row": 2,
    }
    assert query.height == 313  # 314 lines less the header

    dmon = read_sampler("nvidia_smi_dmon").collect()
    # Line 3: " 18:52:07  0  118  42  44  0  0 … fb 0": placed at 18:52:07.5 (see the reader)
    first = dmon.row(0, named=True)
    assert (first["time"], first["gpu_index"], first["power_w"], first["busy"]) == (
        utc(2026, 11, 26, 18, 52, 7, 500000),
        0,
        118.0,
        0.0,
    )
    assert first["source_row"] == 3
    assert dmon.height == 164 - 8  # four pairs of '#' header lines

    nvml = read_sampler("nvml").collect()
    # 1795719133.242,GPU-3212…,0,0,9456,81559,79.925
    first = nvml.row(0, named=True)
    assert first["time"] == utc(2026, 11, 26, 18, 52, 13, 242000)
    assert (first["memory_used_mib"], first["memory_total_mib"], first["power_w"]) == (
        9456.0,
        81559.0,
        79.925,
    )
    assert nvml.height == 601


def test_detect_telemetry_format_on_the_capture_and_a_scrape(tmp_path):
    assert detect_telemetry_format(CAPTURE / "nvidia_smi_query.csv") == NVIDIA_SMI_QUERY_CSV
    assert detect_telemetry_format(CAPTURE / "nvidia_smi_dmon.txt") == NVIDIA_SMI_DMON
    assert detect_telemetry_format(CAPTURE / "nvml_samples.csv") == NVML_SAMPLES_CSV
    assert detect_telemetry_format(write(tmp_path, "m.prom", DCGM_TWO_SCRAPES)) == DCGM_PROMETHEUS
    with pytest.raises(TelemetryFormatError, match=r"phases\.csv, row 1: not a known"):
        detect_telemetry_format(CAPTURE / "phases.csv")


# --------------------------------------------------------------------------------------------
# dcgm-exporter Prometheus text

LABELS = 'modelName="NVIDIA H100 80GB HBM3",Hostname="node-1",instance_id="i-0abc"'
G0 = f'gpu="0",UUID="GPU-aaaa",device="nvidia0",{LABELS}'
G1 = f'gpu="1",UUID="GPU-bbbb",device="nvidia1",{LABELS}'
T0, T1 = 1795719600000, 1795719615000  # 2026-11-26 19:00:00 and 19:00:15 UTC, in ms

DCGM_TWO_SCRAPES = f"""\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{G0}}} 100 {T0}
DCGM_FI_DEV_GPU_UTIL{{{G1}}} 45 {T0}
# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.
# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge
DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{G0}}} 0.87 {T0}
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{{{G0}}} 9203 {T0}
DCGM_FI_DEV_FB_USED{{{G1}}} 1024 {T0}
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{{{G0}}} 72356 {T0}
DCGM_FI_DEV_FB_FREE{{{G1}}} 80535 {T0}
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{{{G0}}} 699.31 {T0}
DCGM_FI_DEV_POWER_USAGE{{{G1}}} 250.5 {T0}
DCGM_FI_DEV_SM_CLOCK{{{G0}}} 1980 {T0}
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{G0}}} 60 {T1}
DCGM_FI_DEV_GPU_UTIL{{{G1}}} 4294967295 {T1}
# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.
# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge
DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{G0}}} NaN {T1}
DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{G1}}} 1.02 {T1}
"""


def test_dcgm_prefers_gr_engine_active_and_screens_garbage(tmp_path):
    path = write(tmp_path, "node-1.prom", DCGM_TWO_SCRAPES)
    read = read_dcgm_prometheus(path)
    rows = read.samples.sort("time", "gpu_index").collect()
    assert rows.schema == GPU_SAMPLES_SCHEMA
    got = rows.select(
        "time", "gpu_uuid", "busy", "busy_source", "memory_used_mib", "memory_total_mib", "power_w"
    ).rows()
    t0, t1 = utc(2026, 11, 26, 19, 0, 0), utc(2026, 11, 26, 19, 0, 15)
    assert got == [
        # GPU 0 has both: GR_ENGINE_ACTIVE 0.87 wins over GPU_UTIL 100; memory 9203 + 72356.
        (t0, "GPU-aaaa", 0.87, GR_ENGINE_ACTIVE, 9203.0, 81559.0, 699.31),
        # GPU 1 exports no GR_ENGINE_ACTIVE at t0: GPU_UTIL 45 / 100.
        (t0, "GPU-bbbb", 0.45, GPU_UTIL, 1024.0, 81559.0, 250.5),
        # GR_ENGINE_ACTIVE NaN is no reading: GPU_UTIL 60 / 100 stands in.
        (t1, "GPU-aaaa", 0.60, GPU_UTIL, None, None, None),
        # GR_ENGINE_ACTIVE 1.02 is clamped to 1; the GPU_UTIL 4294967295 beside it is null.
        (t1, "GPU-bbbb", 1.0, GR_ENGINE_ACTIVE, None, None, None),
    ]
    first = rows.row(0, named=True)
    assert (first["host"], first["gpu_model"], first["resource_id"]) == (
        "node-1",
        "NVIDIA H100 80GB HBM3",
        "i-0abc",
    )
    assert first["source_row"] == 3  # its first line, GPU_UTIL of GPU 0
    problems = {(p.column, p.reason.split(" ")[0], p.rows, p.first_row) for p in read.problems}
    assert problems == {
        (GPU_UTIL, "sentinel", 1, 24),  # line 24: 4294967295
        (GR_ENGINE_ACTIVE, "NaN", 1, 27),  # line 27: NaN
        (GR_ENGINE_ACTIVE, "above", 1, 28),  # line 28: 1.02, clamped
    }


def test_dcgm_a_single_scrape_without_timestamps_takes_scrape_time(tmp_path):
    path = write(
        tmp_path,
        "scrape.prom",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{G0}}} 0.25\nDCGM_FI_DEV_FB_USED{{{G0}}} 100\n",
    )
    with pytest.raises(TelemetryFormatError, match=r"scrape\.prom, row 1, column timestamp"):
        read_dcgm_prometheus(path)
    read = read_dcgm_prometheus(path, scrape_time=utc(2026, 11, 26, 20, 0, 0))
    rows = read.samples.collect()
    assert rows.select("time", "busy", "memory_used_mib").rows() == [
        (utc(2026, 11, 26, 20, 0, 0), 0.25, 100.0)
    ]


def test_dcgm_malformed_line_names_file_row_and_column(tmp_path):
    text = DCGM_TWO_SCRAPES.replace(
        f"DCGM_FI_DEV_GPU_UTIL{{{G1}}} 45 {T0}", f"DCGM_FI_DEV_GPU_UTIL{{{G1}}} abc {T0}"
    )
    path = write(tmp_path, "bad.prom", text)
    with pytest.raises(TelemetryFormatError) as error:
        read_dcgm_prometheus(path)
    message = str(error.value)
    assert message.startswith(f"{path}, row 4, column (line): not a Prometheus sample")
    assert "abc" in message
    # Skipping instead drops the line and counts it.
    read = read_dcgm_prometheus(path, on_bad_line="skip")
    skipped = [p for p in read.problems if p.reason.startswith("malformed")]
    assert [(p.rows, p.first_row) for p in skipped] == [(1, 4)]
    rows = read.samples.sort("time", "gpu_index").collect()
    # GPU 1 at t0 now has no busy value (its GPU_UTIL line was the bad one), memory still.
    assert rows.row(1, named=True)["busy"] is None
    assert rows.row(1, named=True)["memory_used_mib"] == 1024.0


# --------------------------------------------------------------------------------------------
# nvidia-smi query CSV: [N/A], bad values

QUERY_HEADER = (
    "timestamp, index, uuid, name, utilization.gpu [%], memory.used [MiB], "
    "memory.total [MiB], power.draw [W]\n"
)
A10G = "NVIDIA A10G"
NA_CSV = QUERY_HEADER + (
    f"2026/11/26 10:00:00.000, 0, GPU-aaaa, {A10G}, 40 %, 1000 MiB, 23028 MiB, [N/A]\n"
    f"2026/11/26 10:00:00.000, 1, GPU-bbbb, {A10G}, [Not Supported], 2000 MiB, 23028 MiB, 60.50 W\n"
    f"2026/11/26 10:00:10.000, 0, GPU-aaaa, {A10G}, 100 %, [N/A], 23028 MiB, 150.00 W\n"
    f"2026/11/26 10:00:10.000, 1, GPU-bbbb, {A10G}, [Not Supported], 2000 MiB, 23028 MiB, 61.00 W\n"
    + QUERY_HEADER
    + f"2026/11/26 10:00:20.000, 0, GPU-aaaa, {A10G}, 0 %, 1000 MiB, 23028 MiB, 70.25 W\n"
    f"2026/11/26 10:00:20.000, 1, GPU-bbbb, {A10G}, [Not Supported], 2000 MiB, 23028 MiB, 62.00 W\n"
)


def test_query_csv_na_values_are_null_and_counted(tmp_path):
    path = write(tmp_path, "smi.csv", NA_CSV)
    read = read_nvidia_smi_query_csv(path, host="gpu-box")
    rows = read.samples.sort("gpu_index", "time").collect()
    assert rows.select("gpu_index", "busy", "memory_used_mib", "power_w").rows() == [
        (0, 0.40, 1000.0, None),
        (0, 1.00, None, 150.0),
        (0, 0.00, 1000.0, 70.25),
        (1, None, 2000.0, 60.5),
        (1, None, 2000.0, 61.0),
        (1, None, 2000.0, 62.0),
    ]
    assert rows["host"].unique().to_list() == ["gpu-box"]
    # The header repeated on line 6 (appended runs) is not a row; rows keep their line numbers.
    assert rows.filter(pl.col("gpu_index") == 0)["source_row"].to_list() == [2, 4, 7]
    problems = {(p.column, p.rows, p.first_row, p.example) for p in read.problems}
    assert problems == {
        ("power.draw [W]", 1, 2, "[N/A]"),
        ("utilization.gpu [%]", 3, 3, "[Not Supported]"),
        ("memory.used [MiB]", 1, 4, "[N/A]"),
    }
    assert all(p.reason.startswith("not available") for p in read.problems)


def test_a_gpu_hour_without_any_busy_value_is_unknown_not_idle(tmp_path):
    samples = read_nvidia_smi_query_csv(write(tmp_path, "smi.csv", NA_CSV)).samples
    hours = busy_by_gpu_hour(samples).collect()
    gpu1 = hours.filter(pl.col("gpu_uuid") == "GPU-bbbb").row(0, named=True)
    assert (gpu1["covered_seconds"], gpu1["coverage"], gpu1["busy_ratio"]) == (0.0, 0.0, None)
    assert gpu1["samples"] == 3
    assert gpu1["peak_memory_used_mib"] == 2000.0
    # GPU 0: 10:00:10 (100 %) covers 10:00:00–10:00:10, 10:00:20 (0 %) the next 10 s.
    gpu0 = hours.filter(pl.col("gpu_uuid") == "GPU-aaaa").row(0, named=True)
    assert (gpu0["busy_seconds"], gpu0["covered_seconds"], gpu0["busy_ratio"]) == (10.0, 20.0, 0.5)


def test_query_csv_malformed_value_and_short_row(tmp_path):
    bad_value = QUERY_HEADER + (
        "2026/11/26 10:00:00.000, 0, GPU-aaaa, NVIDIA A10G, 40 %, 1000 MiB, 23028 MiB, 60.00 W\n"
        "2026/11/26 10:00:01.000, 0, GPU-aaaa, NVIDIA A10G, 4O %, 1000 MiB, 23028 MiB, 60.00 W\n"
    )
    path = write(tmp_path, "bad.csv", bad_value)
    with pytest.raises(TelemetryFormatError) as error:
        read_nvidia_smi_query_csv(path)
    assert str(error.value) == (f"{path}, row 3, column utilization.gpu [%]: not a number: '4O %'")
    short = QUERY_HEADER + "2026/11/26 10:00:00.000, 0, GPU-aaaa, NVIDIA A10G, 40 %, 10\n"
    path = write(tmp_path, "short.csv", short)
    with pytest.raises(
        TelemetryFormatError, match=r"short\.csv, row 2, column \(row\): expected 8"
    ):
        read_nvidia_smi_query_csv(path)
    read = read_nvidia_smi_query_csv(path, on_bad_line="skip")
    assert read.samples.collect().height == 0
    assert [(p.column, p.rows, p.first_row) for p in read.problems if "skipped" in p.reason] == [
        ("(row)", 1, 2)
    ]


# --------------------------------------------------------------------------------------------
# dmon: fixed width, HH:MM:SS only, across midnight

DMON_HEADER = (
    "#Time         gpu    pwr  gtemp  mtemp     sm    mem    enc    dec    jpg    ofa   mclk"
    "   pclk     fb   bar1   ccpm \n"
    "#HH:MM:SS     Idx      W      C      C      %      %      %      %      %      %    MHz"
    "    MHz     MB     MB     MB \n"
)
DMON_MIDNIGHT = DMON_HEADER + (
    " 23:59:58       0    118     42     44     10      0      0      0      0      0   2619"
    "    480    100      1      0 \n"
    " 23:59:58       1     74     40     41      0      0      0      0      0      0   2619"
    "    345      0      1      0 \n"
    " 23:59:59       0    120     42     44     20      0      0      0      0      0   2619"
    "    480    100      1      0 \n"
    + DMON_HEADER
    + " 00:00:00       0    300     50     48     30      5      0      0      0      0   2619"
    "   1980    200      1      0 \n"
    " 00:00:01       0      -     50     48      -      5      0      0      0      0   2619"
    "   1980    200      1      0 \n"
)


def test_dmon_rolls_over_midnight_and_reads_dashes_as_null(tmp_path):
    path = write(tmp_path, "dmon.txt", DMON_MIDNIGHT)
    read = read_nvidia_smi_dmon(
        path, date(2026, 11, 26), host="h", gpu_uuid={0: "GPU-0", 1: "GPU-1"}
    )
    rows = read.samples.collect()
    # Each row sits at the middle of its printed second (HH:MM:SS + 0.5 s).
    assert rows.select("time", "gpu_uuid", "busy", "power_w", "memory_used_mib").rows() == [
        (utc(2026, 11, 26, 23, 59, 58, 500000), "GPU-0", 0.10, 118.0, 100.0),
        (utc(2026, 11, 26, 23, 59, 58, 500000), "GPU-1", 0.0, 74.0, 0.0),
        (utc(2026, 11, 26, 23, 59, 59, 500000), "GPU-0", 0.20, 120.0, 100.0),
        (utc(2026, 11, 27, 0, 0, 0, 500000), "GPU-0", 0.30, 300.0, 200.0),
        (utc(2026, 11, 27, 0, 0, 1, 500000), "GPU-0", None, None, 200.0),
    ]
    assert rows["source_row"].to_list() == [3, 4, 5, 8, 9]
    assert {(p.column, p.rows, p.first_row, p.example) for p in read.problems} == {
        ("sm", 1, 9, "-"),
        ("pwr", 1, 9, "-"),
    }
    # The interval 23:59:59.5–00:00:00.5 is split between the two hours.
    hours = busy_by_gpu_hour(read.samples, max_gap=timedelta(seconds=5)).collect()
    gpu0 = hours.filter(pl.col("gpu_uuid") == "GPU-0")
    # hour 23: 23:59:58.5–23:59:59.5 at 0.2 (0.2 s) + 23:59:59.5–24:00 at 0.3 (0.15 s)
    # hour 00: 00:00:00–00:00:00.5 at 0.3 (0.15 s); 00:00:01.5 has no busy value.
    assert gpu0.select("hour", "busy_seconds", "covered_seconds", "samples").rows() == [
        (utc(2026, 11, 26, 23), pytest.approx(0.35), 1.5, 2),
        (utc(2026, 11, 27, 0), pytest.approx(0.15), 0.5, 2),
    ]


def test_dmon_needs_a_day_and_reports_a_bad_line(tmp_path):
    path = write(tmp_path, "dmon.txt", DMON_MIDNIGHT)
    with pytest.raises(ValueError, match="pass day="):
        read_nvidia_smi_dmon(path, None)
    bad = write(tmp_path, "bad.txt", DMON_HEADER + " 23:59:58       0    118     42\n")
    with pytest.raises(TelemetryFormatError, match=r"bad\.txt, row 3, column \(row\): expected 16"):
        read_nvidia_smi_dmon(bad, date(2026, 11, 26))


# --------------------------------------------------------------------------------------------
# The mapping to billed resources


def test_mapping_fills_resource_id_by_uuid_then_host(tmp_path):
    prom = write(tmp_path, "node-1.prom", DCGM_TWO_SCRAPES.replace(',instance_id="i-0abc"', ""))
    smi = write(tmp_path, "smi.csv", NA_CSV)
    mapping = write(
        tmp_path,
        "mapping.csv",
        "gpu_uuid,host,resource_id,note\n"
        "GPU-aaaa,,i-0aaa,one GPU of node-1\n"
        ",node-1,i-0node1,the rest of node-1\n"
        ",gpu-box,i-0box,the A10G machine\n",
    )
    read = gpu_samples([prom, smi], mapping, host="gpu-box")
    got = (
        read.samples.group_by("source_format", "gpu_uuid")
        .agg(pl.col("resource_id").unique())
        .sort("source_format", "gpu_uuid")
        .collect()
        .rows()
    )
    assert got == [
        (DCGM_PROMETHEUS, "GPU-aaaa", ["i-0aaa"]),  # by its UUID
        (DCGM_PROMETHEUS, "GPU-bbbb", ["i-0node1"]),  # by its host, node-1
        (NVIDIA_SMI_QUERY_CSV, "GPU-aaaa", ["i-0aaa"]),  # same UUID, other host: the UUID wins
        (NVIDIA_SMI_QUERY_CSV, "GPU-bbbb", ["i-0box"]),  # by the host given for the CSV
    ]
    # A label in the telemetry wins over the mapping.
    labelled = gpu_samples(write(tmp_path, "l.prom", DCGM_TWO_SCRAPES), mapping).samples
    assert labelled.select(pl.col("resource_id").unique()).collect().item() == "i-0abc"


def test_mapping_errors_name_file_row_and_column(tmp_path):
    empty = write(tmp_path, "m1.csv", "gpu_uuid,host,resource_id\nGPU-a,,i-1\nGPU-b,, \n")
    with pytest.raises(TelemetryFormatError, match=r"m1\.csv, row 3, column resource_id: empty"):
        read_gpu_mapping(empty)
    neither = write(tmp_path, "m2.csv", "gpu_uuid,host,resource_id\n,,i-1\n")
    with pytest.raises(TelemetryFormatError, match=r"m2\.csv, row 2, column gpu_uuid: neither"):
        read_gpu_mapping(neither)
    clash = write(tmp_path, "m3.csv", "gpu_uuid,resource_id\nGPU-a,i-1\nGPU-b,i-2\nGPU-a,i-3\n")
    with pytest.raises(TelemetryFormatError, match=r"m3\.csv, row 4, column resource_id: gpu_uuid"):
        read_gpu_mapping(clash)
    no_column = write(tmp_path, "m4.csv", "gpu_uuid,instance\nGPU-a,i-1\n")
    with pytest.raises(TelemetryFormatError, match=r"m4\.csv, row 1, column resource_id: missing"):
        read_gpu_mapping(no_column)


# --------------------------------------------------------------------------------------------
# Time weighting: an hour with gaps, worked by hand


def gap_samples() -> pl.LazyFrame:
    """One GPU, sampled with two long gaps and across 11:00 (times, busy, memory used)."""
    rows = [
        (utc(2026, 11, 26, 10, 0, 0), 0.5, 1000.0),
        (utc(2026, 11, 26, 10, 1, 0), 1.0, 2000.0),
        (utc(2026, 11, 26, 10, 2, 0), 0.0, 3000.0),
        (utc(2026, 11, 26, 10, 30, 0), 0.5, 4000.0),  # after a 28 min gap
        (utc(2026, 11, 26, 10, 31, 0), 1.0, 1000.0),
        (utc(2026, 11, 26, 10, 59, 30), 0.2, 500.0),  # after a 28.5 min gap
        (utc(2026, 11, 26, 11, 0, 30), 1.0, 7000.0),
    ]
    frame = pl.DataFrame(
        {
            "time": [r[0] for r in rows],
            "busy": [r[1] for r in rows],
            "memory_used_mib": [r[2] for r in rows],
        }
    )
    return (
        frame.lazy()
        .with_columns(
            host=pl.lit("h"),
            gpu_uuid=pl.lit("GPU-gap"),
            gpu_index=pl.lit(0, pl.Int32),
            gpu_model=pl.lit("NVIDIA L4"),
            busy_source=pl.lit("hand"),
            memory_total_mib=pl.lit(23034.0),
            resource_id=pl.lit("i-gap"),
            power_w=pl.lit(None, pl.Float64),
            source_format=pl.lit("hand"),
            source_file=pl.lit("hand"),
            source_row=pl.int_range(pl.len(), dtype=pl.Int64),
        )
        .with_columns(
            pl.lit(None, dtype).alias(name)
            for name, dtype in GPU_SAMPLES_SCHEMA.items()
            if name in ("sm_active", "tensor_active", "dram_active", "gpu_share")
            or name in ("mig_instance", "mig_profile", "namespace", "pod", "container")
        )
        .select(GPU_SAMPLES_SCHEMA.names())
    )


def test_an_hour_with_gaps_counts_only_covered_time():
    hours = busy_by_gpu_hour(gap_samples(), max_gap=timedelta(seconds=60)).collect()
    # Each value covers the time since the previous sample, at most 60 s:
    #   10:00:00 first sample: nothing     10:01:00  60 s × 1.0 = 60
    #   10:02:00  60 s × 0.0 = 0           10:30:00  60 s (gap capped) × 0.5 = 30
    #   10:31:00  60 s × 1.0 = 60          10:59:30  60 s (gap capped) × 0.2 = 12
    #   11:00:30  10:59:30–11:00:30 × 1.0: 30 s in hour 10 (30), 30 s in hour 11 (30)
    # hour 10: covered 5 × 60 + 30 = 330 s, busy 60 + 0 + 30 + 60 + 12 + 30 = 192 s
    ten, eleven = hours.rows(named=True)
    assert ten["hour"] == utc(2026, 11, 26, 10)
    assert ten["covered_seconds"] == 330.0
    assert ten["busy_seconds"] == pytest.approx(192.0)
    assert ten["coverage"] == pytest.approx(330 / 3600)  # 0.0917
    assert ten["busy_ratio"] == pytest.approx(192 / 330)  # 0.5818, over covered time only
    assert ten["samples"] == 6
    assert ten["peak_memory_used_mib"] == 4000.0  # of the samples taken in hour 10
    assert (ten["resource_id"], ten["memory_total_mib"], ten["gpu_model"]) == (
        "i-gap",
        23034.0,
        "NVIDIA L4",
    )
    assert eleven["hour"] == utc(2026, 11, 26, 11)
    assert (eleven["covered_seconds"], eleven["busy_seconds"], eleven["busy_ratio"]) == (
        30.0,
        30.0,
        1.0,
    )
    assert (eleven["samples"], eleven["peak_memory_used_mib"]) == (1, 7000.0)


def test_default_max_gap_is_five_median_intervals():
    hours = busy_by_gpu_hour(gap_samples()).collect()
    # Intervals 60, 60, 1680, 60, 1710, 60 s: median 60 s, so gaps up to 300 s are covered;
    # after the two longer ones (the sampler stopped) a sample covers one period, 60 s.
    # hour 10: 60 (×1) + 60 (×0) + 60 (×0.5) + 60 (×1) + 60 (×0.2) + 30 (×1)
    #        = covered 330 s, busy 60 + 0 + 30 + 60 + 12 + 30 = 192 s
    ten = hours.row(0, named=True)
    assert ten["covered_seconds"] == 330.0
    assert ten["busy_seconds"] == pytest.approx(192.0)
    assert ten["busy_ratio"] == pytest.approx(192 / 330)


def test_a_stop_longer_than_max_gap_stays_uncovered():
    """Samples every 60 s, 10:00 to 10:05, then none until 13:00 (the machine was off): the
    13:00 sample covers 12:59 to 13:00 only; hours 11 and 12 are unknown, not idle."""
    times = [datetime(2026, 11, 26, 10, m, tzinfo=UTC) for m in range(6)]
    times.append(datetime(2026, 11, 26, 13, 0, tzinfo=UTC))
    samples = pl.LazyFrame(
        {"time": times, "busy": [1.0] * len(times)},
        schema_overrides={"time": pl.Datetime("us", "UTC")},
    ).with_columns(
        *[
            pl.lit(None, dtype).alias(name)
            for name, dtype in GPU_SAMPLES_SCHEMA.items()
            if name not in ("time", "busy")
        ]
    )
    hours = busy_by_gpu_hour(samples.select(list(GPU_SAMPLES_SCHEMA))).collect()
    covered = {row["hour"].hour: row["covered_seconds"] for row in hours.iter_rows(named=True)}
    # Hour 13 holds the 13:00 sample but none of its time: its busy ratio is unknown.
    assert covered == {10: 300.0, 12: 60.0, 13: 0.0}
    assert hours.filter(pl.col("covered_seconds") == 0)["busy_ratio"].to_list() == [None]


def test_following_convention_holds_each_value_forward():
    hours = busy_by_gpu_hour(
        gap_samples(), max_gap=timedelta(seconds=60), value_describes="following"
    ).collect()
    # 10:00 (0.5) 60 s = 30, 10:01 (1.0) 60 s = 60, 10:02 (0.0) 60 s capped = 0,
    # 10:30 (0.5) 60 s = 30, 10:31 (1.0) 60 s capped = 60, 10:59:30 (0.2) 30 s in hour 10 = 6
    # and 30 s in hour 11 = 6; 11:00:30 is the last sample: nothing.
    ten, eleven = hours.rows(named=True)
    assert (ten["covered_seconds"], ten["busy_seconds"]) == (330.0, pytest.approx(186.0))
    assert (eleven["covered_seconds"], eleven["busy_seconds"]) == (30.0, pytest.approx(6.0))


def test_busy_ratio_between_weights_by_time_and_knows_unknown():
    samples = gap_samples()
    gap = timedelta(seconds=60)
    # 10:00–10:02: 60 s at 1.0 and 60 s at 0.0
    assert busy_ratio_between(
        samples, utc(2026, 11, 26, 10, 0), utc(2026, 11, 26, 10, 2), max_gap=gap
    ) == pytest.approx(0.5)
    # 10:00:30–10:01:30: 30 s at 1.0, 30 s at 0.0
    assert busy_ratio_between(
        samples, utc(2026, 11, 26, 10, 0, 30), utc(2026, 11, 26, 10, 1, 30), max_gap=gap
    ) == pytest.approx(0.5)
    # 10:05–10:25 has no telemetry at all: unknown, not idle.
    assert (
        busy_ratio_between(
            samples, utc(2026, 11, 26, 10, 5), utc(2026, 11, 26, 10, 25), max_gap=gap
        )
        is None
    )
    with pytest.raises(ValueError, match="aware"):
        busy_ratio_between(samples, datetime(2026, 11, 26, 10), utc(2026, 11, 26, 11))


def test_busy_hours_of_files_read_apart_add_up():
    """One GPU sampled every 60 s from 10:00 to 11:00, busy 0.5, its log rotated at 10:30:
    read as one file, 10:01 … 11:00 cover 3,600 s; read apart, the second file's first sample
    (10:31) covers nothing, so 3,540 s, busy 1,770 s, in one row for the hour."""
    times = [datetime(2026, 11, 26, 10, tzinfo=UTC) + timedelta(minutes=m) for m in range(61)]

    def frame(moments: list[datetime]) -> pl.LazyFrame:
        return (
            pl.LazyFrame(
                {
                    "time": moments,
                    "busy": [0.5] * len(moments),
                    "gpu_uuid": ["GPU-1"] * len(moments),
                },
                schema_overrides={"time": pl.Datetime("us", "UTC")},
            )
            .with_columns(
                *[
                    pl.lit(None, dtype).alias(name)
                    for name, dtype in GPU_SAMPLES_SCHEMA.items()
                    if name not in ("time", "busy", "gpu_uuid")
                ]
            )
            .select(list(GPU_SAMPLES_SCHEMA))
        )

    whole = busy_by_gpu_hour(frame(times)).collect()
    parts = [busy_by_gpu_hour(frame(times[:31])).collect()]
    parts.append(busy_by_gpu_hour(frame(times[31:])).collect())
    apart = combined_busy_hours(parts)
    ten = apart.filter(pl.col("hour").dt.hour() == 10).row(0, named=True)
    assert whole.filter(pl.col("hour").dt.hour() == 10)["covered_seconds"].item() == 3600.0
    assert (ten["covered_seconds"], ten["busy_seconds"]) == (3540.0, 1770.0)
    assert ten["busy_ratio"] == 0.5
    assert ten["samples"] == 60  # 10:00 … 10:59 fall in hour 10
    assert apart.columns == whole.columns
