"""GPU utilization and idle cost: the GPU catalog, telemetry, sizing and the GPU marts."""
