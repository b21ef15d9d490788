"""Budgets: their settings, the spend of their scopes, month-end forecasts and the marts."""
