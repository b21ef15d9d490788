"""The AWS side of a source: which store to open for a configured export location."""

from __future__ import annotations

from connectors.aws_exports import find_aws_deliveries
from connectors.filestore import FileStore, LocalFileStore
from costlake.config import AwsExportSource
from costlake.deliveries import Delivery


def aws_store(source: AwsExportSource) -> FileStore:
    """The store behind a configured AWS export location."""
    return LocalFileStore(source.root)


def aws_delivery_for(source: AwsExportSource, billing_period: str) -> Delivery | None:
    """The newest delivery of one billing period at one AWS export location, if any."""
    return find_aws_deliveries(aws_store(source), source.prefix).get(billing_period)
