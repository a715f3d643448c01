"""The study analysis (Wilson interval, binomial test, attention-check screening, paper form),
the kit's trial design and blinding, and the analysis' user errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fake_outputs import fake_project

from bench.config import load_config
from bench.core.errors import UserError
from bench.study.analysis import analyze, paper_form
from bench.study.answers import read_answers, screen
from bench.study.kit import garble, make_kit
from bench.study.stats import binomial_p_value, wilson_interval

MODELS = ["reggan", "stargan", "ganimation"]


def test_wilson_interval_matches_hand_computed_values():
    # 8 of 10, z = 1.959964: centre (0.8 + z²/20) / (1 + z²/10) = 0.716740,
    # half-width z * sqrt(0.016 + z²/400) / (1 + z²/10) = 0.226578
    assert wilson_interval(8, 10) == pytest.approx((0.490162, 0.943318), abs=1e-6)
    # 0 of 10: (0, z² / (10 + z²)) = (0, 0.277533)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_binomial_p_value_matches_hand_computed_values():
    # P(X >= 8 | n=10, 1/2) = (45 + 10 + 1) / 1024; two-sided doubles it
    assert binomial_p_value(8, 10) == pytest.approx(2 * 56 / 1024, rel=1e-12)
    assert binomial_p_value(2, 10) == pytest.approx(2 * 56 / 1024, rel=1e-12)
    assert binomial_p_value(5, 10) == pytest.approx(1.0)
    assert binomial_p_value(10, 10) == pytest.approx(2 / 1024, rel=1e-12)


def hand_key() -> dict:
    """Two models, one comparison trial per criterion, one identical and one obvious check."""
    images = {
        "ia": {"role": "output", "model": "reggan"},
        "ib": {"role": "output", "model": "stargan"},
        "is": {"role": "source", "model": None},
        "ig": {"role": "garbled", "model": None},
    }
    trials = {
        "t1": {
            "criterion": "expression",
            "kind": "comparison",
            "images": ["ia", "ib"],
            "correct": None,
        },
        "t2": {
            "criterion": "identity",
            "kind": "comparison",
            "images": ["ib", "ia"],
            "correct": None,
        },
        "t3": {
            "criterion": "expression",
            "kind": "identical",
            "images": ["ia", "ia"],
            "correct": "same",
        },
        "t4": {"criterion": "realism", "kind": "obvious", "images": ["ig", "is"], "correct": "is"},
    }
    return {"kit_id": "k1", "models": ["reggan", "stargan"], "images": images, "trials": trials}


def answers_file(tmp_path, participant: str, picks: dict[str, str | None], kit: str = "k1"):
    """An answers file: ``picks[trial_id]`` is the chosen blinded id, or None for "same"."""
    answers = [
        {"trial_id": t, "choice": "same" if c is None else "left", "chosen": c, "response_ms": 900}
        for t, c in picks.items()
    ]
    path = tmp_path / f"{participant}.json"
    path.write_text(json.dumps({"kit_id": kit, "participant_id": participant, "answers": answers}))
    return path


def test_screening_drops_every_participant_who_failed_or_skipped_a_check(tmp_path):
    key = hand_key()
    good = {"t1": "ia", "t2": None, "t3": None, "t4": "is"}
    files = [
        answers_file(tmp_path, "good", good),
        answers_file(tmp_path, "not_same", {**good, "t3": "ia"}),
        answers_file(tmp_path, "garbled", {**good, "t4": "ig"}),
        answers_file(tmp_path, "skipped", {k: v for k, v in good.items() if k != "t4"}),
    ]
    screened = screen(pd.concat([read_answers(f, key) for f in files]), key)
    assert screened.participants == 4
    assert screened.dropped_participants == ["not_same", "garbled", "skipped"]
    assert screened.dropped_answers == 4 + 4 + 3
    assert set(screened.kept["participant_id"]) == {"good"}
    assert sorted(screened.kept["trial_id"]) == ["t1", "t2"]  # checks are not preferences


def test_preferences_count_wins_and_ties_per_pair_and_criterion(tmp_path):
    key = hand_key()
    files = [
        answers_file(tmp_path, f"p{i}", {"t1": pick, "t2": "ib", "t3": None, "t4": "is"})
        for i, pick in enumerate(["ia", "ia", "ia", "ib", None])
    ]
    result = analyze(files, _write(tmp_path / "key.json", key), tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "preferences.csv").set_index("criterion")
    expression = table.loc["expression"]
    assert (expression.wins_a, expression.wins_b, expression.ties) == (3, 1, 1)
    assert expression.rate_a == pytest.approx(0.75)
    assert (expression.ci_low, expression.ci_high) == pytest.approx(wilson_interval(3, 4))
    assert expression.p_value == pytest.approx(binomial_p_value(3, 4))
    identity = table.loc["identity"]
    assert (identity.wins_a, identity.wins_b, identity.rate_a) == (0, 5, 0.0)
    assert math.isnan(table.loc["realism"].rate_a)  # only checks for realism
    assert result["screened"].dropped_participants == []
    markdown = (tmp_path / "out" / "preferences.md").read_text()
    assert "0 dropped" in markdown and "| expression" in markdown


def test_paper_form_takes_the_strongest_opponent():
    table = pd.DataFrame(
        {
            "criterion": ["expression"] * 3,
            "model_a": ["reggan", "reggan", "stargan"],
            "model_b": ["stargan", "ganimation", "ganimation"],
            "rate_a": [0.625, 0.9, 0.4],
            "ci_low": [0.5, 0.8, 0.3],
            "ci_high": [0.7, 0.95, 0.5],
            "p_value": [0.01, 0.001, 0.2],
        }
    )
    paper = paper_form(table, MODELS).set_index("model")
    assert paper.loc["reggan", "best_other"] == "stargan"
    assert paper.loc["reggan", "margin_pct"] == pytest.approx(25.0)
    assert "by +25%" in paper.loc["reggan", "statement"]
    # ganimation's strongest opponent is reggan (rate 0.1): -80 points; intervals mirror
    assert paper.loc["ganimation", "best_other"] == "reggan"
    assert paper.loc["ganimation", "margin_pct"] == pytest.approx(-80.0)
    assert (paper.loc["ganimation", "ci_low"], paper.loc["ganimation", "ci_high"]) == pytest.approx(
        (0.05, 0.2)
    )


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such answers file"),
        ("{not json", "malformed JSON"),
        ({"kit_id": "other", "participant_id": "p", "answers": []}, "answers from another kit"),
        (
            {
                "kit_id": "k1",
                "participant_id": "p",
                "answers": [{"trial_id": "t9", "choice": "left", "chosen": "ia"}],
            },
            "which this key does not have",
        ),
        (
            {
                "kit_id": "k1",
                "participant_id": "p",
                "answers": [{"trial_id": "t1", "choice": "left", "chosen": "ig"}],
            },
            "not an image of trial t1",
        ),
        ({"kit_id": "k1"}, "not a study answers file"),
    ],
)
def test_bad_answer_files_are_one_line_user_errors(tmp_path, content, reason):
    key_path = _write(tmp_path / "key.json", hand_key())
    path = tmp_path / "answers.json"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        _write(path, content)
    with pytest.raises(UserError, match=reason) as error:
        analyze([path], key_path, tmp_path / "out")
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_cli_exit_code_2_on_answers_from_another_kit(tmp_path):
    key_path = _write(tmp_path / "key.json", hand_key())
    path = _write(tmp_path / "a.json", {"kit_id": "zz", "participant_id": "p", "answers": []})
    result = subprocess.run(
        [sys.executable, "-m", "bench.cli", "study", "analyze", str(path), "--key", str(key_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "answers from another kit" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_kit_design_blinding_and_reproducibility(tmp_path):
    config = load_config(fake_project(tmp_path, MODELS))
    criteria = ["expression", "identity", "realism"]
    args = (config, MODELS, ["synthetic"], criteria, 6, 3)
    key = make_kit(*args, tmp_path / "kit", tmp_path / "key.json")
    kinds = pd.Series([t["kind"] for t in key["trials"].values()])
    assert kinds.value_counts().to_dict() == {"comparison": 18, "identical": 3, "obvious": 3}
    pairs = []
    for trial in key["trials"].values():
        first, second = (key["images"][i] for i in trial["images"])
        if trial["kind"] == "comparison":  # same source and target, two different models
            assert first["model"] != second["model"]
            assert first["source_id"] == second["source_id"] == trial["source_id"]
            assert first["target"] == second["target"] == trial["target"]
            pairs.append(tuple(sorted((first["model"], second["model"]))))
        elif trial["kind"] == "identical":
            assert trial["images"][0] == trial["images"][1] and trial["correct"] == "same"
        else:
            assert {first["role"], second["role"]} in ({"garbled", "output"}, {"garbled", "source"})
            assert key["images"][trial["correct"]]["role"] != "garbled"
    assert set(pd.Series(pairs).value_counts()) == {6}  # round robin: 2 per pair and criterion
    again = make_kit(*args, tmp_path / "kit2", tmp_path / "key2.json")
    assert again["kit_id"] == key["kit_id"]
    for path in (tmp_path / "kit").rglob("*"):
        if path.is_file():
            assert (
                path.read_bytes()
                == (tmp_path / "kit2" / path.relative_to(tmp_path / "kit")).read_bytes()
            )
    with pytest.raises(UserError, match="must not be inside the kit"):
        make_kit(*args, tmp_path / "kit", tmp_path / "kit" / "key.json")


def test_garbled_image_is_the_inverted_tiles_reordered():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    garbled = garble(pixels, np.random.default_rng(1))
    assert garbled.shape == pixels.shape

    def tiles(image: np.ndarray) -> list[bytes]:
        return sorted(
            image[r : r + 8, c : c + 8].tobytes() for r in range(0, 32, 8) for c in range(0, 32, 8)
        )

    assert tiles(garbled) == tiles(255 - pixels)
    assert not np.array_equal(garbled, 255 - pixels)
