"""The GPU catalog: every row sourced and valid, the bill's own GPU count preferred, patterns,
overrides and error messages (the four demo bills resolved: tests/integration/
test_demo_gpu_bills.py).

Expected counts come from the providers' size tables (quoted in the catalog's sources), never
from the code's output."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import polars as pl
import pytest

from costlake.gpu.catalog import (
    CATALOG_COLUMNS,
    GpuCatalogError,
    aws_product_gpu,
    catalog_row_expr,
    gpu_spec,
    gpus_per_instance_expr,
    instance_type_of,
    load_gpu_catalog,
    with_gpu_spec,
)
from costlake.gpu.sizing import load_gpu_models
from demo.aws import write_demo_aws_export, write_synthetic_cur2_export

HEADER = list(CATALOG_COLUMNS)
SOURCE = "Example page <https://example.com/gpus>"


def _write_catalog(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in header})
    return path


def _row(**values: str) -> dict[str, str]:
    base = {
        "provider": "aws",
        "match": "exact",
        "instance_pattern": "x1.large",
        "gpu_model": "H100 80GB",
        "gpus_per_instance": "1",
        "gpu_memory_gib": "80",
        "accelerator_kind": "gpu",
        "billed_per": "instance_hour",
        "source": SOURCE,
    }
    return base | values


# ---------------------------------------------------------------------------------------------
# The shipped catalog
# ---------------------------------------------------------------------------------------------


def test_every_row_has_a_source_and_sane_values() -> None:
    catalog = load_gpu_catalog()
    assert catalog.height > 100
    for row in catalog.iter_rows(named=True):
        where = f"row {row['catalog_row']} ({row['instance_pattern']})"
        assert row["source"] and re.search(r"<https?://\S+>$", row["source"]), where
        assert row["gpus_per_instance"] > 0 and row["gpu_memory_gib"] > 0, where
        if row["on_demand_usd_per_hour"] is not None:
            assert row["price_region"], where
        if row["match"] == "regex":
            assert row["instance_pattern"].startswith("^"), where
            assert row["instance_pattern"].endswith("$"), where


def test_gpu_models_of_the_catalog_are_in_the_sizing_table() -> None:
    catalog = load_gpu_catalog().filter(pl.col("accelerator_kind") == "gpu")
    known = set(load_gpu_models()["gpu_model"].to_list())
    assert set(catalog["gpu_model"].unique().to_list()) <= known


# (provider, name, GPU model, GPUs, GiB per GPU) from the providers' size tables.
EXPECTED = [
    ("aws", "p4d.24xlarge", "A100 40GB", 8, 40),
    ("aws", "p4de.24xlarge", "A100 80GB", 8, 80),
    ("aws", "p5.48xlarge", "H100 80GB", 8, 80),
    ("aws", "p5e.48xlarge", "H200 141GB", 8, 141),
    ("aws", "p5en.48xlarge", "H200 141GB", 8, 141),
    *[
        ("aws", f"g5.{size}", "A10G 24GB", n, 24)
        for size, n in zip(
            [
                "xlarge",
                "2xlarge",
                "4xlarge",
                "8xlarge",
                "16xlarge",
                "12xlarge",
                "24xlarge",
                "48xlarge",
            ],
            [1, 1, 1, 1, 1, 4, 4, 8],
            strict=True,
        )
    ],
    ("aws", "g6.xlarge", "L4 24GB", 1, 24),
    ("aws", "g6.12xlarge", "L4 24GB", 4, 24),
    ("aws", "g6.48xlarge", "L4 24GB", 8, 24),
    ("aws", "g6e.2xlarge", "L40S 48GB", 1, 48),
    ("aws", "g6e.12xlarge", "L40S 48GB", 4, 48),
    ("aws", "g6e.48xlarge", "L40S 48GB", 8, 48),
    ("aws", "trn1.2xlarge", "Trainium", 1, 32),
    ("aws", "trn1.32xlarge", "Trainium", 16, 32),
    ("aws", "trn1n.32xlarge", "Trainium", 16, 32),
    ("aws", "trn2.48xlarge", "Trainium2", 16, 96),
    ("aws", "inf2.xlarge", "Inferentia2", 1, 32),
    ("aws", "inf2.24xlarge", "Inferentia2", 6, 32),
    ("aws", "inf2.48xlarge", "Inferentia2", 12, 32),
    ("aws", "ml.g5.2xlarge", "A10G 24GB", 1, 24),
    ("aws", "ml.g5.12xlarge", "A10G 24GB", 4, 24),
    ("aws", "ml.p4d.24xlarge", "A100 40GB", 8, 40),
    ("aws", "ml.p5.48xlarge", "H100 80GB", 8, 80),
    ("aws", "ml.p5en.48xlarge", "H200 141GB", 8, 141),
    ("aws", "ml.g6e.48xlarge", "L40S 48GB", 8, 48),
    ("aws", "ml.trn1n.32xlarge", "Trainium", 16, 32),
    ("aws", "ml.inf2.48xlarge", "Inferentia2", 12, 32),
    ("azure", "Standard_ND96asr_v4", "A100 40GB", 8, 40),
    ("azure", "Standard_ND96amsr_A100_v4", "A100 80GB", 8, 80),
    ("azure", "Standard_ND96isr_H100_v5", "H100 80GB", 8, 80),
    ("azure", "Standard_NC24ads_A100_v4", "A100 80GB", 1, 80),
    ("azure", "Standard_NC48ads_A100_v4", "A100 80GB", 2, 80),
    ("azure", "Standard_NC96ads_A100_v4", "A100 80GB", 4, 80),
    ("azure", "Standard_NC4as_T4_v3", "T4 16GB", 1, 16),
    ("azure", "Standard_NC64as_T4_v3", "T4 16GB", 4, 16),
    ("azure", "Standard_NV36ads_A10_v5", "A10 24GB", 1, 24),
    ("azure", "Standard_NV72ads_A10_v5", "A10 24GB", 2, 24),
    *[("gcp", f"a2-highgpu-{n}g", "A100 40GB", n, 40) for n in (1, 2, 4, 8)],
    ("gcp", "a2-megagpu-16g", "A100 40GB", 16, 40),
    *[("gcp", f"a2-ultragpu-{n}g", "A100 80GB", n, 80) for n in (1, 2, 4, 8)],
    *[("gcp", f"a3-highgpu-{n}g", "H100 80GB", n, 80) for n in (1, 2, 4, 8)],
    ("gcp", "a3-megagpu-8g", "H100 80GB", 8, 80),
    ("gcp", "a3-ultragpu-8g", "H200 141GB", 8, 141),
    *[("gcp", f"g2-standard-{n}", "L4 24GB", 1, 24) for n in (4, 8, 12, 16, 32)],
    ("gcp", "g2-standard-24", "L4 24GB", 2, 24),
    ("gcp", "g2-standard-48", "L4 24GB", 4, 24),
    ("gcp", "g2-standard-96", "L4 24GB", 8, 24),
    ("oci", "BM.GPU.H100.8", "H100 80GB", 8, 80),
    ("oci", "BM.GPU.H200.8", "H200 141GB", 8, 141),
    ("oci", "BM.GPU.A100-v2.8", "A100 80GB", 8, 80),
    ("oci", "BM.GPU4.8", "A100 40GB", 8, 40),
    ("oci", "BM.GPU.A10.4", "A10 24GB", 4, 24),
    ("oci", "VM.GPU.A10.1", "A10 24GB", 1, 24),
    ("oci", "VM.GPU.A10.2", "A10 24GB", 2, 24),
    ("oci", "BM.GPU.L40S.4", "L40S 48GB", 4, 48),
]


@pytest.mark.parametrize(("provider", "name", "model", "gpus", "memory"), EXPECTED)
def test_catalog_knows_the_instance_types_of_the_brief(provider, name, model, gpus, memory) -> None:
    spec = gpu_spec(provider, name)
    assert spec is not None, name
    assert (spec.gpu_model, spec.gpus_per_instance, spec.gpu_memory_gib) == (model, gpus, memory)


def test_azure_partial_gpus_carry_their_share_of_memory() -> None:
    # NVadsA10 v5: Standard_NV6ads_A10_v5 is 1/6 of an A10 with 4 GiB, NV12ads 1/3 with 8 GiB.
    six = gpu_spec("azure", "Standard_NV6ads_A10_v5")
    twelve = gpu_spec("azure", "Standard_NV12ads_A10_v5")
    assert six is not None and twelve is not None
    assert six.total_gpu_memory_gib == pytest.approx(4)
    assert twelve.total_gpu_memory_gib == pytest.approx(8)


def test_oci_and_gcp_rows_say_they_bill_per_gpu_hour() -> None:
    assert gpu_spec("oci", "BM.GPU.H100.8").billed_per == "gpu_hour"
    assert gpu_spec("gcp", "a3-highgpu-8g").billed_per == "gpu_hour"
    assert gpu_spec("aws", "p5.48xlarge").billed_per == "instance_hour"
    assert gpu_spec("azure", "Standard_ND96isr_H100_v5").billed_per == "instance_hour"


# ---------------------------------------------------------------------------------------------
# The bill's own GPU count
# ---------------------------------------------------------------------------------------------


def _raw_aws_rows(root: Path) -> pl.DataFrame:
    rows = []
    for path in sorted(root.rglob("*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
            rows += list(csv.DictReader(stream))
    return pl.DataFrame(rows).select("product", "product_instance_type", "line_item_usage_type")


def test_the_bills_product_gpu_wins_over_the_catalog(tmp_path: Path) -> None:
    write_demo_aws_export(tmp_path / "bucket")
    raw = _raw_aws_rows(tmp_path / "bucket").with_columns(
        x_Provider=pl.lit("aws"), instance_type=pl.col("product_instance_type")
    )
    # A catalog that is wrong about g5.12xlarge (2 GPUs) and does not know p5.48xlarge.
    wrong = _write_catalog(
        tmp_path / "wrong.csv",
        [
            _row(instance_pattern="g5.12xlarge", gpu_model="A10G 24GB", gpus_per_instance="2"),
            _row(instance_pattern="r6i.2xlarge", gpu_model="A10G 24GB", gpus_per_instance="1"),
        ],
    )
    catalog = load_gpu_catalog(wrong, replace=True)
    frame = raw.with_columns(aws_product_gpu(raw).alias("bill_gpu"))
    out = with_gpu_spec(frame.lazy(), bill_gpu_count_col="bill_gpu", catalog=catalog).collect()
    by_type = {
        r["instance_type"]: r
        for r in out.unique("instance_type").to_dicts()
        if r["instance_type"] is not None
    }
    # The demo's product map says gpu 4 for g5.12xlarge and 8 for p5.48xlarge.
    assert by_type["g5.12xlarge"]["gpus_per_instance"] == 4
    assert by_type["g5.12xlarge"]["gpus_per_instance_source"] == "bill"
    assert by_type["g5.12xlarge"]["gpu_model"] == "A10G 24GB"
    assert by_type["p5.48xlarge"]["gpus_per_instance"] == 8
    assert by_type["p5.48xlarge"]["gpus_per_instance_source"] == "bill"
    assert by_type["p5.48xlarge"]["gpu_model"] is None
    # r6i.2xlarge states no GPU: the catalog's (deliberately wrong) row is used.
    assert by_type["r6i.2xlarge"]["gpus_per_instance"] == 1
    assert by_type["r6i.2xlarge"]["gpus_per_instance_source"] == "catalog"


def test_synthetic_parquet_map_and_sagemaker_types_agree_with_the_catalog(tmp_path: Path) -> None:
    write_synthetic_cur2_export(tmp_path, 4000, "parquet", files=1)
    parquet = next(tmp_path.rglob("*.parquet"))
    raw = pl.read_parquet(parquet).select("product", "product_instance_type")
    frame = raw.with_columns(
        aws_product_gpu(raw).alias("bill_gpu"),
        x_Provider=pl.lit("aws"),
        instance_type=pl.col("product_instance_type"),
    )
    stated = frame.filter(pl.col("bill_gpu").is_not_null()).unique("instance_type")
    assert "ml.g5.2xlarge" in stated["instance_type"].to_list()
    catalog_count = gpus_per_instance_expr("x_Provider", "instance_type")
    checked = stated.with_columns(catalog_count.alias("catalog_gpus"))
    assert checked["catalog_gpus"].null_count() == 0
    assert (checked["catalog_gpus"] == checked["bill_gpu"].cast(pl.Float64)).all()


# ---------------------------------------------------------------------------------------------
# Patterns and instance types
# ---------------------------------------------------------------------------------------------


def test_patterns_are_anchored_case_insensitive_and_exact_rows_win(tmp_path: Path) -> None:
    assert gpu_spec("aws", "ML.G5.12XLARGE").gpus_per_instance == 4
    assert gpu_spec("AWS", " ml.g5.12xlarge ").gpus_per_instance == 4
    assert gpu_spec("aws", "ml.g5.12xlarge.extra") is None
    assert gpu_spec("aws", "xml.g5.12xlarge") is None
    assert gpu_spec("aws", "g5.12xlarge").matched_pattern == "g5.12xlarge"
    assert gpu_spec("gcp", "g5.12xlarge") is None  # another provider's name
    # The Azure size a meter name turns into ("ND96asr A100 v4") resolves like the real size.
    assert gpu_spec("azure", "Standard_ND96asr_A100_v4").gpu_model == "A100 40GB"
    # GCP accelerator SKUs: one GPU per unit hour; "Tesla A100" is the 40GB part.
    sku = gpu_spec("gcp", "Nvidia Tesla A100 GPU running in Americas")
    assert (sku.gpu_model, sku.gpus_per_instance, sku.billed_per) == ("A100 40GB", 1, "gpu_hour")
    assert gpu_spec("gcp", "Nvidia A100 80GB GPU running in Americas").gpu_model == "A100 80GB"
    # An exact override row beats the regex row for ml.g5.12xlarge.
    override = _write_catalog(
        tmp_path / "o.csv",
        [_row(instance_pattern="ml.g5.12xlarge", gpu_model="A10G 24GB", gpus_per_instance="3")],
    )
    assert gpu_spec("aws", "ml.g5.12xlarge", load_gpu_catalog(override)).gpus_per_instance == 3


def test_the_expression_matches_like_gpu_spec() -> None:
    catalog = load_gpu_catalog()
    names = [(p, n) for p, n, *_ in EXPECTED] + [
        ("aws", "r6i.2xlarge"),
        ("aws", "ML.G6.XLARGE"),
        ("gcp", "Nvidia L4 GPU running in Americas"),
        ("gcp", "n2-standard-8"),
        ("azure", "Standard_D2s_v3"),
        ("oci", "VM.Standard.E4.Flex"),
    ]
    frame = pl.DataFrame({"p": [p for p, _ in names], "i": [n for _, n in names]})
    rows = frame.select(catalog_row_expr("p", "i", catalog).alias("row"))["row"].to_list()
    for (provider, name), row in zip(names, rows, strict=True):
        spec = gpu_spec(provider, name, catalog)
        expected = None if spec is None else spec.matched_pattern
        got = None if row is None else catalog["instance_pattern"][row]
        assert got == expected, (provider, name)


def test_instance_type_of_follows_each_providers_rules() -> None:
    frame = pl.DataFrame(
        {
            "x_Provider": [
                "aws",
                "aws",
                "aws",
                "aws",
                "azure",
                "azure",
                "azure",
                "gcp",
                "gcp",
                "oci",
            ],
            "x_InstanceType": [
                None,
                None,
                None,
                "p5.48xlarge",
                None,
                None,
                "Standard_X",
                None,
                "a2-highgpu-1g",
                None,
            ],
            "x_UsageType": [
                "USE1-SpotUsage:g5.2xlarge",
                "USE1-Host:ml.g5.2xlarge",
                "USE1-DataTransfer-Out-Bytes",
                "USE1-BoxUsage:g5.2xlarge",
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            "SkuMeter": [
                "USE1-SpotUsage:g5.2xlarge",
                "USE1-Host:ml.g5.2xlarge",
                None,
                None,
                "NC24ads A100 v4 Spot",
                "P30 LRS Disk",
                "ND96isr H100 v5",
                "Nvidia L4 GPU running in Americas",
                "A2 Instance Core running in Americas",
                "Compute - GPU - BM.GPU.A10.4",
            ],
            "x_ProductCode": [
                None,
                None,
                None,
                None,
                "Virtual Machines",
                "Storage",
                None,
                None,
                None,
                None,
            ],
        }
    )
    got = frame.select(instance_type_of(frame))[:, 0].to_list()
    assert got == [
        "g5.2xlarge",  # after SpotUsage:
        "ml.g5.2xlarge",  # SageMaker keeps its ml. prefix
        None,
        "p5.48xlarge",  # x_InstanceType first
        "Standard_NC24ads_A100_v4",  # the VM size rebuilt from the meter, " Spot" dropped
        None,  # not a Virtual Machines line
        "Standard_X",  # x_InstanceType (AdditionalInfo.ServiceType) first
        "Nvidia L4 GPU running in Americas",  # an accelerator SKU without a machine type
        "a2-highgpu-1g",
        "BM.GPU.A10.4",  # the shape in the SKU description
    ]


def test_instance_type_of_tolerates_missing_columns() -> None:
    frame = pl.DataFrame({"x_Provider": ["aws"], "x_UsageType": ["BoxUsage:p4d.24xlarge"]})
    assert frame.select(instance_type_of(frame))[:, 0].to_list() == ["p4d.24xlarge"]


# ---------------------------------------------------------------------------------------------
# Overrides and errors
# ---------------------------------------------------------------------------------------------


def test_override_adds_and_replaces_rows(tmp_path: Path) -> None:
    override = _write_catalog(
        tmp_path / "mine.csv",
        [
            _row(
                instance_pattern="p6-b200.48xlarge",
                gpu_model="B200 180GB",
                gpus_per_instance="8",
                gpu_memory_gib="180",
            ),
            _row(
                instance_pattern="g5.12xlarge",
                gpu_model="A10G 24GB",
                gpus_per_instance="2",
                gpu_memory_gib="24",
            ),
        ],
    )
    merged = load_gpu_catalog(override)
    assert gpu_spec("aws", "p6-b200.48xlarge", merged).gpus_per_instance == 8
    assert gpu_spec("aws", "g5.12xlarge", merged).gpus_per_instance == 2
    assert gpu_spec("aws", "g5.48xlarge", merged).gpus_per_instance == 8  # shipped rows stay
    assert merged.filter(pl.col("instance_pattern") == "g5.12xlarge").height == 1
    assert merged["catalog_file"][0] == "mine.csv"
    only = load_gpu_catalog(override, replace=True)
    assert only.height == 2
    assert gpu_spec("aws", "g5.48xlarge", only) is None


def test_override_may_leave_out_the_optional_columns(tmp_path: Path) -> None:
    header = [c for c in HEADER if c not in ("on_demand_usd_per_hour", "price_region", "notes")]
    path = _write_catalog(tmp_path / "short.csv", [_row()], header)
    assert load_gpu_catalog(path, replace=True)["on_demand_usd_per_hour"].to_list() == [None]


@pytest.mark.parametrize(
    ("values", "column", "words"),
    [
        ({"provider": "ibm"}, "provider", "'ibm' is not one of aws"),
        ({"gpus_per_instance": "eight"}, "gpus_per_instance", "not a positive number"),
        ({"gpus_per_instance": "0"}, "gpus_per_instance", "not a positive number"),
        ({"match": "glob"}, "match", "'glob' is not one of exact, regex"),
        ({"match": "regex", "instance_pattern": "g5\\..*"}, "instance_pattern", "not anchored"),
        (
            {"match": "regex", "instance_pattern": "^g5\\.($"},
            "instance_pattern",
            "does not compile",
        ),
        (
            {"match": "regex", "instance_pattern": "^(?=g)g5$"},
            "instance_pattern",
            "polars cannot use",
        ),
        ({"source": ""}, "source", "is empty"),
        ({"source": "https://example.com"}, "source", "is not 'Title <https://…>'"),
        ({"accelerator_kind": "fpga"}, "accelerator_kind", "'fpga' is not one of"),
        ({"billed_per": "month"}, "billed_per", "'month' is not one of"),
        ({"on_demand_usd_per_hour": "1.5"}, "price_region", "empty although the row has a price"),
    ],
)
def test_errors_name_file_row_and_column(tmp_path: Path, values, column, words) -> None:
    path = _write_catalog(tmp_path / "bad.csv", [_row(instance_pattern="ok.large"), _row(**values)])
    with pytest.raises(GpuCatalogError) as error:
        load_gpu_catalog(path)
    message = str(error.value)
    assert "bad.csv row 2 (line 3), column " + column in message
    assert words in message


def test_errors_for_missing_columns_duplicates_and_unreadable_files(tmp_path: Path) -> None:
    short = _write_catalog(tmp_path / "short.csv", [], ["provider", "match"])
    with pytest.raises(GpuCatalogError, match=r"short\.csv: missing column\(s\) instance_pattern"):
        load_gpu_catalog(short)
    twice = _write_catalog(tmp_path / "twice.csv", [_row(), _row(instance_pattern="X1.LARGE")])
    with pytest.raises(
        GpuCatalogError,
        match=r"twice\.csv row 2, column instance_pattern: 'X1\.LARGE' \(aws\) repeats row 1",
    ):
        load_gpu_catalog(twice)
    with pytest.raises(GpuCatalogError, match=r"absent\.csv: cannot read"):
        load_gpu_catalog(tmp_path / "absent.csv")
    with pytest.raises(GpuCatalogError, match="replace=True needs an override"):
        load_gpu_catalog(replace=True)
