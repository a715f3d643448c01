"""The metric registry: name -> metric class, imported only when used."""

from __future__ import annotations

from bench.registry import LazyRegistry

METRICS = LazyRegistry(
    "metric",
    {
        "l1": "metrics.l1:L1",
        "ssim": "metrics.ssim:SSIM",
    },
)
"""Every metric ``bench evaluate`` can compute, by the name used in params.yaml."""
