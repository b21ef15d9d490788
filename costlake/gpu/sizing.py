"""How much GPU memory a model needs to be served, which GPUs hold it, and where a GPU
resource could run on less. Pure Python and polars: no Dagster, no network.

Sizing rule (the common back-of-the-envelope rule for serving a transformer)
---------------------------------------------------------------------------
* Weights: ``params × bytes per parameter`` (fp32 4, fp16 / bf16 2, fp8 / int8 1, int4 0.5).
  Llama 3.1 70B at fp16: 70e9 × 2 B = 140e9 B = 130.4 GiB.
* KV cache: ``2 (K and V) × layers × kv_heads × head_dim × kv_bytes`` per token, times the
  context length and the number of sequences served at once (batch slots). Llama 3.1 8B
  (32 layers, 8 KV heads, head dim 128, fp16): 131,072 B = 128 KiB per token.
* Overhead: activations and allocator fragmentation. ``overhead`` (default 0.2) is a
  fraction added to weights + KV cache; ``overhead_gib`` adds a fixed amount on top.
* All sizes are GiB (2^30 bytes).

Honest fit (``gpus_that_fit``)
------------------------------
* Usable memory per GPU = the vendor's figure in GB (10^9 bytes, ``gpu_models.csv``
  ``memory_gb``) in GiB, less a reserve for the driver and the CUDA context (``reserve_gib``,
  default :data:`RESERVE_GIB` = 0.5 GiB per GPU, an estimate: set it to what ``nvidia-smi``
  shows a process holding before it allocates anything). A T4 "16 GB": 16e9 / 2^30 = 14.90
  GiB, 14.40 usable.
* A configuration fits when its GPUs' usable memory holds the need plus ``headroom``
  (default :data:`HEADROOM` = 10 % of the need; vLLM, likewise, leaves 10 % of a GPU's memory
  alone by default, ``gpu_memory_utilization=0.9``): ``GPUs × usable ≥ need × (1 + headroom)``.
* Tensor-parallel sizes are 1, 2, 4 and 8 GPUs of one node, and only those that divide the
  model's attention heads and its KV heads, or, beyond the KV heads, are a multiple of them:
  each KV head is then held by ``tp / kv_heads`` GPUs, which multiplies the KV cache.
* The smallest size that fits is taken; every size tried says why it fits or not
  (:attr:`Fit.reasons`). A model needing 63.5 GiB gets 8 × T4 (8 × 14.40 = 115.2 GiB ≥ 69.9),
  not 4 (57.6 GiB < 69.9); cheapest first by ``gpus × usd_per_gpu_hour``.

Right-sizing (``rightsizing_hints``)
------------------------------------
Input: one row per GPU resource with ``resource_id``, ``provider``, ``instance_type``,
``gpu_model``, ``gpus_per_instance``, ``gpu_memory_gib`` (per GPU), ``peak_memory_used_gib`` (the
highest of its GPUs), ``busy_ratio`` (time-weighted mean, 0–1), ``gpu_hours``, ``cost`` (of the
period), ``days`` (in the period) and ``coverage`` (share of the GPU-hours telemetry saw, 0–1).

* ``instance_hours = gpu_hours / gpus_per_instance``; ``used_share = instance_hours / (days ×
  24)``; ``current_usd_per_hour = cost / instance_hours`` (what was paid, discounts included).
* ``fewer_gpus``: same GPU model, fewer GPUs. Needed GPUs = max(⌈busy_ratio × gpus⌉,
  ⌈gpus × peak / (headroom × gpu memory)⌉, 1), the second term keeping the memory in use
  (every GPU counted at the peak) within ``headroom`` of the smaller group. 8 GPUs at 20 % busy
  need ⌈1.6⌉ = 2. Candidates: catalog instances of the same provider and GPU model with at
  least the needed GPUs and fewer than now.
* ``smaller_gpu``: a GPU model with less memory per GPU, same GPU count, where the peak fits
  within ``headroom`` (default 0.8) of the smaller GPU's memory.
* Candidates are the catalog's exact rows of the same provider with a list price
  (``on_demand_usd_per_hour``); the cheapest per hint is named.
* ``monthly_saving = (current_usd_per_hour − suggested_usd_per_hour) × 730 × used_share``: the
  hourly difference over a 730-hour month, scaled to how much of the period the resource ran.
  A list price is compared with what was paid, so a discounted current rate understates the
  saving, never inflates it.
* No hint when the saving is not positive, or telemetry coverage is below ``min_coverage``
  (default 0.8), or the resource has no GPU-hours or cost.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

from costlake.gpu.catalog import load_gpu_catalog

__all__ = [
    "GIB",
    "PRECISION_BYTES",
    "Fit",
    "ModelArchitecture",
    "ServingMemory",
    "HEADROOM",
    "RESERVE_GIB",
    "gpus_that_fit",
    "kv_cache_bytes_per_token",
    "kv_cache_gib",
    "load_gpu_models",
    "load_model_architectures",
    "model_architecture",
    "model_memory_gib",
    "rightsizing_hints",
    "serving_memory",
    "serving_memory_for",
    "usable_gib",
]

GIB = 1024**3
PRECISION_BYTES: dict[str, float] = {
    "fp32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}
TENSOR_PARALLEL = (1, 2, 4, 8)  # GPUs of one node a model is split over
RESERVE_GIB = 0.5  # per GPU, for the driver and the CUDA context (an estimate; configurable)
HEADROOM = 0.10  # of the need, kept free on top of it
HOURS_PER_MONTH = 730.0

RIGHTSIZING_INPUT = (
    "resource_id",
    "provider",
    "instance_type",
    "gpu_model",
    "gpus_per_instance",
    "gpu_memory_gib",
    "peak_memory_used_gib",
    "busy_ratio",
    "gpu_hours",
    "cost",
    "days",
    "coverage",
)


# ---------------------------------------------------------------------------------------------
# Memory of a served model
# ---------------------------------------------------------------------------------------------


def _bytes_per_param(precision: str | float) -> float:
    if isinstance(precision, int | float):
        return float(precision)
    try:
        return PRECISION_BYTES[precision.lower()]
    except KeyError:
        known = ", ".join(PRECISION_BYTES)
        raise ValueError(f"unknown precision {precision!r}: use one of {known}") from None


def model_memory_gib(params_billion: float, bytes_per_param: float | str) -> float:
    """GiB of the weights: ``params_billion × 1e9 × bytes_per_param`` (a number or a precision
    name such as ``"fp16"``)."""
    if params_billion < 0:
        raise ValueError("params_billion must not be negative")
    return params_billion * 1e9 * _bytes_per_param(bytes_per_param) / GIB


def kv_cache_bytes_per_token(
    layers: int, kv_heads: int, head_dim: int, kv_bytes: float = 2
) -> float:
    """Bytes of KV cache per token: 2 (K and V) × layers × kv_heads × head_dim × kv_bytes."""
    return 2 * layers * kv_heads * head_dim * kv_bytes


def kv_cache_gib(
    context_tokens: int,
    batch_slots: int,
    layers: int,
    kv_heads: int,
    head_dim: int,
    kv_bytes: float = 2,
) -> float:
    """GiB of KV cache for ``batch_slots`` sequences of ``context_tokens`` each."""
    if context_tokens < 0 or batch_slots < 0:
        raise ValueError("context_tokens and batch_slots must not be negative")
    per_token = kv_cache_bytes_per_token(layers, kv_heads, head_dim, kv_bytes)
    return per_token * context_tokens * batch_slots / GIB


@dataclass(frozen=True)
class ServingMemory:
    """GPU memory to serve a model, in GiB, by part."""

    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.kv_cache_gib + self.overhead_gib


def serving_memory(
    params_billion: float,
    precision: str | float = "fp16",
    context_tokens: int = 0,
    batch_slots: int = 1,
    layers: int = 0,
    kv_heads: int = 0,
    head_dim: int = 0,
    kv_bytes: float = 2,
    overhead: float = 0.2,
    overhead_gib: float = 0.0,
) -> ServingMemory:
    """Weights + KV cache, plus ``overhead`` (a fraction of both) and ``overhead_gib``."""
    if context_tokens and not (layers and kv_heads and head_dim):
        raise ValueError("a KV cache needs layers, kv_heads and head_dim")
    if overhead < 0 or overhead_gib < 0:
        raise ValueError("overhead must not be negative")
    weights = model_memory_gib(params_billion, precision)
    kv = kv_cache_gib(context_tokens, batch_slots, layers, kv_heads, head_dim, kv_bytes)
    return ServingMemory(weights, kv, (weights + kv) * overhead + overhead_gib)


# ---------------------------------------------------------------------------------------------
# Shipped tables: model architectures, GPU models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelArchitecture:
    """What the KV-cache rule needs of a model (``costlake/data/llm_architectures.csv``)."""

    model: str
    params_billion: float
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    hidden_size: int
    source: str


def _read_table(
    text: str, name: str, numeric: dict[str, type], required: Iterable[str]
) -> list[dict[str, object]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    rows = []
    for number, raw in enumerate(reader, start=1):
        row: dict[str, object] = {k: (v or "").strip() for k, v in raw.items() if k}
        for column, kind in numeric.items():
            text_value = str(row.get(column, ""))
            if not text_value:
                row[column] = None
                continue
            try:
                row[column] = kind(text_value)
            except ValueError:
                raise ValueError(
                    f"{name} row {number} (line {reader.line_num}), column {column}: "
                    f"{text_value!r} is not a number"
                ) from None
        if not row.get("source"):
            raise ValueError(f"{name} row {number} (line {reader.line_num}): source is empty")
        rows.append(row)
    return rows


def _shipped(name: str) -> str:
    return resources.files("costlake").joinpath(f"data/{name}").read_text(encoding="utf-8")


def load_model_architectures() -> dict[str, ModelArchitecture]:
    """Well-known models' architectures by name ("Llama 3.1 8B", …)."""
    return dict(_architectures())


@functools.cache
def _architectures() -> dict[str, ModelArchitecture]:
    ints = {"layers": int, "attention_heads": int, "kv_heads": int, "head_dim": int}
    rows = _read_table(
        _shipped("llm_architectures.csv"),
        "llm_architectures.csv",
        {"params_billion": float, **ints, "hidden_size": int},
        ("model", "params_billion", "layers", "kv_heads", "head_dim", "source"),
    )
    fields = ModelArchitecture.__dataclass_fields__
    return {
        str(r["model"]): ModelArchitecture(**{k: v for k, v in r.items() if k in fields})
        for r in rows
    }


def model_architecture(model: str) -> ModelArchitecture:
    """One model of ``load_model_architectures`` (name compared case-insensitively)."""
    table = load_model_architectures()
    for name, arch in table.items():
        if name.lower() == model.strip().lower():
            return arch
    raise KeyError(f"unknown model {model!r}: known are {', '.join(table)}")


def serving_memory_for(
    model: str,
    precision: str | float = "fp16",
    context_tokens: int = 0,
    batch_slots: int = 1,
    kv_bytes: float = 2,
    overhead: float = 0.2,
    overhead_gib: float = 0.0,
) -> ServingMemory:
    """``serving_memory`` with the architecture of a model from the shipped table."""
    arch = model_architecture(model)
    return serving_memory(
        arch.params_billion,
        precision,
        context_tokens,
        batch_slots,
        arch.layers,
        arch.kv_heads,
        arch.head_dim,
        kv_bytes,
        overhead,
        overhead_gib,
    )


GPU_MODEL_SCHEMA = {
    "gpu_model": pl.String,
    "memory_gb": pl.Float64,  # the vendor's figure, 10^9 bytes
    "fp16_tflops": pl.Float64,
    "usd_per_gpu_hour": pl.Float64,
    "price_basis": pl.String,
    "source": pl.String,
    "notes": pl.String,
}


def load_gpu_models(path: Path | None = None) -> pl.DataFrame:
    """GPU models for sizing (``costlake/data/gpu_models.csv``, or ``path``): the vendor's
    memory in GB, dense FP16 TFLOPS and an indicative price per GPU-hour with its basis."""
    name = "gpu_models.csv" if path is None else Path(path).name
    text = _shipped("gpu_models.csv") if path is None else Path(path).read_text(encoding="utf-8")
    numbers = {"memory_gb": float, "fp16_tflops": float, "usd_per_gpu_hour": float}
    rows = _read_table(text, name, numbers, ("gpu_model", "memory_gb", "source"))
    for number, row in enumerate(rows, start=1):
        if not row["memory_gb"] or float(row["memory_gb"]) <= 0:  # type: ignore[arg-type]
            raise ValueError(f"{name} row {number}, column memory_gb: must be a positive number")
    data = {c: [r.get(c) or None for r in rows] for c in GPU_MODEL_SCHEMA}
    return pl.DataFrame(data, schema=GPU_MODEL_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Which GPUs hold a model
# ---------------------------------------------------------------------------------------------


def usable_gib(memory_gb: float, reserve_gib: float = RESERVE_GIB) -> float:
    """GiB a model can use on one GPU sold as ``memory_gb`` GB: 10^9 bytes per GB in GiB, less
    the driver / CUDA context reserve."""
    return memory_gb * 1e9 / GIB - reserve_gib


@dataclass(frozen=True)
class Fit:
    """How one GPU model holds a model's memory: the GPUs it takes and why."""

    gpu_model: str
    memory_gb: float  # per GPU, as sold
    usable_gib: float  # per GPU, after the reserve
    gpus: int | None  # None: does not fit on one 8-GPU node
    usd_per_gpu_hour: float | None
    required_gib: float | None  # need plus headroom at the chosen size (None: no size fits)
    reasons: tuple[str, ...]  # one per tensor-parallel size tried

    @property
    def fits(self) -> bool:
        return self.gpus is not None

    @property
    def total_usable_gib(self) -> float | None:
        return None if self.gpus is None else self.gpus * self.usable_gib

    @property
    def usd_per_hour(self) -> float | None:
        if self.gpus is None or self.usd_per_gpu_hour is None:
            return None
        return self.gpus * self.usd_per_gpu_hour

    @property
    def note(self) -> str:
        if self.gpus is None:
            return "does not fit on one 8-GPU node"
        if self.gpus == 1:
            return "fits on 1 GPU"
        return f"tensor parallel over {self.gpus} GPUs"


def _need_at(need: ServingMemory | float, tp: int, kv_heads: int | None) -> float:
    """GiB the model takes over ``tp`` GPUs: KV heads held by several GPUs count once each."""
    if not isinstance(need, ServingMemory):
        return float(need)
    copies = tp / kv_heads if kv_heads and tp > kv_heads else 1.0
    if copies == 1.0:
        return need.total_gib
    scale = need.overhead_gib / (need.weights_gib + need.kv_cache_gib or 1.0)
    kv = need.kv_cache_gib * copies
    return (need.weights_gib + kv) * (1 + scale)


def _fit_one(
    name: str,
    memory_gb: float,
    price: float | None,
    need: ServingMemory | float,
    headroom: float,
    reserve_gib: float,
    attention_heads: int | None,
    kv_heads: int | None,
) -> Fit:
    usable = usable_gib(memory_gb, reserve_gib)
    reasons: list[str] = []
    for tp in TENSOR_PARALLEL:
        if attention_heads and attention_heads % tp:
            reasons.append(f"{tp}: {attention_heads} attention heads do not split {tp} ways")
            continue
        if kv_heads and (kv_heads % tp if tp <= kv_heads else tp % kv_heads):
            reasons.append(f"{tp}: {kv_heads} KV heads do not spread over {tp} GPUs")
            continue
        base = _need_at(need, tp, kv_heads)
        required = base * (1 + headroom)
        have = tp * usable
        cmp = "≥" if have >= required else "<"
        copies = (
            f" with KV heads on {tp // kv_heads} GPUs each"
            if base != _need_at(need, 1, None)
            else ""
        )
        reasons.append(f"{tp} × {usable:,.1f} = {have:,.1f} GiB {cmp} {required:,.1f}{copies}")
        if usable > 0 and have >= required:
            return Fit(name, memory_gb, usable, tp, price, required, tuple(reasons))
    return Fit(name, memory_gb, usable, None, price, None, tuple(reasons))


def gpus_that_fit(
    need: ServingMemory | float,
    gpu_models: pl.DataFrame | Iterable[str] | None = None,
    *,
    headroom: float = HEADROOM,
    reserve_gib: float = RESERVE_GIB,
    attention_heads: int | None = None,
    kv_heads: int | None = None,
) -> list[Fit]:
    """Each GPU model with the fewest GPUs (1, 2, 4 or 8; None when even 8 do not) whose
    usable memory holds ``need`` (GiB, or a :class:`ServingMemory`) plus ``headroom``, on the
    rules in the module doc; cheapest first (by ``gpus × usd_per_gpu_hour``; unpriced after
    priced, the models that do not fit last). ``attention_heads`` and ``kv_heads`` rule out
    tensor-parallel sizes the model cannot be split into. ``gpu_models``: a table like
    ``load_gpu_models()`` (the default) or names of its models."""
    total = need.total_gib if isinstance(need, ServingMemory) else need
    if total < 0:
        raise ValueError("the memory needed must not be negative")
    if headroom < 0 or reserve_gib < 0:
        raise ValueError("headroom and reserve_gib must not be negative")
    table = gpu_models if isinstance(gpu_models, pl.DataFrame) else load_gpu_models()
    if gpu_models is not None and not isinstance(gpu_models, pl.DataFrame):
        wanted = list(gpu_models)
        unknown = sorted(set(wanted) - set(table["gpu_model"].to_list()))
        if unknown:
            raise KeyError(f"unknown GPU model(s): {', '.join(unknown)}")
        table = table.filter(pl.col("gpu_model").is_in(wanted))
    fits = [
        _fit_one(
            row["gpu_model"],
            float(row["memory_gb"]),
            row.get("usd_per_gpu_hour"),
            need,
            headroom,
            reserve_gib,
            attention_heads,
            kv_heads,
        )
        for row in table.iter_rows(named=True)
    ]

    def order(fit: Fit) -> tuple[int, float, str]:
        rank = 0 if fit.usd_per_hour is not None else (1 if fit.fits else 2)
        return rank, fit.usd_per_hour or 0.0, fit.gpu_model

    return sorted(fits, key=order)


# ---------------------------------------------------------------------------------------------
# Right-sizing
# ---------------------------------------------------------------------------------------------


def rightsizing_hints(
    gpu_hours: pl.LazyFrame,
    catalog: pl.DataFrame | None = None,
    *,
    headroom: float = 0.8,
    min_coverage: float = 0.8,
    hours_per_month: float = HOURS_PER_MONTH,
) -> pl.LazyFrame:
    """Hints to run GPU resources on fewer or smaller GPUs (rules in the module docstring).

    One row per resource and hint (``fewer_gpus`` | ``smaller_gpu``) with a positive saving:
    the input's identifying columns, ``hint``, ``suggested_instance_type``,
    ``suggested_gpu_model``, ``suggested_gpus``, ``suggested_usd_per_hour``,
    ``suggested_price_region``, ``current_usd_per_hour``, ``used_share``, ``needed_gpus``,
    ``monthly_saving`` and a readable ``reason``; largest saving first.
    """
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    if not 0 <= min_coverage <= 1:
        raise ValueError("min_coverage must be in [0, 1]")
    missing = [c for c in RIGHTSIZING_INPUT if c not in gpu_hours.collect_schema().names()]
    if missing:
        raise ValueError(f"rightsizing_hints: input lacks column(s) {', '.join(missing)}")

    cat = load_gpu_catalog() if catalog is None else catalog
    candidates = (
        cat.lazy()
        .filter(
            (pl.col("match") == "exact")
            & (pl.col("accelerator_kind") == "gpu")
            & pl.col("on_demand_usd_per_hour").is_not_null()
        )
        .select(
            pl.col("provider"),
            pl.col("instance_pattern").alias("suggested_instance_type"),
            pl.col("gpu_model").alias("suggested_gpu_model"),
            pl.col("gpus_per_instance").alias("suggested_gpus"),
            pl.col("gpu_memory_gib").alias("suggested_gpu_memory_gib"),
            pl.col("on_demand_usd_per_hour").alias("suggested_usd_per_hour"),
            pl.col("price_region").alias("suggested_price_region"),
        )
    )
    f64 = pl.Float64
    gpus = pl.col("gpus_per_instance").cast(f64)
    memory = pl.col("gpu_memory_gib").cast(f64)
    peak = pl.col("peak_memory_used_gib").cast(f64)
    resources_ = (
        gpu_hours.select(RIGHTSIZING_INPUT)
        .with_columns(pl.col("provider").cast(pl.String).str.to_lowercase())
        .filter(
            (pl.col("gpu_hours") > 0)
            & (pl.col("cost") > 0)
            & (pl.col("days") > 0)
            & (gpus > 0)
            & (memory > 0)
            & peak.is_not_null()
            & pl.col("busy_ratio").is_not_null()
            & (pl.col("coverage") >= min_coverage)
        )
        .with_columns(instance_hours=pl.col("gpu_hours").cast(f64) / gpus)
        .with_columns(
            used_share=pl.col("instance_hours") / (pl.col("days").cast(f64) * 24),
            current_usd_per_hour=pl.col("cost").cast(f64) / pl.col("instance_hours"),
            needed_gpus=pl.max_horizontal(
                (pl.col("busy_ratio").cast(f64).clip(0, 1) * gpus - 1e-9).ceil(),
                (gpus * peak / (headroom * memory) - 1e-9).ceil(),
                pl.lit(1.0),
            ),
        )
    )
    pairs = resources_.join(candidates, on="provider", how="inner")
    fewer = pairs.filter(
        (pl.col("suggested_gpu_model") == pl.col("gpu_model"))
        & (pl.col("suggested_gpus") >= pl.col("needed_gpus"))
        & (pl.col("suggested_gpus") < gpus)
    ).with_columns(
        hint=pl.lit("fewer_gpus"),
        reason=pl.format(
            "busy {}% of {} GPUs and peak {} GiB per GPU need {} GPU(s) of {}",
            (pl.col("busy_ratio") * 100).round(1),
            gpus,
            peak.round(1),
            pl.col("needed_gpus").cast(pl.Int64),
            pl.col("gpu_model"),
        ),
    )
    smaller = pairs.filter(
        (pl.col("suggested_gpu_model") != pl.col("gpu_model"))
        & (pl.col("suggested_gpu_memory_gib") < memory)
        & (pl.col("suggested_gpus") == gpus)
        & (peak <= headroom * pl.col("suggested_gpu_memory_gib"))
    ).with_columns(
        hint=pl.lit("smaller_gpu"),
        reason=pl.format(
            "peak {} GiB per GPU fits {}% of a {} ({} GiB)",
            peak.round(1),
            pl.lit(round(headroom * 100)),
            pl.col("suggested_gpu_model"),
            pl.col("suggested_gpu_memory_gib"),
        ),
    )
    hints = (
        pl.concat([fewer, smaller], how="vertical_relaxed")
        .with_columns(
            monthly_saving=(pl.col("current_usd_per_hour") - pl.col("suggested_usd_per_hour"))
            * hours_per_month
            * pl.col("used_share")
        )
        .filter(pl.col("monthly_saving") > 0)
        .sort(["resource_id", "hint", "suggested_usd_per_hour", "suggested_instance_type"])
        .group_by(["resource_id", "hint"], maintain_order=True)
        .first()
    )
    return hints.select(
        "resource_id",
        "provider",
        "instance_type",
        "gpu_model",
        "gpus_per_instance",
        "hint",
        "suggested_instance_type",
        "suggested_gpu_model",
        "suggested_gpus",
        "suggested_usd_per_hour",
        "suggested_price_region",
        "current_usd_per_hour",
        "used_share",
        pl.col("needed_gpus").cast(pl.Int64),
        "monthly_saving",
        "reason",
    ).sort(["monthly_saving", "resource_id", "hint"], descending=[True, False, False])
