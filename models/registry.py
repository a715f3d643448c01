"""The model registry: table-row name -> generator class, imported only when used.

Besides the built-ins, installed packages add generators through the entry-point
group ``fes_bench.models``, and any importable ``Generator`` subclass can be named
ad hoc as ``package.module:Class`` (key ``package.module.Class``); see
:mod:`bench.core.registry`.
"""

from __future__ import annotations

from bench.core.registry import LazyRegistry

MODELS = LazyRegistry(
    "model",
    {
        "identity": "models.identity:IdentityGenerator",
        "mr": "models.mr:MaskedRegression",
        "reggan": "models.reggan:RegGAN",
        "stargan": "models.stargan:StarGAN",
        "usgan": "models.usgan:USGAN",
        "sargan": "models.sargan:SARGAN",
        "ganimation": "models.ganimation:GANimation",
        "dai2i": "models.dai2i:DAI2I",
    },
    group="fes_bench.models",
    base="models.base:Generator",
)
"""Every model the harness can train, run and score, by the name used in tables and the CLI."""
