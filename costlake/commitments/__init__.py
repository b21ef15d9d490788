"""Commitments: the FOCUS 1.3 Contract Commitment table, its marts and the recommender."""
