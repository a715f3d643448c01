"""results/report.html: one self-contained page, checked in headless Chromium; the Pareto front."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from browser import chromium
from fake_outputs import TARGETS, fake_project, fake_records
from PIL import Image

from bench import layout
from bench.config import load_config, updated
from bench.report import report
from bench.report.figures import save_figure
from bench.report.pareto import pareto_front, scatter_points
from metrics.base import SetValue

SCREENSHOT = os.environ.get("FES_BENCH_REPORT_SCREENSHOT")
"""Where to write the screenshot when run for real (e.g. results/report.png); default tmp_path."""


def test_pareto_front_keeps_exactly_the_non_dominated_points():
    points = np.array(
        [
            [0.9, 0.2],  # best ECS: front
            [0.5, 0.6],  # front
            [0.4, 0.5],  # dominated by (0.5, 0.6)
            [0.2, 0.9],  # best FSS: front
            [0.5, 0.6],  # equal to a front point: front too
            [0.9, 0.1],  # same ECS as the first, lower FSS: dominated
            [np.nan, 1.0],  # no value: never on the front
        ]
    )
    assert pareto_front(points).tolist() == [True, True, False, True, True, False, False]
    assert pareto_front(np.empty((0, 2))).tolist() == []


def _set_values(model: str, dataset: str) -> list[SetValue]:
    """The same classifier ceiling for every model, and set-level values from 12 images (6 per
    target)."""
    kid = 0.1 if model == "identity" else 0.05
    return [
        SetValue("ECS-FER real acc", 0.75, None, 24, 0.6, 0.9),
        SetValue("KID", kid, None, 12),
        *(SetValue(c, kid, target, 6) for c in ("KID", "Precision") for target in TARGETS),
    ]


def test_report_html_is_self_contained_and_renders(tmp_path, monkeypatch):
    models = ["identity", "mr", "stargan", "usgan"]
    datasets = ("synthetic", "synthetic_statue")
    params_file = fake_project(tmp_path, models, datasets)
    config = updated(load_config(params_file), {"metrics": ["ecs_fer", "fss", "l1", "fid"]})
    # identity: no expression, full identity; usgan is dominated by stargan
    quality = {
        "identity": (0.05, 0.99),
        "mr": (0.4, 0.8),
        "stargan": (0.8, 0.6),
        "usgan": (0.5, 0.5),
    }
    fake_records(config, quality, _set_values)
    history = layout.checkpoint_path(config, "stargan").parent / "history.csv"
    history.parent.mkdir(parents=True, exist_ok=True)
    steps = np.arange(10, 110, 10)
    pd.DataFrame(
        {"step": steps, "d_loss": 1 / steps, "g_loss": np.log(steps), "lr_generator": 1e-4}
    ).to_csv(history, index=False)
    saved = {}  # every figure the report saves, by file stem

    def keep(figure, png, pdf, record):
        saved[png.stem] = figure
        return save_figure(figure, png, pdf, record)

    monkeypatch.setattr("bench.report.build.save_figure", keep)
    paths = report(config, models, list(datasets))
    html = tmp_path / "results" / "report.html"
    assert html in paths
    text = html.read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # nothing to fetch: no network
    assert 'src="data:image/png;base64,' in text
    curves = saved["training_stargan_synthetic"]  # the history's losses, each on its own panel
    assert [a.get_title() for a in curves.axes if a.get_visible()] == [
        "d_loss",
        "g_loss",
        "learning rate",
    ]
    assert all(a.get_xlabel() == "training step" for a in curves.axes if a.get_visible())
    for dataset in datasets:
        assert (tmp_path / "results" / "figures" / f"pareto_{dataset}.png").stat().st_size > 1000
        # the per-expression figure as saved: every panel names the target expressions
        plot = saved[f"per_expression_{dataset}"]
        panels = [axis for axis in plot.axes if axis.has_data()]
        assert len(panels) == 5  # ECS-FER, FSS, L1 per image; KID, Precision per target
        for axis in panels:
            labels = [t.get_text() for t in axis.get_xticklabels() if t.get_visible()]
            assert labels == TARGETS, (axis.get_title(), labels)
        assert dataset in plot.get_suptitle()
        for stem in (f"comparison_{dataset}", f"per_expression_{dataset}", f"pareto_{dataset}"):
            png = tmp_path / "results" / "figures" / f"{stem}.png"
            with Image.open(png) as image:
                assert image.info["dpi"] == pytest.approx((200, 200), abs=0.1)
                if stem.startswith("comparison"):
                    assert image.width > image.height  # laid out wide, not a strip
            assert (tmp_path / "results" / "pdf" / f"{stem}.pdf").stat().st_size > 1000
    screenshot = SCREENSHOT or str(tmp_path / "report.png")
    with chromium(tmp_path) as driver:
        driver.get(html.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth])"
        )
        # comparison grid, per expression, Pareto; stargan's training curves
        assert len(images) == 3 * len(datasets) + 1
        assert "stargan/synthetic: training losses" in images[-1][0]
        assert all(width > 0 for _, width in images), images
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table.comparison')).map(t => "
            "[t.id, t.querySelectorAll('thead tr').length, t.querySelectorAll('tbody tr').length,"
            " t.querySelector('strong') !== null, t.querySelector('tr.reference strong') === null])"
        )
        # one header row (no empty "model" row), the models, then the real images row (no bold)
        assert tables == [[f"table-{d}", 1, len(models) + 1, True, True] for d in datasets]
        header = driver.find_element("css selector", "#table-synthetic thead").text
        assert "ECS-FER ↑" in header and "FSS ↑" in header and "real acc" not in header
        reference = driver.find_element("css selector", "#table-synthetic tr.reference").text
        assert reference.startswith("real images") and "0.750 ± 0.150" in reference
        # every cell on one line: its text is no taller than 1.6 lines of its font
        lines = driver.execute_script(
            "return Array.from(document.querySelectorAll('table.comparison td, "
            "table.comparison th')).map(cell => { const range = document.createRange();"
            " range.selectNodeContents(cell);"
            " return [cell.textContent, range.getBoundingClientRect().height"
            " / parseFloat(getComputedStyle(cell).fontSize)]; })"
        )
        assert all(height < 1.6 for _, height in lines), [c for c in lines if c[1] >= 1.6]
        assert any(" ± " in text for text, _ in lines)
        kid = driver.find_element("css selector", "#table-synthetic tbody tr:nth-child(2)").text
        assert "0.050†" in kid  # a set-level value from 12 images is flagged
        provenance = driver.find_element("css selector", "#provenance details")
        assert provenance.get_attribute("open") is None  # collapsed
        assert not driver.find_element("css selector", "#provenance pre").is_displayed()
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1400, min(height + 100, 8000))
        assert driver.save_screenshot(screenshot)
        driver.find_element("css selector", "#provenance summary").click()
        assert '"profile"' in driver.find_element("css selector", "#provenance pre").text
    assert os.path.getsize(screenshot) > 10_000


@pytest.mark.parametrize("drop", [["FSS"], ["ECS-FER"]])
def test_no_pareto_figure_without_both_axes(drop):
    summary = pd.DataFrame(
        {
            "model": ["mr", "mr"],
            "dataset": ["d", "d"],
            "metric": ["ECS-FER", "FSS"],
            "mean": [0.5, 0.7],
            "ci_low": [0.4, 0.6],
            "ci_high": [0.6, 0.8],
        }
    )
    assert scatter_points(summary, "d", ["mr"]) is not None
    assert scatter_points(summary[~summary["metric"].isin(drop)], "d", ["mr"]) is None
