"""One Dagster asset per lake table: the spec of a table, named for it, saying where it lives.

Each asset carries its lake folder as ``costlake/lake_table`` metadata, so the UI's lineage reads
as the lake's and BI readers find the table an asset stands for.
"""

from collections.abc import Sequence

from dagster import AssetSpec, PartitionsDefinition

LAKE_TABLE = "costlake/lake_table"


def table_spec(
    table: str,
    description: str,
    deps: Sequence,
    partitions_def: PartitionsDefinition,
    group_name: str,
) -> AssetSpec:
    """The asset of lake table ``table`` (``marts/ai_unit_costs`` → key ``ai_unit_costs``)."""
    return AssetSpec(
        table.rsplit("/", 1)[-1],
        deps=deps,
        partitions_def=partitions_def,
        group_name=group_name,
        kinds={"polars", "parquet"},
        metadata={LAKE_TABLE: table},
        description=description,
    )
