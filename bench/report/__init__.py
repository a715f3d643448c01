"""The report stage: paper-style tables and figures from the per-image records."""

from bench.report.build import report

__all__ = ["report"]
