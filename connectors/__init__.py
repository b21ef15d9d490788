"""Talking to clouds and files: list deliveries, fetch bytes. No Dagster, no transforms."""
