"""Lag history, status rules and metrics."""
