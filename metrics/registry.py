"""The metric registry: name -> metric class, imported only when used."""

from __future__ import annotations

from bench.core.registry import LazyRegistry

METRICS = LazyRegistry(
    "metric",
    {
        "ecs": "metrics.ecs:ECS",
        "ecs_fer": "metrics.ecs_fer:FerECS",
        "fss": "metrics.fss:FSS",
        "qualiclip": "metrics.qualiclip:QualiCLIP",
        "fid": "metrics.fid:FID",
        "l1": "metrics.l1:L1",
        "ssim": "metrics.ssim:SSIM",
    },
)
"""Every metric ``bench evaluate`` can compute, by the name used in params.yaml."""
