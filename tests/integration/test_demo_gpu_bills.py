"""The GPU catalog on the four demo bills: every GPU line of each cloud's demo export,
normalized as the ingest does, resolves to the documented GPU model and count, and its GPU-hours
follow each cloud's billing unit. (Moved out of the unit tests: it writes and normalizes all four
demo exports, seconds of work; the catalog's own rules are tested in
tests/unit/gpu/test_gpu_catalog.py.)

Expected counts come from the providers' size tables (quoted in the catalog's sources), never
from the code's output."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from costlake.focus.deliveries import Delivery, DeliveryFile
from costlake.focus.ingest import normalized_rows
from costlake.gpu.catalog import with_gpu_usage
from costlake.providers.registry import source_datasets
from demo.aws import write_demo_aws_export
from demo.azure import write_demo_azure_export
from demo.gcp import write_demo_gcp_export
from demo.oci import write_demo_oci_export

# ---------------------------------------------------------------------------------------------
# The four demo bills
# ---------------------------------------------------------------------------------------------


def _normalize(paths: list[Path], dataset: str, provider: str) -> pl.DataFrame:
    frames = []
    for path in paths:
        delivery = Delivery(provider, dataset, "", "test", path.name, (DeliveryFile(path.name),))
        frames.append(normalized_rows(path, path.name, delivery, source_datasets()[dataset]))
    return pl.concat(frames, how="diagonal_relaxed").collect()


@pytest.fixture(scope="module")
def demo_focus(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """Each demo bill's files normalized to FOCUS rows (as the ingest does, without a lake)."""
    root = tmp_path_factory.mktemp("demo")
    write_demo_aws_export(root / "aws")
    write_demo_azure_export(root / "azure")
    gcp = write_demo_gcp_export(root / "gcp")
    oci = write_demo_oci_export(root / "oci")
    return {
        "aws": _normalize(sorted((root / "aws").rglob("*.csv.gz")), "aws_cur2", "aws"),
        "azure": _normalize(sorted((root / "azure").rglob("*.csv.gz")), "azure_actual", "azure"),
        "gcp": _normalize(gcp, "gcp_billing_export_detailed", "gcp"),
        "oci": _normalize(oci, "oci_cost", "oci"),
    }


@pytest.fixture(scope="module")
def demo_gpu(demo_focus) -> dict[str, pl.DataFrame]:
    return {p: with_gpu_usage(f.lazy()).collect() for p, f in demo_focus.items()}


def _specs(frame: pl.DataFrame) -> dict[str, tuple[str, float]]:
    known = frame.filter(pl.col("gpu_model").is_not_null())
    return {
        r["instance_type"]: (r["gpu_model"], r["gpus_per_instance"])
        for r in known.select("instance_type", "gpu_model", "gpus_per_instance").unique().to_dicts()
    }


def test_every_gpu_line_of_the_demo_bills_resolves(demo_gpu) -> None:
    aws, azure, gcp, oci = (demo_gpu[p] for p in ("aws", "azure", "gcp", "oci"))
    # AWS: every instance of the G and P families (GPU instances) resolves.
    gpu_types = aws.filter(pl.col("instance_type").str.contains(r"^(ml\.)?[gp][0-9]"))
    assert gpu_types.height > 0
    assert gpu_types["gpu_model"].null_count() == 0
    # Azure: every N-series VM.
    n_series = azure.filter(pl.col("instance_type").str.starts_with("Standard_N"))
    assert n_series.height > 0 and n_series["gpu_model"].null_count() == 0
    # GCP: every accelerator SKU line and the machine types behind them.
    accelerators = gcp.filter(pl.col("SkuMeter").str.starts_with("Nvidia"))
    assert accelerators.height > 0 and accelerators["gpu_model"].null_count() == 0
    # OCI: every GPU-hour line.
    gpu_lines = oci.filter(pl.col("PricingUnit") == "GPU-Hours")
    assert gpu_lines.height > 0 and gpu_lines["gpu_model"].null_count() == 0


def test_demo_bills_resolve_to_the_documented_specs(demo_gpu) -> None:
    assert _specs(demo_gpu["aws"]) == {
        "p5.48xlarge": ("H100 80GB", 8),
        "g5.12xlarge": ("A10G 24GB", 4),
        "g5.2xlarge": ("A10G 24GB", 1),
    }
    assert _specs(demo_gpu["azure"]) == {
        "Standard_ND96isr_H100_v5": ("H100 80GB", 8),
        "Standard_NC24ads_A100_v4": ("A100 80GB", 1),
    }
    assert _specs(demo_gpu["gcp"]) == {
        "a3-highgpu-8g": ("H100 80GB", 8),
        "a2-highgpu-1g": ("A100 40GB", 1),
        "g2-standard-8": ("L4 24GB", 1),
    }
    assert _specs(demo_gpu["oci"]) == {
        "BM.GPU.H100.8": ("H100 80GB", 8),
        "VM.GPU.A10.1": ("A10 24GB", 1),
    }


def test_gcp_accelerator_lines_count_one_gpu_per_unit_hour(demo_gpu) -> None:
    gcp = demo_gpu["gcp"].filter(pl.col("instance_type") == "a3-highgpu-8g")
    units = dict(gcp.group_by("SkuMeter").agg(pl.col("gpus_per_unit").unique()).iter_rows())
    assert units["Nvidia H100 80GB GPU running in Americas"] == [1.0]
    assert units["A3 Instance Core running in Americas"] == [0.0]
    assert units["A3 Instance Ram running in Americas"] == [0.0]
    # The H100 SKU bills 8 GPU-hours per machine-hour and the core SKU 208 vCPU-hours
    # (a3-highgpu-8g: 8 GPUs, 208 vCPUs), so GPU-hours × 208 / 8 are the billed core-hours.
    usage = gcp.filter(pl.col("ChargeCategory") == "Usage")
    gpu_hours = usage["gpu_hours"].sum()
    cores = usage.filter(pl.col("SkuMeter").str.contains("Core"))["PricingQuantity"].sum()
    assert gpu_hours > 0
    assert gpu_hours * 208 / 8 == pytest.approx(cores)


def test_oci_gpu_shapes_bill_per_gpu_hour(demo_gpu) -> None:
    oci = demo_gpu["oci"].filter(pl.col("instance_type") == "BM.GPU.H100.8")
    assert oci["gpus_per_unit"].unique().to_list() == [1.0]
    usage = oci.filter(pl.col("ChargeCategory") == "Usage")
    assert usage["gpu_hours"].sum() == pytest.approx(usage["PricingQuantity"].sum())


def test_aws_gpu_hours_are_instance_hours_times_gpus(demo_gpu) -> None:
    p5 = demo_gpu["aws"].filter(pl.col("instance_type") == "p5.48xlarge")
    covered = p5.filter(pl.col("x_LineItemType") == "SavingsPlanCoveredUsage")
    negation = p5.filter(pl.col("x_LineItemType") == "SavingsPlanNegation")
    assert negation.height > 0 and negation["gpu_hours"].null_count() == negation.height
    assert p5["gpu_hours"].sum() == pytest.approx(8 * covered["PricingQuantity"].sum())
