"""Paired comparisons between models (bench/report/pairwise.py), hand-computed; pairwise.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_outputs import fake_project, fake_records
from scipy import stats

from bench.config import load_config, updated
from bench.report import pairwise, report
from metrics.base import Column

SEED, RESAMPLES = 0, 1000
COLUMNS = {
    "ECS": Column("ECS", True, (0.0, 1.0), "higher is better"),
    "L1": Column("L1", False, (0.0, 1.0), "lower is better"),
}


def frame(model: str, values: np.ndarray, order: np.ndarray | None = None) -> pd.DataFrame:
    """Records of ``model``: image ``i`` is (source ``s<i//2>``, target happy/sad); rows in
    ``order`` (default as given), so a shuffled frame keeps each value with its image."""
    n = len(values)
    rows = pd.DataFrame(
        {
            "model": model,
            "dataset": "d",
            "source_id": [f"s{i // 2:03d}" for i in range(n)],
            "target_expression": [("happy", "sad")[i % 2] for i in range(n)],
            "ECS": np.asarray(values, dtype=np.float64),
        }
    )
    return rows if order is None else rows.iloc[order].reset_index(drop=True)


def compare(*frames: pd.DataFrame, models=("a", "b")) -> pd.DataFrame:
    return pairwise.compare(pd.concat(frames, ignore_index=True), list(models), ["ECS"], SEED)


def test_known_difference_exact_test():
    # a - b = 0.1, 0.2, 0.1, 0.2, ...: mean 0.15; of the 2^8 = 256 sign flips (exact, as
    # 256 <= 1000 resamples) only all + and all - reach |sum| = 1.2, so p = 2 / 256
    a = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    b = a - np.array([0.1, 0.2] * 4)
    shuffled = np.random.default_rng(1).permutation(8)
    row = compare(frame("a", a), frame("b", b, shuffled)).iloc[0]
    assert (row["model_a"], row["model_b"], row["n"]) == ("a", "b", 8)
    assert row["diff"] == pytest.approx(0.15, abs=1e-12)
    assert 0.1 <= row["ci_low"] < 0.15 < row["ci_high"] <= 0.2
    assert row["p"] == pytest.approx(2 / 256)
    assert row["p_holm"] == row["p"]  # one pair: nothing to correct


def test_clear_difference_with_noise_has_the_smallest_p():
    rng = np.random.default_rng(2)
    a = rng.random(200)
    b = a - 0.3 + 0.05 * rng.standard_normal(200)
    row = compare(frame("a", a), frame("b", b, rng.permutation(200))).iloc[0]
    assert row["diff"] == pytest.approx(np.mean(a - b))
    assert row["ci_low"] < 0.3 < row["ci_high"]
    assert row["p"] == pytest.approx(1 / (RESAMPLES + 1))  # no random flip reaches it


def test_identical_models_differ_by_zero_with_p_one():
    values = np.random.default_rng(3).random(30)
    row = compare(frame("a", values), frame("b", values, np.arange(30)[::-1])).iloc[0]
    assert (row["diff"], row["ci_low"], row["ci_high"], row["p"], row["p_holm"]) == (
        0.0,
        0.0,
        0.0,
        1.0,
        1.0,
    )


def test_pairing_follows_the_image_not_the_row():
    # b is a minus exactly 0.01 on every image, but its rows are in another order: paired by
    # image every difference is 0.01 (interval collapses, p minimal); paired by row position
    # the differences would spread over [-1, 1] (wide interval, large p)
    rng = np.random.default_rng(4)
    a = rng.random(40)
    row = compare(frame("a", a), frame("b", a - 0.01, rng.permutation(40))).iloc[0]
    assert row["diff"] == pytest.approx(0.01)
    assert row["ci_high"] - row["ci_low"] < 1e-12
    assert row["p"] == pytest.approx(1 / (RESAMPLES + 1))


def test_only_shared_finite_images_count_and_duplicates_are_refused():
    a = np.arange(10, dtype=float)
    b = a - 1.0
    b[3] = np.nan  # metric did not apply to image 3 for b
    row = compare(frame("a", a), frame("b", b).iloc[2:]).iloc[0]  # b lacks images 0, 1
    assert row["n"] == 7 and row["diff"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="more than once"):
        compare(frame("a", a), pd.concat([frame("b", b), frame("b", b).iloc[:1]]))


def test_holm_on_known_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4) -> 4 x 0.005 = 0.02, 3 x 0.01 = 0.03,
    # 2 x 0.03 = 0.06, max(1 x 0.04, 0.06) = 0.06; back in input order
    adjusted = pairwise.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(pairwise.holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(pairwise.holm([0.02, np.nan, 0.04]), [0.04, np.nan, 0.04])


def test_holm_is_applied_per_metric_and_dataset():
    rng = np.random.default_rng(5)
    base = rng.random(40)
    frames = [frame(m, base + shift) for m, shift in (("a", 0.0), ("b", 0.002), ("c", 0.3))]
    frames[1]["ECS"] += 0.05 * rng.standard_normal(40)
    pairs = compare(*frames, models=("a", "b", "c"))
    assert list(zip(pairs["model_a"], pairs["model_b"], strict=True)) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]
    np.testing.assert_allclose(pairs["p_holm"], pairwise.holm(pairs["p"].to_numpy()))


@pytest.mark.parametrize("n", [8, 40])
def test_sign_flip_matches_scipy_permutation_test(n):
    d = np.random.default_rng(n).standard_normal(n) + 0.3
    ours = pairwise.sign_flip_p(d, SEED, RESAMPLES)
    theirs = stats.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=RESAMPLES,
        rng=np.random.default_rng(SEED),
    ).pvalue
    if 2**n <= RESAMPLES:  # both exact: the same number
        assert ours == pytest.approx(theirs, abs=1e-12)
    else:  # both random (different draws): the same null distribution
        assert ours == pytest.approx(theirs, abs=0.03)


def test_best_vs_runner_up_respects_the_direction():
    summary = pd.DataFrame(
        {
            "model": ["identity", "a", "b", "c"] * 2,
            "dataset": "d",
            "metric": ["ECS"] * 4 + ["L1"] * 4,
            "mean": [0.0, 0.5, 0.9, 0.88, 0.0, 0.2, 0.3, 0.1],
        }
    )
    pairs = pd.DataFrame(
        [
            ["d", "ECS", "b", "c", 50, 0.02, -0.01, 0.05, 0.2, 0.4],
            ["d", "L1", "a", "c", 50, 0.1, 0.08, 0.12, 0.001, 0.003],
        ],
        columns=pairwise.COLUMNS,
    )
    top = pairwise.leaders(summary, pairs, COLUMNS, exclude=["identity"])
    ecs, l1 = top.iloc[0], top.iloc[1]
    assert (ecs["best"], ecs["runner_up"], bool(ecs["ahead"])) == ("b", "c", False)
    # L1 is lower-better: c (0.1) leads a (0.2); the stored a - c = +0.1 becomes c - a = -0.1
    assert (l1["best"], l1["runner_up"], bool(l1["ahead"])) == ("c", "a", True)
    assert (l1["diff"], l1["ci_low"], l1["ci_high"]) == (-0.1, -0.12, -0.08)
    assert pairwise.not_ahead(top) == {("b", "d", "ECS")}
    lines = pairwise.leader_lines(top, "d", COLUMNS)
    assert lines[0].startswith("ECS ↑: b vs c: +0.020") and "not significantly ahead" in lines[0]
    assert lines[1].startswith("L1 ↓: c vs a: -0.100") and lines[1].endswith("(ahead)")
    cells = pairwise.matrix(pairs[pairs["metric"] == "L1"], "d", "L1", ["a", "b", "c"])
    assert cells.loc["a", "c"] == "+0.100* (p 0.003)" and cells.loc["c", "a"].startswith("-0.100*")


def test_pairwise_csv_is_byte_identical_on_rerun(tmp_path):
    rng = np.random.default_rng(6)
    records = pd.concat([frame(m, rng.random(60)) for m in ("a", "b", "c")], ignore_index=True)
    texts = []
    for run in range(2):
        pairs = pairwise.compare(records, ["a", "b", "c"], ["ECS"], SEED)
        path = tmp_path / f"run{run}" / "pairwise.csv"
        pairwise.write_pairwise(pairs, path, {"profile": "test"})
        texts.append(path.read_bytes())
    assert texts[0] == texts[1]
    assert texts[0].decode().splitlines()[0] == ",".join(pairwise.COLUMNS)


def test_paired_set_bootstrap_resamples_source_faces_for_both_models():
    rng = np.random.default_rng(7)
    sources = np.repeat(np.arange(20), 2)  # two targets per source face
    values = rng.random(40)
    seen = {"a": [], "b": []}

    def mean_of(name, shift):
        def statistic(weights):  # a weighted mean: vectorised over the resamples
            seen[name].append(weights)
            return weights @ values / weights.sum(axis=1) + shift

        return statistic

    result = pairwise.paired_set_bootstrap(mean_of("a", 0.5), mean_of("b", 0.0), sources, SEED, 200)
    assert result["n"] == 40 and result["diff"] == pytest.approx(0.5)
    assert result["ci_low"] == pytest.approx(0.5) and result["ci_high"] == pytest.approx(0.5)
    assert result["p"] == 0.0  # a difference that never varies
    (weights_a,), (weights_b,) = seen["a"], seen["b"]
    assert np.array_equal(weights_a, weights_b) and weights_a.shape == (201, 40)
    assert np.all(weights_a[0] == 1)  # first the shared images themselves
    assert np.all(weights_a[1:, 0::2] == weights_a[1:, 1::2])  # whole faces: both targets
    assert np.all(weights_a[1:].sum(axis=1) == 40)  # 20 faces drawn, 2 images each
    same = pairwise.paired_set_bootstrap(mean_of("a", 0.0), mean_of("b", 0.0), sources, SEED, 200)
    assert (same["diff"], same["ci_low"], same["ci_high"], same["p"]) == (0.0, 0.0, 0.0, 1.0)


def test_report_writes_pairwise_csv_and_marks_the_table(tmp_path):
    models = ["identity", "mr", "stargan"]
    params = updated(
        load_config(fake_project(tmp_path, models)), {"metrics": ["ecs_fer", "fss", "l1"]}
    )
    # 6 images per model: the smallest exact p is 2 / 2^6, 3 / 32 after Holm over 3 pairs, so
    # no leader can be significantly ahead and every best cell carries the marker
    fake_records(params, {"identity": (0.05, 0.99), "mr": (0.4, 0.8), "stargan": (0.8, 0.79)})
    report(params, models, ["synthetic"])
    tables = tmp_path / "results" / "tables"
    pairs = pd.read_csv(tables / "pairwise.csv")
    assert list(pairs.columns) == pairwise.COLUMNS
    assert set(pairs["metric"]) == {"ECS-FER", "FSS", "L1"}
    assert len(pairs) == 3 * 3  # 3 model pairs x 3 per-image metrics on one dataset
    assert (pairs["p_holm"] >= pairs["p"]).all() and pairs["p_holm"].le(1).all()
    assert (tables / "pairwise.provenance.json").is_file()
    markdown = (tables / "comparison.md").read_text()
    assert markdown.count(f"**{pairwise.NOT_AHEAD_MARK}") == 3  # ECS-FER, FSS, L1 best cells
    assert pairwise.footnote() in markdown
    html = (tmp_path / "results" / "report.html").read_text()
    assert 'class="dataframe pairwise"' in html and "Paired comparisons" in html
