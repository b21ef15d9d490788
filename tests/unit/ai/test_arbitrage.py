"""Cross-cloud arbitrage from a small catalog and a small bill, worked by hand.

Models. The catalog prices Claude 3 Haiku per million input / output tokens at $0.25 / $1.25 on
Bedrock (list), $0.30 / $1.50 on Vertex AI (list) and $0.20 / $1.00 at Anthropic (a negotiated
override row from 2026-10-01); OCI lists Haiku in the hosts table but the catalog has no OCI
price. The period ran 2,000,000 input and 400,000 output tokens on Bedrock, billed $0.90 (a
discount). As priced on Bedrock: 2 × 0.25 + 0.4 × 1.25 = $1.00; at Anthropic 2 × 0.20 + 0.4 ×
1.00 = $0.80; on Vertex 0.6 + 0.6 = $1.20. Cheapest: Anthropic, 20 % less, so the saving is
$0.90 × 0.20 = $0.18 in the bill's dollars. Gemini 2.5 Pro ran on Vertex, and the Gemini API
is cheaper in the catalog, but the hosts table lists only Vertex: no move is suggested.

GPUs. The GPU catalog rents an H100 GPU hour at $55.04 / 8 = $6.88 (AWS p5.48xlarge,
us-east-1, list), $88.00 / 8 = $11.00 (GCP, us-central1, list) and $48.00 / 8 = $6.00 (Azure
eastus, an override row: negotiated). The bill ran 10 p5.48xlarge hours (80 GPU hours) in
eu-west-1 for $800.00: at Azure eastus they would cost 80 × 6.00 = $480.00, saving $320.00
(40 %). An A10G is rented only in us-east-1 by the catalog, where it ran: no alternative.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from costlake.ai.arbitrage import gpu_arbitrage, load_llm_hosts, model_arbitrage
from costlake.ai.prices import PriceCatalog
from costlake.gpu.catalog import load_gpu_catalog

DAY = date(2026, 10, 31)


def _catalog() -> PriceCatalog:
    rows = [
        ("aws", "claude-3-haiku", None, 0.25, 1.25, "genai-prices 0.2.3"),
        ("google", "claude-3-haiku", None, 0.30, 1.50, "genai-prices 0.2.3"),
        ("anthropic", "claude-3-haiku", date(2026, 10, 1), 0.20, 1.00, "override:deal.csv"),
        ("google", "gemini-2.5-pro", None, 1.25, 10.0, "genai-prices 0.2.3"),
    ]
    return PriceCatalog(
        [
            {
                "provider": provider,
                "model": model,
                "valid_from": valid_from,
                "valid_to": None,
                "input": price_in,
                "output": price_out,
                "source": source,
            }
            for provider, model, valid_from, price_in, price_out, source in rows
        ],
        "test-catalog",
    )


def _hosts() -> pl.DataFrame:
    source = "Test page <https://example.com/models>"
    rows = [
        ("claude-3-haiku", "aws", "us-east-1"),
        ("claude-3-haiku", "gcp", "us-east5"),
        ("claude-3-haiku", "anthropic", "global"),
        ("claude-3-haiku", "oci", "us-chicago-1"),
        ("gemini-2.5-pro", "gcp", "us-central1"),
    ]
    return pl.DataFrame(
        [(*r, source, None) for r in rows],
        schema=["model", "provider", "region", "source", "notes"],
        orient="row",
    )


def _unit_costs() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": ["aws", "gcp"],
            "model": ["claude-3-haiku", "gemini-2.5-pro"],
            "currency": ["USD", "USD"],
            "cost": [0.90, 5.00],
            "input_tokens": [2_000_000.0, 1_000_000.0],
            "cached_tokens": [0.0, 0.0],
            "output_tokens": [400_000.0, 100_000.0],
        }
    )


def test_the_cheapest_other_host_and_the_saving_in_bill_dollars() -> None:
    mart = model_arbitrage(_unit_costs(), _catalog(), _hosts(), DAY)
    haiku = mart.filter(pl.col("item") == "claude-3-haiku").row(0, named=True)
    assert haiku["catalog_cost_usd"] == pytest.approx(1.00)
    assert (haiku["alternative_provider"], haiku["alternative_region"]) == ("anthropic", "global")
    assert haiku["alternative_cost_usd"] == pytest.approx(0.80)
    assert haiku["alternative_basis"] == "negotiated"
    assert haiku["catalog_date"] == date(2026, 10, 1)
    assert haiku["saving_share"] == pytest.approx(0.20)
    assert haiku["saving"] == pytest.approx(0.18)
    assert haiku["quantity"] == 2_400_000


def test_a_model_is_not_moved_where_it_is_not_offered() -> None:
    mart = model_arbitrage(_unit_costs(), _catalog(), _hosts(), DAY)
    gemini = mart.filter(pl.col("item") == "gemini-2.5-pro").row(0, named=True)
    assert gemini["alternative_provider"] is None
    assert gemini["saving"] == 0.0
    assert "no other host" in gemini["reason"]


def test_a_listed_host_without_a_catalog_price_is_not_suggested() -> None:
    # Only OCI is left once Bedrock is where it ran and the others are dropped from the table.
    hosts = _hosts().filter(pl.col("provider").is_in(["aws", "oci"]))
    mart = model_arbitrage(_unit_costs().head(1), _catalog(), hosts, DAY)
    assert mart["alternative_provider"].to_list() == [None]


GPU_CATALOG = """\
provider,match,instance_pattern,gpu_model,gpus_per_instance,gpu_memory_gib,accelerator_kind,billed_per,on_demand_usd_per_hour,price_region,source,notes
aws,exact,p5.48xlarge,H100 80GB,8,80,gpu,instance_hour,55.04,us-east-1,Test <https://example.com/aws>,
gcp,exact,a3-highgpu-8g,H100 80GB,8,80,gpu,gpu_hour,88.00,us-central1,Test <https://example.com/gcp>,
aws,exact,g5.xlarge,A10G 24GB,1,24,gpu,instance_hour,1.006,us-east-1,Test <https://example.com/aws>,
"""
NEGOTIATED = """\
azure,exact,Standard_ND96isr_H100_v5,H100 80GB,8,80,gpu,instance_hour,48.00,eastus,Our contract <https://example.com/deal>,
"""


def _bill() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "x_Provider": ["aws", "aws"],
            "x_InstanceType": ["p5.48xlarge", "g5.xlarge"],
            "RegionId": ["eu-west-1", "us-east-1"],
            "ChargeCategory": ["Usage", "Usage"],
            "PricingUnit": ["Hours", "Hours"],
            "PricingQuantity": [10.0, 5.0],
            "EffectiveCost": [800.00, 5.03],
            "BillingCurrency": ["USD", "USD"],
        }
    )


def test_gpu_hours_at_the_cheapest_other_region(tmp_path) -> None:
    (tmp_path / "shipped.csv").write_text(GPU_CATALOG)
    (tmp_path / "all.csv").write_text(GPU_CATALOG + NEGOTIATED)
    shipped = load_gpu_catalog(tmp_path / "shipped.csv", replace=True)
    catalog = load_gpu_catalog(tmp_path / "all.csv", replace=True)
    mart = gpu_arbitrage(_bill(), catalog, shipped, date(2026, 11, 27))
    h100 = mart.filter(pl.col("item") == "H100 80GB").row(0, named=True)
    assert (h100["provider"], h100["region"], h100["quantity"]) == ("aws", "eu-west-1", 80.0)
    assert h100["catalog_cost_usd"] is None  # the catalog has no eu-west-1 price
    assert (h100["alternative_provider"], h100["alternative_region"]) == ("azure", "eastus")
    assert h100["alternative_cost_usd"] == pytest.approx(480.00)
    assert h100["alternative_basis"] == "negotiated"
    assert h100["catalog_date"] is None
    assert h100["saving"] == pytest.approx(320.00)
    assert h100["saving_share"] == pytest.approx(0.40)

    a10g = mart.filter(pl.col("item") == "A10G 24GB").row(0, named=True)
    assert a10g["alternative_provider"] is None
    assert a10g["catalog_cost_usd"] == pytest.approx(5.03)
    assert "no other provider or region" in a10g["reason"]


def test_a_list_alternative_carries_the_catalog_date(tmp_path) -> None:
    # Without the negotiated row the cheapest is AWS us-east-1 at 6.88: 80 × 6.88 = 550.40.
    (tmp_path / "shipped.csv").write_text(GPU_CATALOG)
    shipped = load_gpu_catalog(tmp_path / "shipped.csv", replace=True)
    mart = gpu_arbitrage(_bill(), shipped, shipped, date(2026, 11, 27))
    h100 = mart.filter(pl.col("item") == "H100 80GB").row(0, named=True)
    assert (h100["alternative_provider"], h100["alternative_region"]) == ("aws", "us-east-1")
    assert h100["alternative_basis"] == "list"
    assert h100["catalog_date"] == date(2026, 11, 27)
    assert h100["saving"] == pytest.approx(800.00 - 550.40)


def test_the_shipped_hosts_table_has_a_source_per_row() -> None:
    hosts = load_llm_hosts()
    assert hosts.height > 0
    assert hosts["source"].str.contains(r"<https://[^>]+>$").all()
