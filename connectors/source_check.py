"""Whether each configured export location can be reached and read, and what a run would take.

Used by ``costlake sources check`` before a first run against real accounts: it lists and reads
what the finders read, compares with the lake's ingest records and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.sources import deliveries_at, describe
from costlake.config import Settings
from costlake.focus.ingest import ingested_delivery_id
from costlake.focus.lake import Lake


@dataclass(frozen=True)
class PeriodFinding:
    """One billing period a source delivers, and how it stands against the lake."""

    billing_period: str
    delivery_id: str
    files: int
    bytes: int
    state: str  # "new" (nothing in the lake), "changed" (would replace) or "in lake"


@dataclass
class SourceCheck:
    """The verdict on one configured export location."""

    provider: str
    name: str
    where: str = ""
    error: str | None = None
    periods: list[PeriodFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Reachable and readable."""
        return self.error is None


def source_checks(settings: Settings) -> list[SourceCheck]:
    """Check every configured source of every provider, in configuration order."""
    lake = Lake(settings.lake_root, read_only=True)
    checks = []
    for provider in settings.providers():
        for source in settings.sources(provider):
            check = SourceCheck(provider, source.name)
            try:
                check.where = describe(source)
                found = deliveries_at(provider, source, lake, read_only=True)
            except Exception as exc:  # noqa: BLE001 - any failure is the verdict, shown whole
                check.error = f"{type(exc).__name__}: {exc}"
                checks.append(check)
                continue
            for period, delivery in sorted(found.items()):
                ingested = ingested_delivery_id(lake, provider, period)
                if ingested is None:
                    state = "new"
                elif delivery.delivery_id in ingested.split("+"):
                    state = "in lake"
                else:
                    state = "changed"
                check.periods.append(
                    PeriodFinding(
                        period,
                        delivery.delivery_id,
                        len(delivery.files),
                        sum(f.size or 0 for f in delivery.files),
                        state,
                    )
                )
            checks.append(check)
    return checks
