"""results/report.html: one self-contained page, checked in headless Chromium; the Pareto front."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from browser import chromium
from fake_outputs import fake_project, fake_records

from bench.config import load_config, updated
from bench.report import report
from bench.report.pareto import pareto_front, scatter_points

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


def test_report_html_is_self_contained_and_renders(tmp_path):
    models = ["identity", "mr", "stargan", "usgan"]
    datasets = ("synthetic", "synthetic_statue")
    params_file = fake_project(tmp_path, models, datasets)
    config = updated(load_config(params_file), {"metrics": ["ecs_fer", "fss", "l1"]})
    # identity: no expression, full identity; usgan is dominated by stargan
    quality = {
        "identity": (0.05, 0.99),
        "mr": (0.4, 0.8),
        "stargan": (0.8, 0.6),
        "usgan": (0.5, 0.5),
    }
    fake_records(config, quality)
    paths = report(config, models, list(datasets))
    html = tmp_path / "results" / "report.html"
    assert html in paths
    text = html.read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # nothing to fetch: no network
    assert 'src="data:image/png;base64,' in text
    for dataset in datasets:
        assert (tmp_path / "results" / "figures" / f"pareto_{dataset}.png").stat().st_size > 1000
    screenshot = SCREENSHOT or str(tmp_path / "report.png")
    with chromium(tmp_path) as driver:
        driver.get(html.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth])"
        )
        assert len(images) == 3 * len(datasets)  # comparison grid, per expression, Pareto
        assert all(width > 0 for _, width in images), images
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table.comparison')).map(t => "
            "[t.id, t.querySelectorAll('tbody tr').length, t.querySelector('strong') !== null])"
        )
        assert tables == [[f"table-{d}", len(models), True] for d in datasets]
        header = driver.find_element("css selector", "#table-synthetic thead").text
        assert "ECS-FER ↑" in header and "FSS ↑" in header
        assert '"profile"' in driver.find_element("css selector", "#provenance pre").text
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, min(height + 100, 8000))
        assert driver.save_screenshot(screenshot)
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
