"""What a budget is: an amount of one currency per month, quarter or year, over a scope.

A scope is a set of filters, each on a FOCUS column or a normalized tag, every one of which a
row must match (a filter's values are alternatives). The scope keys are one short list
(``SCOPE_COLUMNS``) plus every tag key of ``costlake.tags.keys.TAG_KEYS``, so a budget can span
the four clouds with the same words the tag marts use.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from costlake.tags.keys import TAG_KEYS

# Scope keys that are FOCUS (or lake) columns, and the column each filters.
SCOPE_COLUMNS = {
    "provider": "x_Provider",
    "billing_account": "BillingAccountId",
    "sub_account": "SubAccountId",
    "service": "ServiceName",
    "service_category": "ServiceCategory",
    "region": "RegionId",
    "charge_category": "ChargeCategory",
}
# Every scope key and its lake column: the FOCUS ones, then one per tag key.
SCOPE_KEYS = {**SCOPE_COLUMNS, **{key: f"x_tag_{key}" for key in TAG_KEYS}}
MEASURES = ("EffectiveCost", "BilledCost")
# A budget's name is part of its alert ids and of its Dagster asset check's name.
BudgetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
Percent = Annotated[float, Field(gt=0, le=1000)]


class Thresholds(BaseModel):
    """Percentages of the amount at which the budget warns: of actual spend to date, and of
    the forecast at the end of the period."""

    model_config = ConfigDict(extra="forbid")

    actual: list[Percent] = Field(default_factory=lambda: [80.0, 100.0])
    forecast: list[Percent] = Field(default_factory=lambda: [100.0])


class Budget(BaseModel):
    """One budget of ``costlake.yaml``'s ``budgets:`` list."""

    model_config = ConfigDict(extra="forbid")

    name: BudgetName
    amount: float = Field(gt=0, description="the budget per period, in ``currency``")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")
    period: Literal["month", "quarter", "year"] = "month"
    scope: dict[str, list[str]] = Field(
        default_factory=dict,
        description="filters on FOCUS columns and tags; every key must match, a key's values "
        "are alternatives; empty: all spend",
    )
    measure: Literal["EffectiveCost", "BilledCost"] = "EffectiveCost"
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("scope", mode="before")
    @classmethod
    def _values_are_lists(cls, value: object) -> object:
        """``team: ml`` is short for ``team: [ml]``."""
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("scope")
    @classmethod
    def _known_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(SCOPE_KEYS))
        if unknown:
            raise ValueError(
                f"unknown scope key(s) {', '.join(unknown)}; expected some of "
                f"{', '.join(SCOPE_KEYS)}"
            )
        empty = sorted(key for key, values in value.items() if not values)
        if empty:
            raise ValueError(f"scope key(s) {', '.join(empty)} list no value")
        return value
