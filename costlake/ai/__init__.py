"""AI unit economics: token lines of the bills, request logs, the price catalog, allocation."""
