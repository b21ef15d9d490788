"""Provider units in FOCUS Unit Format ("Hours", "GB-Months", "1000 Tokens").

Known spellings are mapped by table; anything else passes through unchanged, so no unit is
lost, only some stay in the provider's spelling.
"""

from __future__ import annotations

import polars as pl

FOCUS_UNITS = {
    "Hrs": "Hours",
    "hrs": "Hours",
    "Hour": "Hours",
    "GB-Mo": "GB-Months",
    "GB-Month": "GB-Months",
    "Obj-Month": "Object-Months",
    "GB-Hrs": "GB-Hours",
    "vCPU-Hrs": "vCPU-Hours",
    "1K tokens": "1000 Tokens",
    "1M tokens": "1000000 Tokens",
    "tokens": "Tokens",
}


def focus_unit(unit: pl.Expr) -> pl.Expr:
    """``unit`` in FOCUS Unit Format where costlake knows the spelling."""
    spelled = unit.str.replace(r"-Hrs$", "-Hours").str.replace(r"-Mo$", "-Months")
    # A when-chain, not ``replace``: it keeps the streaming engine row by row.
    chain = pl.when(pl.lit(False)).then(spelled)
    for provider_unit, focus in FOCUS_UNITS.items():
        chain = chain.when(unit == provider_unit).then(pl.lit(focus))
    return chain.otherwise(spelled)
