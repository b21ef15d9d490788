"""The FinOps maturity scorecard: a level per project and criterion, from what the lake shows."""
