"""What a provider delivered for one billing period: the unit costlake ingests and replaces."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from costlake.focus.periods import billing_period as normalized_period


@dataclass(frozen=True)
class DeliveryFile:
    """One data file named by a delivery's manifest, with the size the store reported."""

    path: str
    size: int | None = None


@dataclass(frozen=True)
class Delivery:
    """A complete export of one (provider, billing period), as its newest manifest describes it."""

    provider: str
    source_dataset: str
    billing_period: str  # YYYY-MM
    delivery_id: str
    manifest_path: str
    files: tuple[DeliveryFile, ...]
    created: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The period names the lake partition: one spelling per month (2025-5 is 2025-05).
        # Empty only for a probe that reads a file's rows to find out its period.
        if self.billing_period:
            object.__setattr__(self, "billing_period", normalized_period(self.billing_period))

    def to_json(self) -> str:
        """Serialise for the raw landing record, so a later step reads exactly what was landed."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        """Read back a record written by ``to_json``."""
        data = json.loads(text)
        data["files"] = tuple(DeliveryFile(**f) for f in data["files"])
        return cls(**data)


class DeliveryError(Exception):
    """A delivery cannot be ingested; the message names the file and what was wrong."""
