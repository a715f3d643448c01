"""All-or-nothing writes: an interrupted synthesize keeps the old outputs, a re-prepared dataset
never pairs an old manifest with new pixels, records and metrics JSON are one unit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_params

from bench import layout
from bench.config import Config, load_config
from bench.core import atomic
from bench.core.errors import UserError
from bench.evaluate import evaluate, read_evaluation
from bench.synthesize import synthesize
from bench.train import train
from datasets.manifest import MANIFEST, read_manifest
from datasets.synthetic import generate

CPU = torch.device("cpu")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


class Interrupt(Exception):
    """Raised by a writer patched to fail midway."""


def fail_after(calls: int, function):
    """``function`` that raises :class:`Interrupt` on its ``calls + 1``-th call."""
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupt
        return function(*args, **kwargs)

    return wrapped


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    """Tiny configuration (L1 only), data prepared, identity trained."""
    root = tmp_path_factory.mktemp("units")
    raw = tiny_params(root)
    raw["profiles"]["smoke"]["metrics"] = ["l1"]
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    resolved = load_config(root / "params.yaml")
    generate(root / "data", image_size=32, train_subjects=4, test_subjects=3, ood_subjects=2)
    train(resolved, "identity", CPU)
    return resolved


# --- outputs folder -------------------------------------------------------------------------


def test_interrupted_synthesize_keeps_the_old_outputs(config, monkeypatch):
    final = synthesize(config, "identity", "synthetic", CPU)
    before = snapshot(final)
    import bench.synthesize as module

    monkeypatch.setattr(module, "save_png", fail_after(5, module.save_png))
    with pytest.raises(Interrupt):
        synthesize(config, "identity", "synthetic", CPU)
    assert snapshot(final) == before
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # no staging left


def test_next_synthesize_cleans_a_killed_runs_staging(config):
    final = synthesize(config, "identity", "synthetic", CPU)
    stale = final.parent / f".{final.name}.staging-killed"
    (stale / "happy").mkdir(parents=True)
    (stale / "happy" / "half.png").write_bytes(b"half")
    synthesize(config, "identity", "synthetic", CPU)
    assert not stale.exists() and (final / "outputs.csv").is_file()


def test_staged_dir_swaps_and_recovers(tmp_path):
    final = tmp_path / "out"
    with atomic.staged_dir(final) as staging:
        (staging / "a").write_text("1")
    assert (final / "a").read_text() == "1"
    with pytest.raises(Interrupt), atomic.staged_dir(final) as staging:
        (staging / "a").write_text("2")
        raise Interrupt
    assert (final / "a").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out"
    ]
    # killed between the swap's two renames: the complete old folder is put back
    final.rename(tmp_path / ".out.old-killed")
    (tmp_path / ".out.staging-killed").mkdir()
    atomic.clean_stale_dirs(final)
    assert (final / "a").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out"
    ]
    with atomic.staged_dir(final) as staging:
        (staging / "b").write_text("3")
    assert sorted(p.name for p in final.iterdir()) == ["b"]


# --- prepared datasets ----------------------------------------------------------------------


def test_interrupted_re_prepare_leaves_no_manifest(tmp_path, monkeypatch):
    generate(tmp_path, image_size=32, train_subjects=2, test_subjects=1, ood_subjects=1, styles=[])
    import datasets.synthetic.writer as writer

    monkeypatch.setattr(writer, "save_png", fail_after(3, writer.save_png))
    with pytest.raises(Interrupt):  # a new seed: new pixels
        generate(tmp_path, seed=5, image_size=32, train_subjects=2, test_subjects=1, styles=[])
    assert not (tmp_path / "synthetic" / MANIFEST).exists()
    with pytest.raises(UserError, match="no prepared dataset"):
        read_manifest(tmp_path / "synthetic")


def test_manifest_is_checked_against_the_pixels(tmp_path):
    (root,) = generate(tmp_path, image_size=32, train_subjects=2, test_subjects=1, styles=[])
    frame = read_manifest(root)
    first, second = (root / frame["file"].iloc[0]), (root / frame["file"].iloc[1])
    first.write_bytes(second.read_bytes())
    with pytest.raises(UserError, match="differs from the sha256 the manifest records"):
        read_manifest(root)
    read_manifest(root, check_files=False)  # the report's figures only read the table


# --- records parquet + metrics JSON ---------------------------------------------------------


def test_records_and_metrics_json_are_one_unit(config, monkeypatch):
    synthesize(config, "identity", "synthetic", CPU)
    records = evaluate(config, "identity", "synthetic", CPU)
    metrics_file = layout.metrics_path(config, "identity", "synthetic")
    assert len(read_evaluation(config, "identity", "synthetic")) == 18
    from bench.core.hashing import sha256_file

    assert json.loads(metrics_file.read_text())["records_sha256"] == sha256_file(records)
    # interrupted after the parquet, before the JSON: refused, not paired with the old JSON
    import bench.evaluate as module

    monkeypatch.setattr(module.atomic, "write_text", fail_after(0, atomic.write_text))
    with pytest.raises(Interrupt):
        evaluate(config, "identity", "synthetic", CPU)
    monkeypatch.undo()
    with pytest.raises(UserError, match="interrupted evaluation"):
        read_evaluation(config, "identity", "synthetic")
    # a JSON that was written with other records
    evaluate(config, "identity", "synthetic", CPU)
    body = json.loads(metrics_file.read_text())
    metrics_file.write_text(json.dumps({**body, "records_sha256": "0" * 64}))
    with pytest.raises(UserError, match="was not written with"):
        read_evaluation(config, "identity", "synthetic")
