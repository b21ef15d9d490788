"""costlake: cloud bills in a FOCUS Parquet lake, with AI unit costs, GPU idle cost and anomalies.

Pure domain code: polars LazyFrames in and out, no Dagster, no network.
"""

__version__ = "0.1.0"
