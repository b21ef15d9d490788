"""Dagster wiring: Definitions, jobs, schedules and resources."""
