"""AI token usage lines of the four clouds' bills, read from the FOCUS lake.

``token_lines`` turns each generative-AI usage row of the lake into one row saying which model,
which direction (input, output, cached input read or written), which tier and how many tokens
(or characters, where the provider bills characters) the row paid for. ``unrecognised_ai_lines``
lists the generative-AI usage rows it could not read that way, each with a reason, so no AI
spend disappears: the two functions partition the AI usage rows (every one is in exactly one).

Pure polars expressions (regex extracts and when-chains, no Python per row), so both plans
stream. Nothing here touches Dagster or the network.

Which rows are AI lines
-----------------------
``ChargeCategory`` "Usage" and a generative-AI service: ``ServiceSubcategory`` "Generative AI"
(what the normalizers set for Bedrock, Azure OpenAI token meters, Vertex AI generative SKUs and
OCI Generative AI), or a product code starting ``AmazonBedrock``, or a service name naming
Bedrock, OpenAI, Generative AI or a model family (Claude, Gemini, Llama, Mistral, Cohere: the
Marketplace and partner-model services), or an Azure meter subcategory naming OpenAI.

Where each cloud's bill says what (columns as the normalizers fill them)
------------------------------------------------------------------------
AWS (``x_UsageType`` = ``line_item_usage_type``)
    First-party models: ``<region>-<Model>-<direction>[-<tier>][-cross-region[-<geo>]]`` with
    direction ``input-tokens``, ``output-tokens``, ``cache-read-input-token-count``,
    ``cache-write-input-token-count`` and tier suffixes ``-batch``, ``-flex``, ``-priority``,
    ``-latency-optimized``, ``-standard`` (newer "mantle" ids like ``qwen.qwen3-32b-mantle``).
    The model is the usage type's own spelling (``NovaLite``, ``Claude3Haiku``).
    Marketplace models (``AmazonBedrockFoundationModels``): ``<region>-MP:<region>_<metric>-Units``
    with metrics ``InputTokenCount``, ``OutputTokenCount``, ``CacheReadInputTokenCount``,
    ``CacheWriteInputTokenCount`` (``_Global``, ``_Batch`` … variants) or the newer snake case
    ``input_tokens_global_standard``; the model is the product name that becomes ``ServiceName``
    ("Claude Sonnet 4.5 (Amazon Bedrock Edition)"), else the line item description.
Azure (``SkuMeter`` / ``x_UsageType`` = ``MeterName``)
    ``<model> [<4-digit version>] [cached|Batch] <Inp|Input|Outp|Output> <glbl|regnl|Data Zone>
    Tokens`` ("gpt 4o 1120 cached Inp glbl Tokens", "gpt-4o-mini-0718-Outp-glbl Tokens",
    "GPT 5 Mini cchd Inpt Glbl 1M Tokens"); the version goes to ``model_version``.
GCP (``SkuMeter`` = ``sku.description`` in ASCII)
    "Gemini 2.5 Pro Text Input (<=200k)", "Gemini 2.5 Pro Thinking Output", "… Batch …",
    "Cached …", "… (>200k)" / "Long Context"; the model is the name before the first modality or
    direction word.
OCI (``SkuMeter`` / ``ChargeDescription`` = ``product/Description``)
    "OCI Generative AI - Meta Llama 3.1 70B - Input Tokens" (per 1,000,000 tokens),
    "OCI Generative AI - Large Cohere" / "… - Transactions" / "… - Characters" (per 10,000
    characters: on-demand chat bills the characters of prompt and response together, so the
    direction is ``input_output``).

Direction
---------
``input``, ``output`` (reasoning / "Thinking" output included), ``cache_read`` (cached input,
cache hits), ``cache_write`` (cache creation), and ``input_output`` for lines that bill prompt
and response together (OCI on-demand characters).

Quantity and unit
-----------------
``quantity`` is ``PricingQuantity`` × the number in ``PricingUnit`` (FOCUS "1000 Tokens"
×1,000, "1000000 Tokens" ×1,000,000, "10000 Characters" ×10,000; also the raw spellings
"1K tokens", "1M tokens", "10,000 Characters"), falling back to ``ConsumedQuantity`` ×
``ConsumedUnit``; ``quantity_unit`` is ``tokens`` or ``characters``. Azure's ``UnitOfMeasure``
"1K" on a token meter is already "1000 Tokens" in the lake (``costlake.providers.azure``).
Units that only count ("Count", "Units") are read as tokens only where the provider defines
them so: GCP's ``count`` on token-priced models. Gemini 1.0 / 1.5, PaLM and other
character-priced models with a ``count`` unit are not guessed, nor is a Bedrock Marketplace line
priced in bare "Units" (how many tokens one unit is, is unverified on a real CUR): both are
listed as unrecognised.
OCI "Transactions" are characters. Any other unit (hours, images, requests) is not a token line.

Tier: one value per row
-----------------------
The first that applies, in this order (how a call was processed beats where it was routed):

=================  =====================================================================
tier               signal (case-insensitive words of the usage type / meter / SKU)
=================  =====================================================================
provisioned        "provisioned", "PTU", "Dedicated AI Cluster", "GSU": time-billed capacity,
                   never a token line (listed by ``unrecognised_ai_lines``)
batch              "batch"
flex               "flex"
priority           "priority"
latency_optimized  "latency optimized" (Bedrock)
long_context       "long context", "LongCo", "> 200k" style thresholds (GCP "(>200k)")
global             "global", "glbl", "Gl"; Bedrock ``-cross-region-global``, ``_Global``
data_zone          "Data Zone", "DZone", "DZ"; Bedrock geographic ``-cross-region[-eu|-us…]``
regional           "regional", "regnl"
standard           none of the above
=================  =====================================================================

So "gpt 4o 0806 Batch Inp Data Zone Tokens" is ``batch`` and a cached global meter is ``global``
(caching is a direction, not a tier).

Model names
-----------
``model_billed`` keeps the provider's spelling; ``model`` is lower case and hyphenated, meant to
match LLM catalog ids (genai-prices, LiteLLM): vendor prefixes dropped (``cohere.command-r-plus``
→ ``command-r-plus``), PascalCase split (``NovaLite`` → ``nova-lite``, ``Claude3Haiku`` →
``claude-3-haiku``), Claude 4+ as ``claude-<family>-<version>`` (``claude-sonnet-4-5``), Gemini
and GPT keep their dots (``gemini-2.5-pro``, ``gpt-4.1-mini``), Azure's version codes split off
(``gpt 4o 0513`` → ``gpt-4o`` + ``0513``). The few spellings no rule can turn into an id are in
``MODEL_ALIASES``, the one mapping table (OCI's "Large Cohere" / "Small Cohere" size classes
are mapped to Command R+ / Command R, the models OCI lists in them: *unverified* against an
OCI price list).
"""

from __future__ import annotations

import re

import polars as pl

from costlake.tags.keys import TAG_KEYS

__all__ = [
    "DIRECTIONS",
    "MODEL_ALIASES",
    "TIERS",
    "TOKEN_LINE_COLUMNS",
    "UNRECOGNISED_COLUMNS",
    "ai_usage_lines",
    "is_provisioned_capacity",
    "normalize_model",
    "token_lines",
    "unrecognised_ai_lines",
]

DIRECTIONS = ("input", "output", "cache_read", "cache_write", "input_output")
TIERS = (
    "standard",
    "batch",
    "flex",
    "priority",
    "latency_optimized",
    "long_context",
    "global",
    "data_zone",
    "regional",
    "provisioned",
)

# Normalized spelling → catalog id, where no general rule gets there. Keep it small: every
# entry is a name a rule cannot derive.
MODEL_ALIASES = {
    "gpt-35-turbo": "gpt-3.5-turbo",  # Azure drops the dot
    "gpt-35-turbo-16k": "gpt-3.5-turbo-16k",
    "gpt-35-turbo-instruct": "gpt-3.5-turbo-instruct",
    # OCI sells Cohere's chat models by size class; these are the models of each class.
    "large-cohere": "command-r-plus",
    "small-cohere": "command-r",
}
# Brand names written in PascalCase, kept whole when a PascalCase model name is split.
_COMPOUND_WORDS = {"DeepSeek": "Deepseek", "OpenAI": "Openai", "MiniMax": "Minimax"}

TAG_COLUMNS = [f"x_tag_{key}" for key in TAG_KEYS]
TOKEN_LINE_COLUMNS = [
    "x_Provider",
    "BillingAccountId",
    "SubAccountId",
    "BillingCurrency",
    "ChargePeriodStart",
    "day",
    "ServiceName",
    "ResourceId",
    "model_billed",
    "model",
    "model_version",
    "direction",
    "tier",
    "quantity",
    "quantity_unit",
    "BilledCost",
    "EffectiveCost",
    *TAG_COLUMNS,
    "x_SourceFile",
    "x_SourceRow",
]
UNRECOGNISED_COLUMNS = [
    "x_Provider",
    "BillingAccountId",
    "SubAccountId",
    "BillingCurrency",
    "ChargePeriodStart",
    "day",
    "ServiceName",
    "x_ProductCode",
    "x_UsageType",
    "SkuMeter",
    "ChargeDescription",
    "PricingUnit",
    "PricingQuantity",
    "model_billed",
    "model",
    "direction",
    "tier",
    "BilledCost",
    "EffectiveCost",
    "x_SourceFile",
    "x_SourceRow",
    "reason",
]
# Every column read from the FOCUS rows; any the frame lacks is read as null.
_INPUT_COLUMNS = {
    "x_Provider": pl.String,
    "BillingAccountId": pl.String,
    "SubAccountId": pl.String,
    "BillingCurrency": pl.String,
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "ChargeCategory": pl.String,
    "ChargeDescription": pl.String,
    "ServiceName": pl.String,
    "ServiceSubcategory": pl.String,
    "ResourceId": pl.String,
    "x_ProductCode": pl.String,
    "x_UsageType": pl.String,
    "x_Operation": pl.String,
    "SkuMeter": pl.String,
    "PricingQuantity": pl.Float64,
    "PricingUnit": pl.String,
    "ConsumedQuantity": pl.Float64,
    "ConsumedUnit": pl.String,
    "BilledCost": pl.Float64,
    "EffectiveCost": pl.Float64,
    "x_SourceFile": pl.String,
    "x_SourceRow": pl.Int64,
    **dict.fromkeys(TAG_COLUMNS, pl.String),
}

# -- which rows are generative-AI usage ---------------------------------------------------

_AI_SERVICE_NAME = r"(?i)\bbedrock\b|openai|generative ai|\b(claude|gemini|llama|mistral|cohere)\b"


def _is_ai_usage() -> pl.Expr:
    ai_service = (
        (pl.col("ServiceSubcategory") == "Generative AI")
        | pl.col("x_ProductCode").str.starts_with("AmazonBedrock")
        | pl.col("ServiceName").str.contains(_AI_SERVICE_NAME)
        | ((pl.col("x_Provider") == "azure") & pl.col("x_Operation").str.contains(r"(?i)openai"))
    )
    return (pl.col("ChargeCategory") == "Usage") & ai_service.fill_null(False)


# -- words in the bill --------------------------------------------------------------------


def _words(text: pl.Expr) -> pl.Expr:
    """Text with separators (``_ - : ( ) /``) as spaces and CamelCase split, so ``\\b`` finds
    the words of "InputTokenCount_Global" or "-cross-region-eu"."""
    spaced = text.str.replace_all(r"([a-z])([A-Z])", "${1} ${2}")
    return spaced.str.replace_all(r"[_\-:()/,]+", " ")


def _any(text: pl.Expr, pattern: str) -> pl.Expr:
    return text.str.contains(f"(?i){pattern}").fill_null(False)


_PROVISIONED = (
    r"\bprovisioned|\bptu\b|\bdedicated\s+ai\s+cluster\b|\bgsu\b|generative\s+scale\s+unit"
)
# (tier, pattern) in precedence order, provisioned first (see the module doc).
_TIER_RULES = (
    ("batch", r"\bbatch\b"),
    ("flex", r"\bflex\b"),
    ("priority", r"\bpriority\b"),
    ("latency_optimized", r"\blatency\s+optimi[sz]ed\b"),
    ("long_context", r"\blong\s*(?:co|context|ctx|input)\b|\blongco\b|>\s*=?\s*\d+\s*k\b"),
    ("global", r"\b(?:global|glbl|gl)\b"),
    ("data_zone", r"\bdata\s*zone\b|\bdzone\b|\bdz\b|\bcross\s+region\b"),
    ("regional", r"\b(?:regional|regnl|rgnl)\b"),
)


def _tier(signals: pl.Expr, provisioned: pl.Expr) -> pl.Expr:
    chain = pl.when(provisioned).then(pl.lit("provisioned"))
    for tier, pattern in _TIER_RULES:
        chain = chain.when(_any(signals, pattern)).then(pl.lit(tier))
    return chain.otherwise(pl.lit("standard"))


# -- AWS ----------------------------------------------------------------------------------

_AWS_REGION = r"(?:[A-Z]{2,4}[0-9]|EU)"
_AWS_FIRST_PARTY = (
    rf"^{_AWS_REGION}-(.+?)-(input-tokens?|output-tokens?|cache-read-input-tokens?(?:-count)?"
    r"|cache-write-input-tokens?(?:-count)?)(-.*)?$"
)
_AWS_MARKETPLACE = rf"^{_AWS_REGION}-MP:[A-Z0-9]+_(.+)-Units$"


# A tier written before the direction ("Claude3Haiku-batch-input-tokens") is not model name.
_AWS_TIER_BEFORE = r"-((?:batch|flex|priority|latency-optimized|global|cross-region(?:-[a-z]+)?))$"


def _aws(first: pl.Expr, metric: pl.Expr, usage_type: pl.Expr) -> dict[str, pl.Expr]:
    """AWS fields from ``first`` (the groups of ``_AWS_FIRST_PARTY``: model, direction, tail)
    and ``metric`` (the Marketplace metric), both already extracted."""
    first_model = first.struct.field("1").str.replace(r"-mantle$", "")
    tier_before = first_model.str.extract(_AWS_TIER_BEFORE, 1).fill_null("")
    first_direction = first.struct.field("2")
    first_tail = pl.concat_str([tier_before, first.struct.field("3").fill_null("")], separator=" ")
    marketplace = metric.is_not_null()
    words = _words(metric)
    mp_direction = (
        pl.when(~_any(metric, "token"))
        .then(None)
        .when(_any(metric, r"cache_?read"))
        .then(pl.lit("cache_read"))
        .when(_any(metric, r"cache_?(?:write|creation)"))
        .then(pl.lit("cache_write"))
        .when(_any(words, r"\binput\b"))
        .then(pl.lit("input"))
        .when(_any(words, r"\boutput\b"))
        .then(pl.lit("output"))
    )
    direction = (
        pl.when(marketplace)
        .then(mp_direction)
        .when(first_direction.str.starts_with("input"))
        .then(pl.lit("input"))
        .when(first_direction.str.starts_with("output"))
        .then(pl.lit("output"))
        .when(first_direction.str.starts_with("cache-read"))
        .then(pl.lit("cache_read"))
        .when(first_direction.str.starts_with("cache-write"))
        .then(pl.lit("cache_write"))
    )
    # Marketplace models are named by the product ("… (Amazon Bedrock Edition)").
    edition = r"^(.+?)\s*\(Amazon Bedrock Edition\)\s*$"
    mp_model = pl.coalesce(
        pl.col("ServiceName").str.extract(edition, 1),
        pl.col("ChargeDescription").str.extract(
            r"(?i)\bfor\s+(.+?)\s*\(Amazon Bedrock Edition\)", 1
        ),
    )
    signals = (
        pl.when(marketplace)
        .then(words)
        .when(first_direction.is_not_null())
        .then(_words(first_tail))
        .otherwise(_words(usage_type))
    )
    return {
        "model_billed": pl.when(marketplace)
        .then(mp_model)
        .otherwise(first_model.str.replace(_AWS_TIER_BEFORE, "")),
        "model_version": pl.lit(None, dtype=pl.String),
        "direction": direction,
        "signals": signals,
    }


# -- Azure --------------------------------------------------------------------------------

_AZURE_WORDS = (
    r"cached|cchd|cd|cache|batch|inp|input|inpt|in|outp|output|outpt|opt|out|glbl|global|gl"
    r"|regnl|regional|rgnl|dz|dzone|data|long|longco|shortco|short|lng|flex|priority|std"
    r"|tokens?|1m|1k|provisioned|ptu"
)
_AZURE_MODEL = rf"(?i)^(.*?)(?:(?:^|[\s-]+)(?:{_AZURE_WORDS})\b.*)?$"
_AZURE_VERSION = r"^(.*?)[\s-]+(\d{8}|\d{4})$"


def _azure(billed: pl.Expr, words: pl.Expr) -> dict[str, pl.Expr]:
    """Azure fields from ``billed`` (the meter's model part, ``_AZURE_MODEL``, extracted)."""
    parts = billed.str.extract_groups(_AZURE_VERSION)
    version = parts.struct.field("2")
    direction = (
        pl.when(~_any(words, r"\btokens?\b"))
        .then(None)
        .when(_any(words, r"\b(?:cached|cchd|cd|cache)\s+(?:wr|write|writes)\b"))
        .then(pl.lit("cache_write"))
        .when(_any(words, r"\b(?:cached|cchd|cd)\b"))
        .then(pl.lit("cache_read"))
        .when(_any(words, r"\b(?:inp|input|inpt|in)\b"))
        .then(pl.lit("input"))
        .when(_any(words, r"\b(?:outp|output|outpt|opt|out)\b"))
        .then(pl.lit("output"))
    )
    return {
        "model_billed": billed,
        "model_name": pl.coalesce(parts.struct.field("1"), billed),
        "model_version": version,
        "direction": direction,
        "signals": words,
    }


# -- GCP ----------------------------------------------------------------------------------

_GCP_FAMILIES = r"gemini|gemma|claude|llama|mistral|codestral|jamba|palm|text-bison|chat-bison"
_GCP_WORDS = (
    r"text|input|output|thinking|reasoning|cached|caching|cache|batch|long|short|characters?"
    r"|tokens?|image|images|audio|video|predictions?|context|grounding|tuning|tuned|training"
    r"|storage|online|requests?|search|live|native|for|in|on"
)
_GCP_MODEL = (
    rf"(?i)\b((?:{_GCP_FAMILIES})\b.*?)(?:[\s-]+(?:{_GCP_WORDS})\b.*|\s*[(<>].*|\s+-\s.*)?$"
)
# Models Vertex AI priced per 1,000 characters: a bare "count" unit on them is not read.
_CHARACTER_ERA = (
    r"^(?:gemini-1\.0|gemini-1\.5|gemini-pro$|gemini-pro-vision|gemini-ultra)|bison|gecko|palm"
)


def _gcp(description: pl.Expr, words: pl.Expr) -> dict[str, pl.Expr]:
    direction = (
        pl.when(_any(words, r"\bstorage\b"))
        .then(None)
        .when(_any(words, r"\bcach(?:ed|e|ing)\b") & _any(words, r"\binput\b"))
        .then(pl.lit("cache_read"))
        .when(_any(words, r"\boutput\b"))
        .then(pl.lit("output"))
        .when(_any(words, r"\binput\b"))
        .then(pl.lit("input"))
    )
    return {
        "model_billed": description.str.extract(_GCP_MODEL, 1).str.strip_chars(" -"),
        "model_version": pl.lit(None, dtype=pl.String),
        "direction": direction,
        # "(>200k)" keeps its ">" so the long-context threshold is found.
        "signals": description.str.replace_all(r"[_\-:()/,]+", " "),
    }


# -- OCI ----------------------------------------------------------------------------------

_OCI_PREFIX = (
    r"(?i)^\s*(?:oracle\s+cloud\s+infrastructure|oci)\s+generative\s+ai(?:\s+agents?)?\s*-\s*"
)
_OCI_MODEL = (
    r"(?i)^(.+?)(?:(?:\s+-\s+|\s+)(?:input|output|tokens?|characters?|transactions?|unit|hours?)"
    r"\b.*|\s+-\s+.*)?$"
)


def _oci(description: pl.Expr, words: pl.Expr, characters: pl.Expr) -> dict[str, pl.Expr]:
    rest = description.str.replace(_OCI_PREFIX, "")
    direction = (
        pl.when(_any(words, r"\binput\b"))
        .then(pl.lit("input"))
        .when(_any(words, r"\boutput\b"))
        .then(pl.lit("output"))
        # On-demand chat bills the characters of prompt and response together.
        .when(characters | _any(words, r"\b(?:characters?|transactions?)\b"))
        .then(pl.lit("input_output"))
    )
    return {
        # A dedicated AI cluster is capacity, not a model.
        "model_billed": pl.when(~_any(words, _PROVISIONED)).then(
            rest.str.extract(_OCI_MODEL, 1).str.strip_chars(" -")
        ),
        "model_version": pl.lit(None, dtype=pl.String),
        "direction": direction,
        "signals": words,
    }


# -- model names --------------------------------------------------------------------------

_VENDOR_DOT = (
    r"(?i)^(?:amazon|anthropic|meta|cohere|mistral|ai21|openai|qwen|deepseek|google|xai"
    r"|minimax|moonshot(?:ai)?|nvidia|zai|writer)\."
)


def normalize_model(name: pl.Expr) -> pl.Expr:
    """A billed model spelling as a lower-case hyphenated catalog-style id (see the module doc);
    null when it names no model (no letter first).

    One chain of regex rewrites, each reading the previous one once, so the expression stays
    linear in size.
    """
    text = name.str.strip_chars().str.replace(_VENDOR_DOT, "")
    text = text.str.replace(r"\s*\([^)]*Edition\)\s*$", "")
    text = text.str.replace_many(list(_COMPOUND_WORDS), list(_COMPOUND_WORDS.values()))
    # PascalCase into words: "NovaLite", "Claude3.5Sonnet", "Llama4-Maverick-17B". Only a
    # capitalised word is split from its number, so "qwen3" and "gpt 4o" stay as they are.
    text = (
        text.str.replace_all(r"([a-z])([A-Z])", "${1} ${2}")
        .str.replace_all(r"([A-Z][a-z]+)(\d)", "${1} ${2}")
        .str.replace_all(r"(\d)([A-Z][a-z])", "${1} ${2}")
    )
    text = (
        text.str.to_lowercase()
        .str.replace_all(r"[\s_]+", "-")
        .str.replace_all(r"-{2,}", "-")
        .str.strip_chars("-")
    )
    # Vendor words in front of a model ("Meta Llama 3.1 70B", "Cohere Command R").
    text = text.str.replace(r"^(?:meta|xai|google|openai|anthropic|amazon)-", "")
    text = text.str.replace(r"^cohere-(command|embed|rerank)", "${1}")
    # Claude: versions hyphenated, Claude 4 and later named family first, "x.0" → "x".
    text = text.str.replace(r"^(claude-(?:[a-z]+-)?\d+)\.(\d)", "${1}-${2}")
    text = text.str.replace(r"^claude-([4-9](?:-\d)?)-(opus|sonnet|haiku)", "claude-${2}-${1}")
    text = text.str.replace(r"^(claude-(?:[a-z]+-)?\d)-0$", "${1}")
    # Nova 2.0 Lite → nova-2-lite (Bedrock's own id); Llama3-1-70B → llama-3.1-70b.
    text = text.str.replace(r"^nova-(\d)\.0-", "nova-${1}-")
    text = text.str.replace(r"^llama(\d)", "llama-${1}")
    text = text.str.replace(r"^llama-(\d)-(\d)-(\d+b)", "llama-${1}.${2}-${3}")
    for spelling, model in MODEL_ALIASES.items():
        text = text.str.replace(f"^{re.escape(spelling)}$", model)
    return pl.when(text.str.contains(r"^[a-z][a-z0-9.\-]*$")).then(text)


# -- units --------------------------------------------------------------------------------

_UNIT = r"^(\d+(?:\.\d+)?)?\s*([km])?\s*(tokens?|characters?|chars?|transactions?|count|units?)?$"


def _unit_text(unit: pl.Expr) -> pl.Expr:
    """A unit in lower case, thousands separators and number words removed."""
    return (
        unit.str.strip_chars()
        .str.to_lowercase()
        .str.replace_all(",", "", literal=True)
        .str.replace(r"^million\s+", "1000000 ")
        .str.replace(r"^thousand\s+", "1000 ")
    )


def _unit_parts(text: pl.Expr) -> pl.Expr:
    """The groups of ``_UNIT`` (number, k/m, noun) of a ``_unit_text``; all null when the
    text is not such a unit."""
    return pl.when(text != "").then(text.str.extract_groups(_UNIT))


def _unit(parts: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(scale, kind) from ``_unit_parts``: kind tokens | characters | transactions | count."""
    number, suffix, noun = (parts.struct.field(g) for g in ("1", "2", "3"))
    matched = number.is_not_null() | suffix.is_not_null() | noun.is_not_null()
    factor = pl.when(suffix == "k").then(1_000.0).when(suffix == "m").then(1_000_000.0)
    scale = number.cast(pl.Float64).fill_null(1.0) * factor.otherwise(1.0)
    kind = (
        pl.when(~matched.fill_null(False))
        .then(None)
        .when(noun.str.starts_with("token"))
        .then(pl.lit("tokens"))
        .when(noun.str.starts_with("char"))
        .then(pl.lit("characters"))
        .when(noun.str.starts_with("transaction"))
        .then(pl.lit("transactions"))
        .otherwise(pl.lit("count"))
    )
    return scale, kind


def _counted(kind: pl.Expr, provider: pl.Expr, character_era: pl.Expr) -> pl.Expr:
    """What a unit kind counts on this row: tokens, characters, or null (not read)."""
    return (
        pl.when(kind.is_in(["tokens", "characters"]))
        .then(kind)
        .when((kind == "transactions") & (provider == "oci"))
        .then(pl.lit("characters"))
        .when((kind == "count") & (provider == "gcp") & ~character_era)
        .then(pl.lit("tokens"))
    )


# -- classification -----------------------------------------------------------------------


def _with_inputs(focus: pl.LazyFrame) -> pl.LazyFrame:
    present = set(focus.collect_schema().names())
    return focus.with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in _INPUT_COLUMNS.items()
            if name not in present
        ]
    )


def ai_usage_lines(focus: pl.LazyFrame) -> pl.LazyFrame:
    """The generative-AI usage rows of FOCUS rows (the rows the two listings partition)."""
    return _with_inputs(focus).filter(_is_ai_usage())


def _classified(focus: pl.LazyFrame) -> pl.LazyFrame:
    """AI usage rows with model, direction, tier, quantity and ``reason`` (null: a token line).

    Built in steps whose intermediate ``__`` columns are read by name, so each regex runs once
    per row and no expression is copied into another; every step is elementwise, so the plan
    streams.
    """
    provider = pl.col("__provider")
    usage_type, sku_meter = pl.col("x_UsageType"), pl.col("SkuMeter")
    meter, words = pl.col("__meter"), pl.col("__words")
    frame = (
        focus.with_columns(__provider=pl.col("x_Provider").str.to_lowercase())
        .with_columns(
            __meter=pl.when(provider == "aws")
            .then(pl.coalesce(usage_type, sku_meter))
            .when(provider == "azure")
            .then(pl.coalesce(sku_meter, usage_type))
            .otherwise(pl.coalesce(sku_meter, pl.col("ChargeDescription"), usage_type)),
            __pricing_parts=_unit_parts(_unit_text(pl.col("PricingUnit"))),
            __consumed_parts=_unit_parts(_unit_text(pl.col("ConsumedUnit"))),
            __aws_first=usage_type.str.extract_groups(_AWS_FIRST_PARTY),
            __aws_metric=usage_type.str.extract(_AWS_MARKETPLACE, 1),
        )
        .with_columns(
            __words=_words(meter),
            __azure_billed=meter.str.extract(_AZURE_MODEL, 1).str.strip_chars(" -"),
        )
    )
    pricing_scale, pricing_kind = _unit(pl.col("__pricing_parts"))
    consumed_scale, consumed_kind = _unit(pl.col("__consumed_parts"))
    frame = frame.with_columns(
        __pricing_scale=pricing_scale,
        __pricing_kind=pricing_kind,
        __consumed_scale=consumed_scale,
        __consumed_kind=consumed_kind,
    )
    characters_unit = pl.col("__pricing_kind").is_in(["characters", "transactions"])
    parts = {
        "aws": _aws(pl.col("__aws_first"), pl.col("__aws_metric"), usage_type),
        "azure": _azure(pl.col("__azure_billed"), words),
        "gcp": _gcp(meter, words),
        "oci": _oci(meter, words, characters_unit.fill_null(False)),
    }

    def pick(field: str) -> pl.Expr:
        chain = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
        for name, fields in parts.items():
            chain = chain.when(provider == name).then(fields[field])
        return chain.otherwise(pl.lit(None, dtype=pl.String))

    frame = frame.with_columns(
        model_billed=pick("model_billed"),
        model_version=pick("model_version"),
        direction=pick("direction"),
        __signals=pick("signals"),
        __provisioned=_any(words, _PROVISIONED),
        __azure_name=parts["azure"]["model_name"],
    ).with_columns(
        __naming=pl.when(provider == "azure")
        .then(pl.col("__azure_name"))
        .otherwise(pl.col("model_billed")),
        tier=_tier(pl.col("__signals"), pl.col("__provisioned")),
    )
    frame = frame.with_columns(model=normalize_model(pl.col("__naming")))
    frame = frame.with_columns(
        __character_era=pl.col("model").str.contains(_CHARACTER_ERA).fill_null(False)
    )
    character_era = pl.col("__character_era")
    frame = frame.with_columns(
        __from_pricing=_counted(pl.col("__pricing_kind"), provider, character_era),
        __from_consumed=_counted(pl.col("__consumed_kind"), provider, character_era),
    )
    from_pricing, from_consumed = pl.col("__from_pricing"), pl.col("__from_consumed")
    use_pricing = from_pricing.is_not_null() & pl.col("PricingQuantity").is_not_null()
    quantity = (
        pl.when(use_pricing)
        .then(pl.col("PricingQuantity") * pl.col("__pricing_scale"))
        .when(from_consumed.is_not_null())
        .then(pl.col("ConsumedQuantity") * pl.col("__consumed_scale"))
    )
    frame = frame.with_columns(
        quantity=quantity.cast(pl.Float64),
        quantity_unit=pl.when(use_pricing).then(from_pricing).otherwise(from_consumed),
        day=pl.col("ChargePeriodStart").dt.convert_time_zone("UTC").dt.date(),
    )
    unit = pl.coalesce(pl.col("PricingUnit"), pl.col("ConsumedUnit"), pl.lit("(none)"))
    quoted_meter = pl.coalesce(meter, pl.lit("(no meter)"))
    no_unit = pl.col("quantity_unit").is_null()
    reason = (
        pl.when(pl.col("tier") == "provisioned")
        .then(pl.format("provisioned or dedicated capacity billed in {}, not tokens", unit))
        .when(pl.col("model").is_null() & pl.col("direction").is_null())
        .then(pl.format("not a token usage type or meter: '{}'", quoted_meter))
        .when(pl.col("model").is_null())
        .then(pl.format("no model name recognised in '{}'", quoted_meter))
        .when(pl.col("direction").is_null())
        .then(pl.format("no token direction (input, output, cache) in '{}'", quoted_meter))
        .when(no_unit & character_era & (provider == "gcp"))
        .then(
            pl.format(
                "unit '{}' on {}, a model priced per character: tokens or characters not assumed",
                unit,
                pl.col("model"),
            )
        )
        .when(no_unit)
        .then(pl.format("unit '{}' is not a token or character unit", unit))
        .when(pl.col("quantity").is_null())
        .then(pl.lit("no quantity"))
    )
    return frame.with_columns(reason=reason)


def token_lines(focus: pl.LazyFrame) -> pl.LazyFrame:
    """One row per AI token usage line of ``focus`` (FOCUS rows): who, when, which model,
    direction and tier, how many tokens or characters, what it cost, its tags and lineage.

    See the module doc for the columns and the rules. AI usage lines that cannot be read this
    way are in ``unrecognised_ai_lines`` instead, never dropped.
    """
    return (
        _classified(ai_usage_lines(focus))
        .filter(pl.col("reason").is_null())
        .select(TOKEN_LINE_COLUMNS)
    )


def unrecognised_ai_lines(focus: pl.LazyFrame) -> pl.LazyFrame:
    """The AI usage lines of ``focus`` that ``token_lines`` could not read (no model, no
    direction, a unit that does not count tokens or characters, provisioned capacity), with
    the columns that find them in the bill and a ``reason``."""
    return (
        _classified(ai_usage_lines(focus))
        .filter(pl.col("reason").is_not_null())
        .select(UNRECOGNISED_COLUMNS)
    )


def is_provisioned_capacity() -> pl.Expr:
    """Whether a FOCUS row is generative-AI capacity billed by time (Azure OpenAI PTU, Bedrock
    provisioned-throughput model units, Vertex AI GSUs, OCI dedicated AI clusters): the lines
    ``unrecognised_ai_lines`` lists as provisioned, as one expression over the FOCUS columns,
    for the Contract Commitment table (``costlake.commitments``)."""
    ai_usage = _is_ai_usage()
    # The meter text of AI usage rows only, null elsewhere: the regexes below then cost
    # nothing on the other rows (nearly all of a bill's), where every row was rewritten before.
    meter = pl.concat_str(
        [
            pl.when(ai_usage).then(pl.col(name))
            for name in ("x_UsageType", "SkuMeter", "ChargeDescription")
        ],
        separator=" ",
        ignore_nulls=True,
    )
    return ai_usage & _any(_words(meter), _PROVISIONED)
