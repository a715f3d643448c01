"""Pretrained evaluator weights: a table of assets, a verified cache, explicit pulls.

Nothing here downloads on its own: :func:`require` only reads the cache and
says how to fill it; :func:`pull` (``bench weights pull``) fetches. Importing
this package is cheap (no torch, no network libraries).
"""

from bench.core.weights.assets import ASSETS, Asset, InstallLocation, RegistryMember, Url
from bench.core.weights.cache import asset_path, cache_root
from bench.core.weights.manager import (
    VerifyResult,
    checksums,
    get_asset,
    list_assets,
    pull,
    require,
    status,
    verify,
)

__all__ = [
    "ASSETS",
    "Asset",
    "InstallLocation",
    "RegistryMember",
    "Url",
    "VerifyResult",
    "asset_path",
    "cache_root",
    "checksums",
    "get_asset",
    "list_assets",
    "pull",
    "require",
    "status",
    "verify",
]
