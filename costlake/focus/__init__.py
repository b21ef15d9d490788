"""The FOCUS core: schema, money parsing, reconciliation, the lake writer, ingest."""
