"""Preference rates per criterion and model pair, the paper's "preferred by X%" form, and the
files ``bench study analyze`` writes (CSV, Markdown, PNG).

For a pair (A, B) the preference rate of A is wins_A / (wins_A + wins_B): "no difference"
answers are ties, counted but left out of the rate and of the test. Intervals are Wilson
95% score intervals; p-values are exact two-sided binomial tests against 1/2.

Paper form: for each criterion and model A, the *best other model* is A's strongest
opponent (the one against which A's preference rate is lowest), and A is "preferred over
the best other model by X%" with X = 100 * (rate - (1 - rate)), the share of decisive
answers for A minus the share for that opponent, in percentage points (the RegGAN paper
reports e.g. +25% for expression).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench.core import atomic  # noqa: E402
from bench.core.errors import UserError  # noqa: E402
from bench.study.answers import Screened, read_answers, read_key, screen  # noqa: E402
from bench.study.design import COMPARISON, SAME  # noqa: E402
from bench.study.stats import binomial_p_value, wilson_interval  # noqa: E402


def preferences(kept: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    """One row per criterion and model pair (model_a before model_b in the key's model order):
    answers, wins_a, wins_b, ties, rate_a in [0, 1], ci_low, ci_high, p_value."""
    order = {model: i for i, model in enumerate(key["models"])}
    criteria = list(dict.fromkeys(t["criterion"] for t in key["trials"].values()))
    counts: dict[tuple[str, str, str], list[int]] = {}
    for criterion in criteria:
        for a, b in itertools.combinations(key["models"], 2):
            counts[(criterion, a, b)] = [0, 0, 0]
    for row in kept.itertuples():
        trial = key["trials"][row.trial_id]
        if trial["kind"] != COMPARISON:
            continue
        a, b = sorted((key["images"][i]["model"] for i in trial["images"]), key=order.get)
        tally = counts[(trial["criterion"], a, b)]
        if row.choice == SAME:
            tally[2] += 1
        else:
            tally[0 if key["images"][row.chosen]["model"] == a else 1] += 1
    rows = []
    for (criterion, a, b), (wins_a, wins_b, ties) in counts.items():
        decisive = wins_a + wins_b
        low, high = wilson_interval(wins_a, decisive)
        rows.append(
            {
                "criterion": criterion,
                "model_a": a,
                "model_b": b,
                "answers": decisive + ties,
                "wins_a": wins_a,
                "wins_b": wins_b,
                "ties": ties,
                "rate_a": wins_a / decisive if decisive else math.nan,
                "ci_low": low,
                "ci_high": high,
                "p_value": binomial_p_value(wins_a, decisive),
            }
        )
    return pd.DataFrame(rows)


def paper_form(table: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Per criterion and model: its strongest opponent, its rate against it and the margin
    ``100 * (2 * rate - 1)`` in percentage points, plus the sentence the paper would print."""
    rows = []
    for criterion, group in table.groupby("criterion", sort=False):
        for model in models:
            versus = []
            for r in group.itertuples():
                if model in (r.model_a, r.model_b) and math.isfinite(r.rate_a):
                    mine = r.model_a == model
                    rate = r.rate_a if mine else 1 - r.rate_a
                    low, high = (r.ci_low, r.ci_high) if mine else (1 - r.ci_high, 1 - r.ci_low)
                    other = r.model_b if mine else r.model_a
                    versus.append((rate, other, low, high, r.p_value))
            if not versus:
                continue
            rate, other, low, high, p_value = min(versus)
            margin = 100 * (2 * rate - 1)
            rows.append(
                {
                    "criterion": criterion,
                    "model": model,
                    "best_other": other,
                    "rate": rate,
                    "ci_low": low,
                    "ci_high": high,
                    "p_value": p_value,
                    "margin_pct": margin,
                    "statement": f"{model} preferred over the best other model ({other}) "
                    f"by {margin:+.0f}% ({criterion})",
                }
            )
    return pd.DataFrame(rows)


def preference_figure(table: pd.DataFrame) -> plt.Figure:
    """One panel per criterion: the rate of model A over model B with its Wilson 95% interval."""
    criteria = list(dict.fromkeys(table["criterion"]))
    pairs = len(table) // max(1, len(criteria))
    figure, axes = plt.subplots(
        1,
        len(criteria),
        figsize=(3.6 * len(criteria), 0.5 * pairs + 1.4),
        squeeze=False,
        sharey=True,
    )
    for axis, criterion in zip(axes[0], criteria, strict=True):
        rows = table[table["criterion"] == criterion].reset_index(drop=True)
        labels = [f"{r.model_a} vs {r.model_b}" for r in rows.itertuples()]
        y = range(len(rows))
        errors = [rows["rate_a"] - rows["ci_low"], rows["ci_high"] - rows["rate_a"]]
        axis.errorbar(rows["rate_a"], y, xerr=errors, fmt="o", color="tab:blue", capsize=3)
        axis.axvline(0.5, color="grey", linestyle="--", linewidth=1)
        axis.set_yticks(list(y), labels)
        axis.set_xlim(0, 1)
        axis.invert_yaxis()
        axis.set_title(criterion)
        axis.set_xlabel("preference rate of the first model")
    figure.tight_layout()
    return figure


def markdown(table: pd.DataFrame, paper: pd.DataFrame, screened: Screened, files: int) -> str:
    """The Markdown report: exclusions, the pairwise table and the paper-form table."""
    shown = table.copy()
    shown["rate_a"] = [
        "n/a"
        if not math.isfinite(r.rate_a)
        else f"{r.rate_a:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
        for r in table.itertuples()
    ]
    shown["p_value"] = [f"{p:.3g}" if math.isfinite(p) else "n/a" for p in table["p_value"]]
    shown = shown.drop(columns=["ci_low", "ci_high"]).rename(
        columns={"rate_a": "rate of model_a [Wilson 95%]", "p_value": "p (binomial, two-sided)"}
    )
    lines = [
        "# Human study: pairwise preferences",
        "",
        f"- {files} answer files, {screened.participants} participants; "
        f"{len(screened.dropped_participants)} dropped for failed attention checks "
        f"({screened.dropped_answers} answers)"
        + (f": {', '.join(screened.dropped_participants)}" if screened.dropped_participants else "")
        + (
            f"; {len(screened.no_answers)} excluded for sending no answers: "
            f"{', '.join(screened.no_answers)}"
            if screened.no_answers
            else ""
        )
        + ".",
        '- Rate: wins of model_a / decisive answers; "no difference" answers are ties, '
        "left out of the rate and the test.",
        "",
        shown.to_markdown(index=False),
        "",
        "## Against the best other model",
        "",
    ]
    if paper.empty:
        lines.append("No decisive answers.")
    else:
        lines.append(
            paper[["criterion", "statement", "rate", "p_value"]].to_markdown(
                index=False, floatfmt=".3g"
            )
        )
    return "\n".join(lines) + "\n"


def analyze(answer_files: list[Path], key_path: Path, out: Path) -> dict[str, Any]:
    """Read the key and every answer file, screen, write ``out``/preferences.{csv,md,png} and
    ``out``/best_other.csv; return the tables and the screening counts."""
    if not answer_files:
        raise UserError("no answer files given")
    key = read_key(key_path)
    frames = []
    owner: dict[str, Path] = {}
    for path in answer_files:
        frame = read_answers(Path(path), key)
        participant = frame.attrs["participant_id"]
        if participant in owner:
            raise UserError(
                f"{path}: participant {participant!r} already answered in {owner[participant]}"
            )
        owner[participant] = Path(path)
        frames.append(frame)
    answered = [frame for frame in frames if not frame.empty] or frames[:1]
    screened = screen(pd.concat(answered, ignore_index=True), key, list(owner))
    table = preferences(screened.kept, key)
    paper = paper_form(table, key["models"])
    out = Path(out)
    atomic.write_text(out / "preferences.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic.write_text(out / "best_other.csv", paper.to_csv(index=False, lineterminator="\n"))
    atomic.write_text(out / "preferences.md", markdown(table, paper, screened, len(frames)))
    figure = preference_figure(table)
    with atomic.atomic_path(out / "preferences.png") as tmp:
        figure.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return {"preferences": table, "best_other": paper, "screened": screened, "files": owner}
