"""The metric registry: name -> metric class, imported only when used.

Besides the built-ins, installed packages add metrics through the entry-point
group ``fes_bench.metrics``, and any importable ``Metric`` subclass can be named
ad hoc as ``package.module:Class`` (key ``package.module.Class``); see
:mod:`bench.core.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.core.errors import UserError
from bench.core.keywords import check_keywords
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


def build_metric(name: str, all_settings: Mapping[str, Any] | None) -> Metric:
    """Instantiate metric ``name`` with its entry of ``all_settings`` (params ``metric_settings``).

    A settings entry for an unregistered metric, or a key the metric's constructor
    does not take, is a one-line :class:`UserError`; a missing weight file raises
    :class:`~bench.core.errors.MissingWeightsError` as the metric's constructor does.
    """
    all_settings = all_settings or {}
    if not isinstance(all_settings, Mapping):
        raise UserError(f"params metric_settings: expected a mapping, got {all_settings!r}")
    unknown = sorted(set(all_settings) - set(METRICS.names()))
    if unknown:
        raise UserError(
            f"params metric_settings: unknown metric(s) {unknown}; known: {METRICS.names()}"
        )
    metric_class = METRICS.load(name)
    settings = check_keywords(metric_class, all_settings.get(name), f"metric_settings.{name}")
    return metric_class(**settings)
