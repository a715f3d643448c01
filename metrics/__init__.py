"""Metrics (one row per output image), their registry, shared aggregation, and the weights manager."""
