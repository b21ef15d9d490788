"""Where exports are stored: local folders, S3, Azure Blob, OCI Object Storage, BigQuery."""
