"""Paired comparisons of FID and KID over source faces (bench/report/set_pairs.py): the
resampled statistics against the direct ones, identical and known-difference pairs by hand,
and the report end to end from the features the evaluation keeps (with two seeds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from fake_outputs import fake_project
from scipy import stats
from test_set_metrics import FakeInception

from bench.config import load_config, updated
from bench.core.errors import UserError
from bench.report import pairwise, set_pairs
from metrics.frechet import frechet_distance, frechet_distances, kernel_distance, kernel_distances

SEED, RESAMPLES = 0, 300


def _mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic kernel over the whole sets, written out."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kx, ky = k(x, x), k(y, y)
    n, m = len(x), len(y)
    within = (kx.sum() - np.trace(kx)) / (n * (n - 1)) + (ky.sum() - np.trace(ky)) / (m * (m - 1))
    return float(within - 2.0 * k(x, y).sum() / (n * m))


@pytest.mark.parametrize(("n", "m", "dim"), [(12, 20, 8), (30, 9, 40), (16, 16, 64)])
def test_resampled_fid_and_kid_equal_the_direct_ones_on_repeated_rows(n, m, dim):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, dim)), 1.3 * rng.normal(size=(m, dim)) + 0.2
    weights = rng.integers(0, 3, size=(6, n)).astype(float)
    weights[0] = 1.0
    fids, kids = frechet_distances(x, y, weights), kernel_distances(x, y, weights)
    for w, fid, kid in zip(weights, fids, kids, strict=True):
        repeated = np.repeat(x, w.astype(int), axis=0)
        assert fid == pytest.approx(frechet_distance(repeated, y), rel=1e-6)
        assert kid == pytest.approx(_mmd(repeated, y), rel=1e-9, abs=1e-12)
    if n == m:  # same sizes, no more than the subset size: clean-fid's estimator itself
        assert kids[0] == pytest.approx(kernel_distance(x, y, subsets=3, subset_size=n), rel=1e-9)
    assert np.isnan(frechet_distances(x, y, np.eye(1, n))[0])  # one image: undefined


def _run(
    keys: pd.DataFrame, outputs: np.ndarray, reference: np.ndarray, overall: str = "pooled"
) -> set_pairs.Run:
    labels = np.array(["happy", "sad"] * (len(reference) // 2))
    features = {
        "fid.outputs": outputs,
        "fid.reference": reference,
        "fid.reference_targets": labels,
        "fid.overall": np.array(overall),
    }
    return set_pairs.Run(keys.reset_index(drop=True), features)


def _keys(faces: int) -> pd.DataFrame:
    """Two targets per source face, sorted as the comparison aligns them."""
    return pd.DataFrame(
        {
            "source_id": [f"s{i // 2:02d}" for i in range(2 * faces)],
            "target_expression": ["happy", "sad"] * faces,
        }
    )


def test_identical_models_differ_by_zero_whatever_their_row_order():
    rng = np.random.default_rng(1)
    keys, outputs, reference = _keys(15), rng.normal(size=(30, 6)), rng.normal(size=(20, 6))
    order = rng.permutation(30)  # b lists the same images in another order
    runs = {
        ("a", "d"): [_run(keys, outputs, reference)],
        ("b", "d"): [_run(keys.iloc[order], outputs[order], reference)],
    }
    rows = set_pairs.compare(runs, ["a", "b"], SEED, RESAMPLES)
    assert list(rows["metric"]) == ["FID", "KID"]
    for row in rows.itertuples():
        assert (row.n, row.diff, row.ci_low, row.ci_high, row.p) == (30, 0.0, 0.0, 0.0, 1.0)


def test_known_difference_a_shift_of_the_outputs_adds_its_square_to_fid():
    # a's outputs have the reference's mean; b's are a's shifted by c: the covariances are
    # equal, so FID(b) - FID(a) = |c|^2 on the full set and, on a resample with mean mu_w,
    # 2 c.(mu_w - mu_ref) + |c|^2
    rng = np.random.default_rng(2)
    keys, reference = _keys(20), rng.normal(size=(24, 5))
    outputs = rng.normal(size=(40, 5))
    outputs += reference.mean(axis=0) - outputs.mean(axis=0)
    shift = np.array([1.0, -0.8, 0.5, 0.0, 0.9])
    runs = {
        ("a", "d"): [_run(keys, outputs, reference)],
        ("b", "d"): [_run(keys, outputs + shift, reference)],
    }
    fid = set_pairs.compare(runs, ["a", "b"], SEED, RESAMPLES).iloc[0]
    assert fid["metric"] == "FID" and fid["diff"] == pytest.approx(-shift @ shift, rel=1e-6)
    weights = pairwise.source_weights(keys["source_id"].to_numpy(), SEED, RESAMPLES)
    means = weights @ outputs / weights.sum(axis=1)[:, None]
    deltas = -(2.0 * (means - reference.mean(axis=0)) @ shift + shift @ shift)
    centred = deltas - deltas.mean() + fid["diff"]
    low, high = np.quantile(centred, [0.025, 0.975])
    assert (fid["ci_low"], fid["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert fid["p"] == pytest.approx(2 * stats.norm.sf(shift @ shift / deltas.std(ddof=1)))
    assert fid["p"] < 1e-3


def test_overall_mean_compares_the_mean_of_the_per_target_values():
    rng = np.random.default_rng(3)
    keys, reference = _keys(12), rng.normal(size=(16, 4))
    a, b = rng.normal(size=(24, 4)), 1.5 * rng.normal(size=(24, 4))
    runs = {
        (name, "d"): [_run(keys, outputs, reference, "mean")]
        for name, outputs in (("a", a), ("b", b))
    }
    rows = set_pairs.compare(runs, ["a", "b"], SEED, RESAMPLES).set_index("metric")
    targets, labels = keys["target_expression"].to_numpy(), np.array(["happy", "sad"] * 8)

    def mean_over_targets(outputs, statistic):
        return np.mean(
            [statistic(outputs[targets == t], reference[labels == t]) for t in ("happy", "sad")]
        )

    assert rows.loc["FID", "diff"] == pytest.approx(
        mean_over_targets(a, frechet_distance) - mean_over_targets(b, frechet_distance), rel=1e-6
    )
    assert rows.loc["KID", "diff"] == pytest.approx(
        mean_over_targets(a, _mmd) - mean_over_targets(b, _mmd), rel=1e-9
    )


@pytest.fixture
def scored(tmp_path, monkeypatch):
    """identity, mr and stargan (two seeds) on the tiny synthetic set, evaluated with FID (a
    fake Inception) and L1, their features kept beside the records."""
    from bench.evaluate import score, write_evaluation
    from bench.stages import runs

    monkeypatch.setattr("metrics.fid.InceptionFeatures", FakeInception)
    models = ["identity", "mr", "stargan"]
    config = load_config(fake_project(tmp_path, models, seeds=(0, 1)))
    config = updated(
        config,
        {"metrics": ["fid", "l1"], "metric_settings.fid.cache_dir": str(tmp_path / "features")},
    )
    for model in models:
        for run, _ in runs(config, model):
            write_evaluation(
                run, model, "synthetic", score(run, model, "synthetic", torch.device("cpu"))
            )
    return config


def test_the_report_pairs_fid_and_kid_from_the_kept_features(scored, tmp_path):
    from bench.evaluate import features_path
    from bench.report import report

    for seed in (0, 1):
        run = scored.for_seed(seed)
        kept = np.load(features_path(run, "stargan", "synthetic"))
        assert kept["fid.outputs"].shape == (6, 12) and list(kept["output_id"])[0].endswith("happy")
        metrics = tmp_path / f"results/metrics/stargan/seed{seed}/synthetic.json"
        assert "features_sha256" in json.loads(metrics.read_text())
    report(scored, ["identity", "mr", "stargan"], ["synthetic"])
    tables = tmp_path / "results" / "tables"
    pairs = pd.read_csv(tables / "pairwise.csv")
    table = pd.read_csv(tables / "comparison.csv").set_index(["model", "metric"])["mean"]
    fid = pairs[pairs["metric"] == "FID"]
    assert len(fid) == 3 and len(pairs[pairs["metric"] == "KID"]) == 3
    for row in fid.itertuples():  # stargan's is the mean of its two seeds' FIDs, as in the table
        expected = table[row.model_a, "FID"] - table[row.model_b, "FID"]
        assert row.diff == pytest.approx(expected, rel=1e-5)
        assert row.ci_low <= row.diff <= row.ci_high and 0 <= row.p <= row.p_holm <= 1
    assert (pairs["n"] == 6).all()


def test_features_not_written_with_the_records_are_refused(scored):
    from bench.evaluate import features_path, read_features

    path = features_path(scored.for_seed(1), "stargan", "synthetic")
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(
        UserError, match=r"stargan/seed1/synthetic\.features\.npz is missing or was"
    ):
        read_features(scored.for_seed(1), "stargan", "synthetic")
