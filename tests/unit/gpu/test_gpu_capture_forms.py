"""The capture forms people really use, each written here from the real H100 capture
(``fixtures/gpu_telemetry/h100_phases``, see its ORIGIN.md), must read to the same busy ratio
as the headed form they were made from (± 0.01 over the capture's phase window).

- nvidia-smi ``--format=csv,noheader`` and ``csv,noheader,nounits``: the headed CSV with its
  header line removed (and the units stripped), the fields given as ``--query-gpu`` or in a
  ``<file>.query`` sidecar; also the issue's narrower query
  ``timestamp,uuid,utilization.gpu,memory.used,power.draw`` (those columns cut out);
- NVML samples of a one-GPU host without ``gpu_uuid``: the column removed;
- dcgm-exporter text with millisecond timestamps, and without them (each scrape preceded by a
  time line, as ``date -u +%FT%T.%3NZ; curl …/metrics`` writes): the NVML readings rewritten as
  ``DCGM_FI_DEV_GPU_UTIL`` samples, compared with the NVML file they came from.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES

from costlake.gpu.telemetry import (
    DCGM_PROMETHEUS,
    GPU_UTIL,
    NVIDIA_SMI_QUERY_CSV,
    NVML_SAMPLES_CSV,
    TelemetryFormatError,
    busy_ratio_between,
    detect_telemetry_format,
    gpu_samples,
    query_gpu_fields,
    read_dcgm_prometheus,
    read_nvidia_smi_query_csv,
    read_nvml_samples_csv,
)

CAPTURE = FIXTURES / "gpu_telemetry" / "h100_phases"
H100_UUID = "GPU-32128e37-95fb-8080-c3c7-7b793b453797"
# The query of nvidia_smi_query.csv, as its README gives the command line.
CAPTURE_QUERY = (
    "timestamp,index,uuid,name,pci.bus_id,utilization.gpu,utilization.memory,memory.used,"
    "memory.total,power.draw,power.limit,clocks.sm,clocks.mem,temperature.gpu"
)
ISSUE_QUERY = "timestamp,uuid,utilization.gpu,memory.used,power.draw"


def window() -> tuple[float, float]:
    with open(CAPTURE / "phases.csv") as f:
        rows = list(csv.DictReader(f))
    return float(rows[0]["start_unix"]), float(rows[-1]["end_unix"])


def ratio(samples: pl.LazyFrame) -> float:
    value = busy_ratio_between(samples, *window())
    assert value is not None
    return value


def headed_smi() -> float:
    return ratio(read_nvidia_smi_query_csv(CAPTURE / "nvidia_smi_query.csv").samples)


def headed_nvml() -> float:
    return ratio(read_nvml_samples_csv(CAPTURE / "nvml_samples.csv").samples)


def smi_rows() -> list[list[str]]:
    """The data lines of the headed CSV, split into their 14 fields (none holds a comma)."""
    lines = (CAPTURE / "nvidia_smi_query.csv").read_text().splitlines()
    return [line.split(",") for line in lines[1:] if line.strip()]


def strip_units(field: str) -> str:
    """' 0 %' -> ' 0', ' 81559 MiB' -> ' 81559': what --format=csv,nounits prints."""
    for unit in (" %", " MiB", " W", " MHz"):
        if field.endswith(unit):
            return field[: -len(unit)]
    return field


def test_headed_forms_are_the_reference():
    # docs/gpu.md gives them: 0.463 from nvidia-smi, 0.474 from NVML, against 0.48 measured.
    assert headed_smi() == pytest.approx(0.463, abs=0.001)
    assert headed_nvml() == pytest.approx(0.474, abs=0.001)


@pytest.mark.parametrize("units", [True, False], ids=["noheader", "noheader,nounits"])
def test_headerless_nvidia_smi_with_fields_given(tmp_path, units):
    rows = smi_rows()
    if not units:
        rows = [[strip_units(f) for f in row] for row in rows]
    path = tmp_path / "smi.csv"
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    assert detect_telemetry_format(path) == NVIDIA_SMI_QUERY_CSV
    read = read_nvidia_smi_query_csv(path, query_gpu=CAPTURE_QUERY)
    assert read.problems == []
    first = read.samples.collect().row(0, named=True)
    # 2026/11/26 18:52:07.374, 0, GPU-3212…, NVIDIA H100 80GB HBM3, …, 0 %, 0 %, 0 MiB,
    # 81559 MiB, 118.76 W, …; without a header the first line is row 1.
    assert (first["gpu_uuid"], first["memory_total_mib"], first["power_w"]) == (
        H100_UUID,
        81559.0,
        118.76,
    )
    assert first["source_row"] == 1
    assert ratio(read.samples) == pytest.approx(headed_smi(), abs=0.01)


def test_headerless_nvidia_smi_takes_its_fields_from_a_sidecar(tmp_path):
    """The issue's logging command, its five columns cut out of the capture and nounits; the
    command line itself in ``smi.csv.query``."""
    keep = [0, 2, 5, 7, 9]  # timestamp, uuid, utilization.gpu, memory.used, power.draw
    rows = [[strip_units(row[i]) for i in keep] for row in smi_rows()]
    path = tmp_path / "smi.csv"
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    (tmp_path / "smi.csv.query").write_text(
        f"nvidia-smi --query-gpu={ISSUE_QUERY} --format=csv,noheader,nounits -l 1\n"
    )
    read = gpu_samples(path)
    assert read.problems == []
    assert ratio(read.samples) == pytest.approx(headed_smi(), abs=0.01)
    # The sidecar is the file's own: a different --query-gpu for other files does not apply.
    read = gpu_samples(path, query_gpu=CAPTURE_QUERY)
    assert ratio(read.samples) == pytest.approx(headed_smi(), abs=0.01)


def test_query_fields_from_a_list_or_a_command_line():
    assert query_gpu_fields("timestamp, gpu_uuid ,utilization.gpu") == (
        "timestamp",
        "uuid",  # nvidia-smi's other name for it
        "utilization.gpu",
    )
    assert query_gpu_fields(f"nvidia-smi --query-gpu {ISSUE_QUERY} --format=csv")[-1] == (
        "power.draw"
    )


def test_headerless_nvidia_smi_errors_say_what_was_expected(tmp_path):
    path = tmp_path / "smi.csv"
    path.write_text("".join(",".join(row) + "\n" for row in smi_rows()[:3]))
    with pytest.raises(TelemetryFormatError) as error:
        read_nvidia_smi_query_csv(path)
    assert str(error.value).startswith(f"{path}, row 1: nvidia-smi CSV without a header")
    assert "--query-gpu" in str(error.value) and "smi.csv.query" in str(error.value)
    # Five fields named for lines of fourteen.
    with pytest.raises(
        TelemetryFormatError,
        match=r"row 1, column \(row\): expected 5 comma-separated fields as in --query-gpu "
        r"timestamp,uuid,utilization.gpu,memory.used,power.draw, found 14",
    ):
        read_nvidia_smi_query_csv(path, query_gpu=ISSUE_QUERY)
    with pytest.raises(TelemetryFormatError, match=r"lacks 'utilization.gpu'"):
        read_nvidia_smi_query_csv(path, query_gpu=CAPTURE_QUERY.replace("utilization.gpu", "x"))


def test_an_unknown_layout_names_the_known_ones(tmp_path):
    path = tmp_path / "what.csv"
    path.write_text("time,gpu,load\n1,0,50\n")
    with pytest.raises(TelemetryFormatError) as error:
        detect_telemetry_format(path)
    message = str(error.value)
    assert message.startswith(f"{path}, row 1: not a known GPU telemetry format")
    for expected in ("nvidia-smi --query-gpu CSV", "dmon", "NVML", "dcgm-exporter"):
        assert expected in message


def nvml_without_uuid(tmp_path: Path) -> Path:
    lines = (CAPTURE / "nvml_samples.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines]
    assert rows[0][1] == "gpu_uuid"
    path = tmp_path / "nvml.csv"
    path.write_text("".join(",".join(row[:1] + row[2:]) + "\n" for row in rows))
    return path


def test_nvml_of_a_one_gpu_host_without_uuid_maps_by_host(tmp_path):
    path = nvml_without_uuid(tmp_path)
    assert detect_telemetry_format(path) == NVML_SAMPLES_CSV
    mapping = pl.DataFrame({"host": ["h100-box"], "resource_id": ["i-0h100"]})
    read = gpu_samples(path, mapping, host="h100-box")
    assert read.problems == []
    samples = read.samples.collect()
    assert samples["gpu_uuid"].null_count() == samples.height == 601
    assert samples["resource_id"].unique().to_list() == ["i-0h100"]
    assert ratio(read.samples) == pytest.approx(headed_nvml(), abs=0.01)


def test_the_mapping_names_the_host_of_a_file_that_names_none(tmp_path):
    path = nvml_without_uuid(tmp_path)  # nvml.csv: no gpu_uuid, no host column
    mapping = tmp_path / "gpus.csv"
    mapping.write_text(
        "file,host,resource_id\nnvml*.csv,h100-box,i-0h100\nother-*.csv,other-box,i-0other\n"
    )
    samples = gpu_samples(path, mapping).samples.collect()
    assert samples["host"].unique().to_list() == ["h100-box"]
    assert samples["resource_id"].unique().to_list() == ["i-0h100"]
    # A file's own host wins over the pattern.
    labelled = gpu_samples(path, mapping, host="elsewhere").samples.collect()
    assert labelled["host"].unique().to_list() == ["elsewhere"]
    assert labelled["resource_id"].null_count() == labelled.height
    bad = tmp_path / "bad.csv"
    bad.write_text("file,gpu_uuid,resource_id\nnvml*.csv,GPU-1,i-1\n")
    with pytest.raises(
        TelemetryFormatError, match=r"bad\.csv, row 2, column host: a row naming a file"
    ):
        gpu_samples(path, bad)


def test_nvml_without_uuid_refuses_two_gpus_at_one_time(tmp_path):
    path = tmp_path / "nvml.csv"
    path.write_text(
        "unix_time,utilization_gpu_pct\n1795719133.242,0\n1795719133.242,50\n1795719133.5,10\n"
    )
    with pytest.raises(
        TelemetryFormatError, match=r"nvml\.csv, row 2, column unix_time: two readings at one"
    ):
        read_nvml_samples_csv(path)


def nvml_readings() -> list[tuple[int, float]]:
    """(unix ms, utilization %) of every NVML reading of the capture."""
    with open(CAPTURE / "nvml_samples.csv") as f:
        return [
            (round(float(r["unix_time"]) * 1000), float(r["utilization_gpu_pct"]))
            for r in csv.DictReader(f)
        ]


LABELS = f'gpu="0",UUID="{H100_UUID}",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-box"'


def test_dcgm_text_with_timestamps(tmp_path):
    text = "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n"
    text += "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
    text += "".join(f"{GPU_UTIL}{{{LABELS}}} {u:g} {ms}\n" for ms, u in nvml_readings())
    path = tmp_path / "dcgm.prom"
    path.write_text(text)
    read = read_dcgm_prometheus(path)
    assert read.problems == []
    assert ratio(read.samples) == pytest.approx(headed_nvml(), abs=0.01)


def test_dcgm_scrapes_without_timestamps_take_the_time_line_before_them(tmp_path):
    scrapes = []
    for ms, util in nvml_readings():
        stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        scrapes.append(
            f"{stamp}Z\n"
            "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n"
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
            f"{GPU_UTIL}{{{LABELS}}} {util:g}\n"
        )
    path = tmp_path / "dcgm.prom"
    path.write_text("".join(scrapes))
    assert detect_telemetry_format(path) == DCGM_PROMETHEUS
    read = gpu_samples(path)
    assert read.problems == []
    samples = read.samples.collect()
    # The first scrape's time line: 1795719133.242 = 2026-11-26 18:52:13.242 UTC.
    assert samples["time"][0] == datetime(2026, 11, 26, 18, 52, 13, 242000, tzinfo=UTC)
    assert samples.height == 601
    assert ratio(read.samples) == pytest.approx(headed_nvml(), abs=0.01)


def test_dcgm_without_timestamps_or_time_lines_says_what_it_needs(tmp_path):
    path = tmp_path / "scrape.prom"
    path.write_text(f"{GPU_UTIL}{{{LABELS}}} 50\n")
    with pytest.raises(TelemetryFormatError) as error:
        read_dcgm_prometheus(path)
    assert "row 1, column timestamp: sample has no timestamp, no time line" in str(error.value)
    # Unix seconds on their own line (date +%s.%N) work as well.
    path.write_text(f"1795719133.242\n{GPU_UTIL}{{{LABELS}}} 50\n")
    rows = read_dcgm_prometheus(path).samples.collect()
    assert rows["time"].to_list() == [datetime(2026, 11, 26, 18, 52, 13, 242000, tzinfo=UTC)]
