"""``bench score`` (issue 21, items 1 and 2): a folder of outputs as a row of a dataset's
comparison, and two plain folders scored like clean-fid.

A copy of a model's own outputs, scored as another name, gives that model's row in every
cell of ``comparison.csv``; rescoring the unchanged folder does not evaluate again; every kind
of bad input is one line of a :class:`UserError` (exit 2 at the CLI); ``--real/--fake`` gives
clean-fid's ``compute_fid`` and ``compute_kid`` on the same folders (clean-fid run offline with
the harness's Inception network, from the weights manager)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import generate_tiny_sets, tiny_params
from PIL import Image

from bench import layout
from bench.config import load_config
from bench.core.errors import UserError
from bench.core.weights import status
from bench.evaluate import evaluate, read_records
from bench.report import report
from bench.report.scope import current_scope
from bench.score import score_folder
from bench.synthesize import source_faces, synthesize
from bench.train import train
from datasets.png import load_png, save_png

CPU = torch.device("cpu")
TARGETS = ["happy", "sad"]
HAS_INCEPTION = status(["inception_fid"])[0].status == "ok"
needs_inception = pytest.mark.skipif(
    not HAS_INCEPTION, reason="inception_fid is not cached (run `bench weights pull inception_fid`)"
)


def _project(root: Path, metrics: list[str]) -> Path:
    """Tiny params (32 px, two targets, ``synthetic`` only) and the tiny data sets."""
    params = tiny_params(root)
    params["eval_datasets"] = ["synthetic"]
    params["targets"] = TARGETS
    params["models"] = ["identity"]
    params["adapted_models"] = []
    params["profiles"]["smoke"]["metrics"] = metrics
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    generate_tiny_sets(root, train_subjects=1)
    return path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    """identity trained, synthesized, evaluated on synthetic (FID too where Inception is cached)."""
    root = tmp_path_factory.mktemp("score")
    metrics = ["ecs_fer", "qualiclip", "l1", "ssim"] + (["fid"] if HAS_INCEPTION else [])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FES_BENCH_FEATURES", str(root / "features"))
        path = _project(root, metrics)
        config = load_config(path)
        train(config, "identity", CPU)
        synthesize(config, "identity", "synthetic", CPU)
        evaluate(config, "identity", "synthetic", CPU)
    return path


def test_copy_of_model_outputs_is_that_models_row(evaluated, tmp_path, monkeypatch):
    monkeypatch.setenv("FES_BENCH_FEATURES", str(evaluated.parent / "features"))
    config = load_config(evaluated)
    folder = tmp_path / "mine"
    # the folder as it is: outputs.csv and generator.json at its top are not images of the layout
    shutil.copytree(layout.outputs_dir(config, "identity", "synthetic"), folder)
    records, reused = score_folder(config, folder, "synthetic", "mine", CPU)
    assert not reused
    report(config, *current_scope(config, [], []))
    tables = layout.tables_dir(config)
    table = pd.read_csv(tables / "comparison.csv")
    assert set(table["model"]) == {"identity", "mine"}
    ours = table[table["model"] == "mine"].drop(columns="model").reset_index(drop=True)
    theirs = table[table["model"] == "identity"].drop(columns="model").reset_index(drop=True)
    assert len(ours) == len(theirs) > 0
    if HAS_INCEPTION:
        assert {"FID", "KID"} <= set(ours["metric"])
    pd.testing.assert_frame_equal(ours, theirs)  # every metric cell, the n and the intervals
    # marked in the tables, the folder's content sha256 in the footnote and the provenance
    scored = read_records(records).attrs["generator"]["scored_from_folder"]
    assert scored["folder"] == str(folder.resolve())
    markdown = (tables / "comparison.md").read_text()
    assert "| mine §" in markdown
    assert f"content sha256 {scored['content_sha256'][:12]}" in markdown
    assert "scored from the folder" in (tables.parent / "report.html").read_text()

    # unchanged folder: nothing is evaluated again
    def no_scoring(*args, **kwargs):
        raise AssertionError("an unchanged folder was scored again")

    monkeypatch.setattr("bench.evaluate.score", no_scoring)
    before = records.stat().st_mtime_ns
    assert score_folder(config, folder, "synthetic", "mine", CPU) == (records, True)
    assert records.stat().st_mtime_ns == before
    # a changed image is scored again
    image = next(folder.glob("happy/*.png"))
    save_png(255 - load_png(image), image)
    with pytest.raises(AssertionError, match="scored again"):
        score_folder(config, folder, "synthetic", "mine", CPU)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Tiny data only (L1 as the one metric), no model."""
    return _project(tmp_path_factory.mktemp("bad"), ["l1"])


def _folder(config, root: Path) -> Path:
    """Every source face of synthetic copied as its own output for every target."""
    data = layout.dataset_dir(config, "synthetic")
    for face in source_faces(config, "synthetic").itertuples():
        for target in TARGETS:
            (root / target).mkdir(parents=True, exist_ok=True)
            shutil.copy(data / face.file, root / target / f"{face.image_id}.png")
    return root


def _problems(config, folder: Path, **options) -> list[str]:
    with pytest.raises(UserError) as error:
        score_folder(config, folder, "synthetic", "mine", CPU, **options)
    return str(error.value).splitlines()[1:]


def test_each_bad_input_is_one_line(prepared, tmp_path):
    config = load_config(prepared)
    folder = _folder(config, tmp_path / "out")
    happy = sorted((folder / "happy").iterdir())
    ids = [p.stem for p in happy]
    (folder / "bogus").mkdir()
    shutil.copy(happy[0], folder / "bogus" / happy[0].name)  # unknown target
    shutil.copy(happy[0], folder / "happy" / "not-a-face.png")  # source id not in the dataset
    happy[1].unlink()  # a missing pair
    Image.fromarray(np.zeros((48, 48, 3), np.uint8)).save(folder / "sad" / f"{ids[0]}.png")
    (folder / "sad" / f"{ids[2]}.png").write_bytes(b"not a png")  # unreadable
    problems = _problems(config, folder)
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    assert "1 file(s) name source ids that are not in" in text and "not-a-face" in text
    assert "unknown target expression(s) ['bogus']" in text
    assert f"1 of {len(ids) * 2} (source, target) pairs" in text and "--allow-missing" in text
    assert "1 image(s) are not 32x32" in text and "--resize" in text
    assert "1 file(s) are not readable images" in text
    with pytest.raises(UserError, match="model of the harness"):
        score_folder(config, folder, "synthetic", "identity", CPU)
    assert not layout.records_path(config, "mine", "synthetic").exists()


def test_allow_missing_resize_and_mapping(prepared, tmp_path):
    config = load_config(prepared)
    folder = _folder(config, tmp_path / "out")
    sources = source_faces(config, "synthetic")["image_id"].tolist()
    (folder / "sad" / f"{sources[0]}.png").unlink()
    assert _problems(config, folder)[0].startswith(f"1 of {2 * len(sources)} (source, target)")
    path, _ = score_folder(config, folder, "synthetic", "part", CPU, allow_missing=True)
    assert len(read_records(path)) == 2 * len(sources) - 1
    report(config, ["part"], ["synthetic"])
    table = pd.read_csv(layout.tables_dir(config) / "comparison.csv")
    assert set(table["n"]) == {2 * len(sources) - 1}
    note = f"n = {2 * len(sources) - 1} of {2 * len(sources)} (source, target) pairs"
    assert note in (layout.tables_dir(config) / "comparison.md").read_text()

    # a 64 px folder is scored only with --resize, which the provenance says
    big = tmp_path / "big"
    for image in folder.rglob("*.png"):
        (big / image.parent.name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(load_png(image)).resize((64, 64)).save(big / image.parent.name / image.name)
    assert "--resize" in _problems(config, big, allow_missing=True)[0]
    path, _ = score_folder(config, big, "synthetic", "big", CPU, allow_missing=True, resize=True)
    scored = read_records(path).attrs["generator"]["scored_from_folder"]
    assert scored["resize"] == "PIL bicubic"
    assert scored["resized_images"] == 2 * len(sources) - 1

    # a flat folder with a mapping CSV gives the records of the same images in the layout
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = []
    for number, image in enumerate(sorted(folder.rglob("*.png"))):
        shutil.copy(image, flat / f"img{number:03d}.png")
        rows.append((f"img{number:03d}.png", image.stem, image.parent.name))
    mapping = tmp_path / "mapping.csv"
    pd.DataFrame(rows, columns=["file", "source_id", "target_expression"]).to_csv(
        mapping, index=False
    )
    path_mapped, _ = score_folder(
        config, flat, "synthetic", "mapped", CPU, mapping=mapping, allow_missing=True
    )
    mapped, plain = (
        read_records(path_mapped),
        read_records(layout.records_path(config, "part", "synthetic")),
    )
    pd.testing.assert_frame_equal(mapped.drop(columns="model"), plain.drop(columns="model"))


def test_cli_bad_folder_exits_2(prepared, tmp_path, capsys, monkeypatch):
    from bench.cli import main

    config = load_config(prepared)
    folder = _folder(config, tmp_path / "out")
    next((folder / "sad").iterdir()).unlink()
    argv = ["bench", "score", str(folder), "--dataset", "synthetic", "--name", "mine"]
    monkeypatch.setattr(sys, "argv", [*argv, "--params", str(prepared)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "error:" in out and "pass --allow-missing to score the rest" in out


# -- two plain folders ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of 8 real faces each (64 px; one in a subfolder, as clean-fid recurses)."""
    from real_faces import face_set

    root = tmp_path_factory.mktemp("two")
    for name, seed in (("real", 1), ("fake", 2)):
        for index, face in enumerate(face_set(name[0], 8, seed=seed)):
            folder = root / name / ("sub" if index == 0 else "")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(face).save(folder / f"face_{index:03d}.png")
    return root / "real", root / "fake"


@needs_inception
def test_real_fake_equals_clean_fid(two_folders, prepared, capsys, monkeypatch):
    """FID equals clean-fid's ``compute_fid`` (mode "clean", its loader, resize, statistics) and
    KID its ``compute_kid`` on the same folders. clean-fid would download its Inception file
    (inception-2015-12-05.pt) into /tmp: it is given the harness's network (asset
    ``inception_fid`` from the weights manager) instead, and any download attempt fails the
    test. Equal folder sizes (8 <= KID's subset size) make every KID subset the whole set, so
    clean-fid's unseeded draws and ours give the same value."""
    import cleanfid.downloads_helper
    import cleanfid.fid
    from cleanfid.fid import compute_fid, compute_kid

    from bench.cli import main
    from metrics.inception import InceptionFeatures

    def no_download(*args, **kwargs):
        raise AssertionError("clean-fid tried to download")

    monkeypatch.setattr(cleanfid.downloads_helper, "check_download_url", no_download)
    monkeypatch.setattr(cleanfid.downloads_helper, "check_download_inception", no_download)
    real, fake = two_folders
    argv = ["bench", "score", "--real", str(real), "--fake", str(fake), "--json"]
    monkeypatch.setattr(sys, "argv", [*argv, "--params", str(prepared), "--device", "cpu"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["real_images"] == result["fake_images"] == 8
    extractor = InceptionFeatures("inception_fid", batch_size=8).clean_fid_extractor()
    monkeypatch.setattr(cleanfid.fid, "build_feature_extractor", lambda *a, **k: extractor)
    options = dict(mode="clean", num_workers=0, batch_size=8, device=CPU, verbose=False)
    fid = compute_fid(str(real), str(fake), custom_feat_extractor=extractor, **options)
    kid = compute_kid(str(real), str(fake), **options)
    assert fid > 1.0
    assert abs(result["metrics"]["fid"] - fid) < 1e-3, (result["metrics"]["fid"], fid)
    assert abs(result["metrics"]["kid"] - kid) < 1e-6, (result["metrics"]["kid"], kid)
    if status(["qualiclip"])[0].status != "ok":  # URL-only: a note, not a failure
        assert "qualiclip" in result["missing"] and "qualiclip" not in result["metrics"]
    else:
        assert 0.0 <= result["metrics"]["qualiclip"] <= 1.0


def _text_mode(real: Path, fake: Path, params: Path, capsys, monkeypatch) -> list[str]:
    from bench.cli import main

    argv = ["bench", "score", "--real", str(real), "--fake", str(fake), "--metrics", "qualiclip"]
    monkeypatch.setattr(sys, "argv", [*argv, "--params", str(params)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    captured = capsys.readouterr()
    return (captured.out + captured.err).splitlines()


def test_real_fake_qualiclip_missing_is_one_line(two_folders, prepared, capsys, monkeypatch):
    """Without Inception work: only QualiCLIP, absent here, reported as one ``missing`` line."""
    if status(["qualiclip"])[0].status == "ok":
        pytest.skip("qualiclip.pth is cached here: nothing is missing")
    lines = _text_mode(*two_folders, prepared, capsys, monkeypatch)
    assert [t for t in lines if t.startswith("qualiclip:")][0].startswith("qualiclip: missing (")
    assert len([t for t in lines if t.startswith("qualiclip")]) == 1
