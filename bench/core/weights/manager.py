"""The weights manager's API: ``require`` (never downloads), ``pull``, ``verify``, ``status``.

Pretrained evaluator files reach the benchmark only through here: ``pull``
fetches an asset from its sources into the cache after checking its sha256;
everything else reads the cache and fails with a message saying how to fill it.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.core import atomic
from bench.core.errors import MissingWeightsError, UserError
from bench.core.weights import assets, cache, fetch
from bench.core.weights.assets import Asset

Status = Literal["ok", "missing", "corrupt"]
ShaOrigin = Literal["table", "recorded locally", "unrecorded"]
_FILE_MODE = 0o644  # cached files are readable by every user of a shared cache


@dataclass(frozen=True)
class VerifyResult:
    """The state of one asset's cached file.

    ``expected_sha256`` comes from the table or, for assets without one, from
    the local record (``sha_origin`` says which; ``"unrecorded"``: none yet).
    ``actual_sha256`` is ``None`` when the file is missing.
    """

    asset: Asset
    path: Path
    status: Status
    expected_sha256: str | None
    actual_sha256: str | None
    sha_origin: ShaOrigin

    @property
    def name(self) -> str:
        """The asset's name."""
        return self.asset.name


def list_assets() -> list[Asset]:
    """Every asset in the table, in table order."""
    return list(assets.ASSETS.values())


def get_asset(name: str) -> Asset:
    """The asset called ``name``; a :class:`UserError` with a suggestion if there is none."""
    if name in assets.ASSETS:
        return assets.ASSETS[name]
    valid = sorted(assets.ASSETS)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(f"Unknown weights asset '{name}'.{hint} Valid names: {', '.join(valid)}.")


def _expected_sha(asset: Asset) -> tuple[str | None, ShaOrigin]:
    if asset.sha256 is not None:
        return asset.sha256, "table"
    recorded = cache.read_recorded_sha(asset)
    return (recorded, "recorded locally") if recorded else (None, "unrecorded")


def _check(asset: Asset, use_memo: bool) -> VerifyResult:
    path = cache.asset_path(asset)
    expected, origin = _expected_sha(asset)
    if not path.is_file():
        return VerifyResult(asset, path, "missing", expected, None, origin)
    actual = cache.file_sha256(path, use_memo=use_memo)
    state: Status = "ok" if expected in (None, actual) else "corrupt"
    return VerifyResult(asset, path, state, expected, actual, origin)


def status(names: Iterable[str] | None = None) -> list[VerifyResult]:
    """The state of the named assets (default: all), reusing memoised checksums."""
    selected = list_assets() if names is None else [get_asset(name) for name in names]
    return [_check(asset, use_memo=True) for asset in selected]


def verify(name: str | None = None) -> list[VerifyResult]:
    """Re-hash the cached file of ``name`` (default: every asset) and compare it to its sha256."""
    selected = list_assets() if name is None else [get_asset(name)]
    return [_check(asset, use_memo=False) for asset in selected]


def _missing_message(asset: Asset, path: Path, expected: str | None) -> str:
    sources = "\n".join(f"  - {source.describe()}" for source in asset.sources)
    checksum = f"sha256 {expected}" if expected else "its sha256 is recorded on first use"
    return (
        f"Weights '{asset.name}' ({asset.description}) are not in the cache.\n"
        f"Run `bench weights pull {asset.name}`, or place the file at {path} "
        f"({checksum}) from one of:\n{sources}"
    )


def _corrupt_message(result: VerifyResult) -> str:
    message = (
        f"Weights '{result.name}' at {result.path} fail their checksum: sha256 "
        f"{result.actual_sha256}, expected {result.expected_sha256} ({result.sha_origin}). "
        f"Run `bench weights pull {result.name} --force` to fetch them again."
    )
    if result.sha_origin == "recorded locally":
        record = cache.recorded_sha_path(result.asset)
        message += f" If the new file is intended, delete {record} first."
    return message


def _accept(result: VerifyResult) -> Path:
    """Finish using a present, matching file: record its sha256 if none is, refresh its copy."""
    assert result.actual_sha256 is not None  # present files always have a digest
    if result.sha_origin == "unrecorded":
        cache.record_sha(result.asset, result.actual_sha256)
    _install_copy(result.asset, result.path, result.actual_sha256)
    return result.path


def _install_copy(asset: Asset, cached: Path, sha256: str) -> None:
    """Put the asset's extra copy in place (if it has one) unless an identical one is there."""
    if asset.install_to is None:
        return
    target = asset.install_to.path()
    if target.is_file() and cache.file_sha256(target) == sha256:
        return
    _copy_atomically(cached, target)


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` onto ``target`` through a temporary file; the result is world-readable."""
    with atomic.atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
        temporary.chmod(_FILE_MODE)


def require(name: str) -> Path:
    """Path of the asset's verified cached file. Never downloads.

    Raises :class:`MissingWeightsError` (naming the sources, the path to fill
    and the ``bench weights pull`` command) when the file is absent or fails its
    checksum. A file placed by hand for an asset without a known sha256 has its
    sha256 recorded now. An asset with an extra install location (e.g.
    deepface's weights folder) gets its copy refreshed there from the cache.
    """
    result = _check(get_asset(name), use_memo=True)
    if result.status == "missing":
        raise MissingWeightsError(
            _missing_message(result.asset, result.path, result.expected_sha256)
        )
    if result.status == "corrupt":
        raise MissingWeightsError(_corrupt_message(result))
    return _accept(result)


def checksums(names: Iterable[str]) -> dict[str, str]:
    """The sha256 of each named asset's verified file, for results' provenance."""
    verified = {name: require(name) for name in names}
    return {name: cache.file_sha256(path) for name, path in verified.items()}


def pull(name: str, force: bool = False, on_progress: Callable[[str], None] | None = None) -> Path:
    """Fetch the asset into the cache unless a verified copy is there (``force``: always).

    Sources are tried in order; each download goes to a temporary folder that
    is removed afterwards, and only a file whose sha256 matches (the table's,
    else the locally recorded one) is copied into the cache, atomically. For an
    asset without a known sha256 the observed one is recorded. ``on_progress``
    receives one-line progress messages. Raises :class:`UserError` listing each
    source's failure when none delivers a valid file.
    """
    asset = get_asset(name)
    report = on_progress or (lambda message: None)
    current = _check(asset, use_memo=False)
    if current.status == "ok" and not force:
        return _accept(current)
    expected = current.expected_sha256
    failures = []
    with tempfile.TemporaryDirectory(prefix="fes-bench-weights-") as workdir:
        for source in asset.sources:
            report(f"{name}: fetching {source.describe()}")
            try:
                fetched = fetch.fetch(asset, source, expected, Path(workdir))
            except fetch.FetchError as error:
                failures.append(f"{source.describe()}: {error}")
                continue
            actual = cache.file_sha256(fetched, use_memo=False)
            if expected is not None and actual != expected:
                failures.append(f"{source.describe()}: sha256 {actual}, expected {expected}")
                continue
            _copy_atomically(fetched, current.path)
            if expected is None:
                cache.record_sha(asset, actual)
            _install_copy(asset, current.path, actual)
            return current.path
    details = "\n".join(f"  - {failure}" for failure in failures)
    raise UserError(f"Could not pull weights '{name}'; every source failed:\n{details}")
