"""Dagster assets and asset checks: thin wrappers over connectors/ and costlake/."""
