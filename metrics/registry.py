"""The metric registry: name -> metric class, imported only when used.

Besides the built-ins, installed packages add metrics through the entry-point
group ``fes_bench.metrics``, and any importable ``Metric`` subclass can be named
ad hoc as ``package.module:Class`` (key ``package.module.Class``); see
:mod:`bench.core.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.core.registry import LazyRegistry

if TYPE_CHECKING:
    from metrics.base import Metric

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
    group="fes_bench.metrics",
    base="metrics.base:Metric",
)
"""Every metric ``bench evaluate`` can compute, by the name used in params.yaml."""


def build_metric(name: str, settings: Mapping[str, Any] | None = None) -> Metric:
    """Instantiate metric ``name`` with ``settings`` (its ``metric_settings`` entry).

    The settings were checked against the metric's declaration when the configuration
    was loaded (:func:`bench.config.load.load_config`); a missing weight file raises
    :class:`~bench.core.errors.MissingWeightsError` as the metric's constructor does; a
    plugin whose constructor fails is a :class:`~bench.core.errors.UserError` naming it.
    """
    keywords = dict(settings or {})
    return METRICS.build(name, lambda cls: cls(**keywords))
