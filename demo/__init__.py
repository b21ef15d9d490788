"""The demo's generators (not product code): deterministic bills, request logs and telemetry."""
