"""The study kit in a real headless Chromium, from file://: scripted participants answer by a
rule, download their answers, and `bench study analyze` gives the rates the rule implies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from browser import chromium
from fake_outputs import fake_project
from typer.testing import CliRunner

from bench.cli import app

MODELS = ["reggan", "stargan", "ganimation"]
runner = CliRunner()


def _blinded(driver, element_id: str) -> str:
    src = driver.find_element("id", element_id).get_attribute("src")
    return Path(src).stem


def _participate(driver, kit: Path, participant: str, rule, stop_after: int | None = None):
    """Open the kit, consent, answer every screen with ``rule(trial_id, left, right)`` ->
    "left" | "same" | "right"; return the screens seen as (trial_id, left, right, choice)."""
    driver.get((kit / "index.html").as_uri())
    start = driver.find_element("id", "start")
    driver.find_element("id", "participant").send_keys(participant)
    assert not start.is_enabled()  # consent first
    driver.find_element("id", "consent").click()
    start.click()
    loaded = "return ['source', 'left', 'right'].every(id => document.getElementById(id).naturalWidth > 0)"
    deadline = time.monotonic() + 5
    while not driver.execute_script(loaded):  # the blinded images load from file://
        assert time.monotonic() < deadline, "study images did not load"
        time.sleep(0.05)
    seen = []
    while driver.find_element("id", "trial-screen").is_displayed():
        if stop_after is not None and len(seen) == stop_after:
            return seen
        trial_id = driver.find_element("id", "trial-screen").get_attribute("data-trial-id")
        left, right = _blinded(driver, "left"), _blinded(driver, "right")
        choice = rule(trial_id, left, right)
        driver.find_element("id", f"choose-{choice}").click()
        seen.append((trial_id, left, right, choice))
    assert driver.find_element("id", "done-screen").is_displayed()
    return seen


def _download(driver, downloads: Path, participant: str) -> Path:
    driver.find_element("id", "download").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = [p for p in downloads.glob(f"*-{participant}.json")]
        if done and not list(downloads.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no download for {participant} in {list(downloads.iterdir())}")


def test_scripted_participants_give_the_rates_their_rule_implies(tmp_path):
    params_file = fake_project(tmp_path, MODELS)
    kit, key_path = tmp_path / "kit", tmp_path / "key.json"
    result = runner.invoke(
        app,
        [
            "study",
            "make",
            "--params",
            str(params_file),
            "--trials",
            "6",
            "--seed",
            "3",
            "--out",
            str(kit),
            "--key",
            str(key_path),
        ],
    )
    assert result.exit_code == 0, result.output
    key = json.loads(key_path.read_text())
    for path in kit.rglob("*"):  # blinded: no model name in any participant-facing file
        assert not any(m in path.name for m in MODELS)
        if path.suffix in (".html", ".js", ".css"):
            assert not any(m in path.read_text() for m in MODELS), path
    model_of = {bid: image["model"] for bid, image in key["images"].items()}

    def faithful(trial_id, left, right):
        """Expression: the earlier model in MODELS; identity: ganimation, else no difference;
        realism: always left. Attention checks answered right."""
        trial = key["trials"][trial_id]
        if trial["kind"] != "comparison":
            return (
                "same"
                if trial["correct"] == "same"
                else ("left" if trial["correct"] == left else "right")
            )
        if trial["criterion"] == "expression":
            return min(
                ("left", left), ("right", right), key=lambda s: MODELS.index(model_of[s[1]])
            )[0]
        if trial["criterion"] == "identity":
            return next(
                (s for s, b in (("left", left), ("right", right)) if model_of[b] == "ganimation"),
                "same",
            )
        return "left"

    downloads = tmp_path / "downloads"
    with chromium(tmp_path, downloads) as driver:
        seen = _participate(driver, kit, "P1", faithful)
        driver.execute_script("window.scrollTo(0, 0)")
        first = _download(driver, downloads, "P1")
        # P2 presses "left" everywhere (fails the identical-pair checks); a reload midway resumes
        _participate(driver, kit, "P2", lambda *_: "left", stop_after=3)
        rest = _participate(driver, kit, "P2", lambda *_: "left")
        assert len(rest) == len(key["trials"]) - 3
        second = _download(driver, downloads, "P2")
        # the same id gets the same schedule again (fresh storage); another id another one
        driver.execute_script("localStorage.clear()")
        again = _participate(driver, kit, "P1", lambda *_: "left")
    assert [s[:3] for s in again] == [s[:3] for s in seen]
    p2 = json.loads(second.read_text())["answers"]
    assert [a["trial_id"] for a in p2] != [s[0] for s in seen]
    assert sorted(s[0] for s in seen) == sorted(key["trials"])
    swapped = {key["trials"][t]["images"][0] != left for t, left, right, _ in seen if left != right}
    assert swapped == {True, False}  # sides are shuffled per screen, not kept in kit order

    answers = json.loads(first.read_text())
    assert answers["participant_id"] == "P1" and answers["kit_id"] == key["kit_id"]
    assert all(a["response_ms"] >= 0 and a["shown_at"] for a in answers["answers"])

    out = tmp_path / "study"
    result = runner.invoke(
        app,
        ["study", "analyze", str(first), str(second), "--key", str(key_path), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "2 participants, 1 dropped" in result.output
    table = pd.read_csv(out / "preferences.csv")
    expected: dict[tuple[str, str, str], list[int]] = {}
    for trial_id, left, right, choice in seen:
        trial = key["trials"][trial_id]
        if trial["kind"] != "comparison":
            continue
        a, b = sorted((model_of[left], model_of[right]), key=MODELS.index)
        tally = expected.setdefault((trial["criterion"], a, b), [0, 0, 0])
        if choice == "same":
            tally[2] += 1
        else:
            tally[0 if model_of[left if choice == "left" else right] == a else 1] += 1
    assert sum(sum(t) for t in expected.values()) == 18
    for row in table.itertuples():
        wins_a, wins_b, ties = expected.get((row.criterion, row.model_a, row.model_b), [0, 0, 0])
        assert (row.wins_a, row.wins_b, row.ties) == (wins_a, wins_b, ties), row
        if row.criterion == "expression":
            assert row.rate_a == 1.0  # the earlier model always won
        if row.criterion == "identity" and "ganimation" not in (row.model_a, row.model_b):
            assert row.wins_a + row.wins_b == 0 and row.ties == wins_a + wins_b + ties
    assert (out / "preferences.png").stat().st_size > 1000
    best = pd.read_csv(out / "best_other.csv")
    reggan = best[(best.criterion == "expression") & (best.model == "reggan")].iloc[0]
    assert reggan.margin_pct == 100.0 and reggan.best_other in ("stargan", "ganimation")
