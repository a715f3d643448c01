"""A report a paper can use (issue 20): one table per dataset with one-line cells, the evaluators'
ceilings in a "real images" row, bold only for a unique best, booktabs LaTeX that fits a page
and compiles, figures whose every panel names the target expressions, the Figure 5 grid laid out
wide, small-sample set-level values flagged, and every name escaped on the page."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_params
from matplotlib.lines import Line2D

from bench.config import load_config
from bench.core.errors import UserError
from bench.report import set_level
from bench.report.columns import known_columns
from bench.report.figures import comparison_grid, per_expression_plot
from bench.report.html import DatasetSection, render, table_html
from bench.report.tables import Marks, dataset_table, markdown_table, write_tables
from datasets.png import save_png
from metrics.base import Column, SetValue

INF = math.inf
COLUMNS = {
    "ECS": Column("ECS", True, (0.0, 1.0), "expression"),
    "ECS real acc": Column("ECS real acc", True, (0.0, 1.0), "ceiling", real_images_of="ECS"),
    "FVS": Column("FVS", True, (0.0, 1.0), "verification"),
    "FID": Column("FID", False, (0.0, INF), "distance"),
}
MODELS = ["identity", "mr", "stargan", "usgan"]
TARGETS = ["happy", "sad", "fearful", "angry", "surprised", "disgusted"]


def summary_of(values: dict[tuple[str, str], tuple[float, float, float]], dataset="d"):
    """Long summary rows (model, dataset, metric, mean, ci_low, ci_high, n)."""
    return pd.DataFrame(
        [
            {"model": m, "dataset": dataset, "metric": c, "mean": v[0], "ci_low": v[1]}
            | {"ci_high": v[2], "n": 48}
            for (m, c), v in values.items()
        ]
    )


def example(dataset: str = "d") -> pd.DataFrame:
    """FVS tied at the shown precision between mr and stargan (1.000 vs 0.99996), FID with a
    unique best (mr), ECS with a unique best (stargan); the same real accuracy for every model;
    identity best everywhere but a reference row."""
    values = {}
    for model, ecs, fvs, fid in (
        ("identity", 0.9, 1.0, 1.0),
        ("mr", 0.5, 1.0, 50.0),
        ("stargan", 0.7, 0.99996, 60.0),
        ("usgan", 0.6, 0.5, 70.0),
    ):
        values[(model, "ECS")] = (ecs, ecs - 0.05, ecs + 0.05)
        values[(model, "ECS real acc")] = (0.875, 0.8, 0.95)
        values[(model, "FVS")] = (fvs, fvs - 0.01, min(fvs + 0.01, 1.0))
        values[(model, "FID")] = (fid, math.nan, math.nan)
    return summary_of(values, dataset)


def test_ceilings_sit_in_a_real_images_row_never_bold():
    table = dataset_table(example(), MODELS, "d", COLUMNS)
    assert table.headers == ["ECS ↑", "FVS ↑", "FID ↓"]  # no "ECS real acc" column
    label, cells = table.all_rows()[-1]
    assert label == "real images"
    assert [c.text for c in cells] == ["0.875 ± 0.075", "", ""]  # under ECS, once
    assert not any(c.best for c in cells)
    markdown = markdown_table(table).splitlines()
    assert markdown[0].startswith("| model ") and set(markdown[1]) <= set("|:- ")
    assert len(markdown) == 2 + len(MODELS) + 1  # header, rule, models, real images: no empty row
    assert all(line.strip("| ") for line in markdown)
    plain = markdown_table(table, bold=("", "")).splitlines()[2]  # FID: numbers only
    assert plain.startswith("| identity ") and re.search(r"\| 1\.000 +\|$", plain)  # not "1"


def test_bold_marks_only_a_unique_best_at_the_shown_precision():
    table = dataset_table(example(), MODELS, "d", COLUMNS)
    best = {
        (label, table.metrics[i])
        for label, cells in table.rows
        for i, c in enumerate(cells)
        if c.best
    }
    # ECS: stargan alone; FID: mr alone (lower is better); FVS: mr 1.000 = stargan 1.000 -> none
    assert best == {("stargan", "ECS"), ("mr", "FID")}
    rows = dict(table.rows)
    assert rows["stargan"][0].render(("**", "**")) == "**0.700 ± 0.050**"
    assert rows["mr"][1].text == rows["stargan"][1].text == "1.000 ± 0.005"
    single = dataset_table(example(), ["identity", "mr"], "d", COLUMNS)
    assert not any(c.best for _, cells in single.rows for c in cells)  # nothing to compare


def test_cells_carry_marks_after_the_number_and_missing_cells_are_never_best():
    marks = Marks(
        missing={("stargan", "d", "ECS")},
        flagged={("mr", "d", "FID")},
        adapted={("usgan", "d")},
        imported={"usgan"},
        not_ahead={("usgan", "d", "ECS")},
    )
    rows = dict(dataset_table(example(), MODELS, "d", COLUMNS, marks).rows)
    assert rows["stargan"][0].text == "missing" and not rows["stargan"][0].best
    assert (
        rows["usgan §"][0].render(("**", "**")) == "**0.600 ± 0.050**≈‡"
    )  # best once stargan is out
    assert rows["mr"][2].render(("**", "**")) == "**50.000**†"


def _tables(tmp_path: Path, latex_columns=None) -> str:
    summary = pd.concat([example("set_a"), example("set_b")], ignore_index=True)
    models = ["identity", "mr", "stargan", "tests_pkg.module.Class"]
    summary["model"] = summary["model"].replace("usgan", models[-1])
    write_tables(
        summary,
        summary,
        models,
        ["set_a", "set_b"],
        COLUMNS,
        {"profile": "smoke"},
        tmp_path,
        ["Cells: mean ± half-width; 100% of 50_000 & #1 ~ ^ {braces} <tags>.", "† small set."],
        {d: [f"{d}: in-distribution, 48 outputs from 8 source faces."] for d in ("set_a", "set_b")},
        Marks(flagged={("mr", "set_a", "FID")}),
        latex_columns,
    )
    return (tmp_path / "comparison.tex").read_text()


def test_latex_is_one_booktabs_table_per_dataset_with_notes_under_the_tabular(tmp_path):
    latex = _tables(tmp_path)
    floats = latex.split("\\begin{table}")[1:]
    assert len(floats) == 2
    for body, dataset, label in zip(
        floats, ("set\\_a", "set\\_b"), ("set.a", "set.b"), strict=True
    ):
        caption = re.search(r"\\caption\{(.*)\}\n", body).group(1)
        assert caption.startswith(f"{dataset}: comparison of the models")
        assert "Cells" not in caption  # the notes are under the table, not in the caption
        assert f"\\label{{tab:{label}}}" in body  # no "_" (active in LaTeX) in the label
        assert [body.count(r) for r in ("\\toprule", "\\bottomrule")] == [1, 1]
        assert body.count("\\midrule") == 2  # under the header, above the real images row
        assert "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}" in body
        tabular, notes = body.split("\\end{tabular}")
        assert "Cells: mean" in notes and "\\footnotesize" in notes
        assert "real images & 0.875\\,{\\scriptsize$\\pm$0.075}" in tabular
    assert "\\dagger$ small set" in floats[0] and "small set" not in floats[1]  # used marks only
    markdown = (tmp_path / "comparison.md").read_text()
    assert markdown.count("| model ") == 2 and "## set_a" in markdown and "## set_b" in markdown


def test_latex_columns_choose_the_columns(tmp_path):
    latex = _tables(tmp_path, ["FID", "ECS"])
    assert "model & FID $\\downarrow$ & ECS $\\uparrow$ \\\\" in latex
    assert "FVS" not in latex and "{lcc}" in latex


def test_an_unknown_latex_column_is_a_one_line_error(tmp_path):
    params = tiny_params(tmp_path)
    params["report"] = {"latex_columns": ["SSIN"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        UserError, match=r"report\.latex_columns\[0\]: 'SSIN' is not a column.*'SSIM'"
    ):
        load_config(tmp_path / "params.yaml")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex (texlive-latex-base)")
def test_latex_tables_compile_and_fit_the_page(tmp_path):
    _tables(tmp_path)
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
        "\\input{comparison.tex}\n\\end{document}\n"
    )
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log  # the tables are shrunk to the line width


def test_small_sample_set_values_are_flagged_and_explained():
    frame = pd.DataFrame({"model": ["mr"], "dataset": ["d"]})
    frame.attrs["set_values"] = [
        SetValue("KID", 0.01, None, 40).as_dict(),  # few images, no interval: flagged
        SetValue("Precision", 0.5, None, 4096).as_dict(),  # enough images
        SetValue("ECS-FER real acc", 0.8, None, 10, 0.7, 0.9).as_dict(),  # a ceiling: never
        SetValue("Recall", 0.9, "happy", 8).as_dict(),  # per target: the figure's caveat
    ]
    columns = known_columns(["fid", "ecs_fer"])
    level = set_level.collect([frame], columns)
    assert level.flags == {("mr", "d", "KID"): set_level.SMALL_SET_CAVEAT}
    note = next(n for n in set_level.notes(level, columns) if n.startswith("†"))
    assert note.startswith("† KID from fewer than 2,048 generated images")


def _per_expression_input():
    rng = np.random.default_rng(0)
    rows = [
        {"model": m, "target_expression": t, "ECS": float(rng.random() < 0.5), "FSS": rng.random()}
        | {"L1": rng.random()}
        for m in MODELS
        for t in TARGETS
        for _ in range(4)
    ]
    sets = [
        {"model": m, "target_expression": t, "metric": c, "mean": rng.random(), "n": 8}
        for m in MODELS
        for t in TARGETS
        for c in ("FID", "KID", "Precision", "Recall", "Density")
    ]
    return pd.DataFrame(rows), pd.DataFrame(sets)


def test_every_per_expression_panel_names_the_targets():
    records, sets = _per_expression_input()
    figure = per_expression_plot(records, ["ECS", "FSS", "L1"], "my_set", TARGETS, 0, sets)
    figure.canvas.draw()
    panels = [axis for axis in figure.axes if axis.has_data()]
    assert len(panels) == 8  # 3 per-image + 5 set-level metrics, on more than one line
    for axis in panels:
        shown = [t.get_text() for t in axis.get_xticklabels() if t.get_visible()]
        assert shown == TARGETS, (axis.get_title(), shown)
    assert "my_set" in figure.get_suptitle()


def test_per_expression_points_are_not_joined_and_panels_say_direction_and_caveat():
    records, sets = _per_expression_input()
    known = known_columns(["ecs", "fss", "l1", "fid"])
    figure = per_expression_plot(records, ["ECS", "FSS", "L1"], "my_set", TARGETS, 0, sets, known)
    panels = [axis for axis in figure.axes if axis.has_data()]
    titles = [axis.get_title() for axis in panels]
    assert titles[:4] == ["ECS ↑", "FSS ↑", "L1 ↓", "FID ↓ †"]
    for axis in panels:
        assert axis.get_xlabel() == "target expression" and ", range " in axis.get_ylabel()
        for line in axis.get_lines():  # markers alone or vertical interval bars: no line
            drawn = line.get_linestyle() not in ("None", "none", "", " ")  # joins the targets
            assert isinstance(line, Line2D) and not (drawn and len(set(line.get_xdata())) > 1)
    assert "my_set" in figure.get_suptitle()
    caveat = " ".join(text.get_text() for text in figure.texts)
    assert "n = 8 generated images, fewer than 2,048" in caveat


def test_the_comparison_grid_is_laid_out_wide(tmp_path):
    tile = np.full((32, 32, 3), 128, dtype=np.uint8)
    save_png(tile, tmp_path / "tile.png")
    tile_path = tmp_path / "tile.png"
    models = [f"model{i}" for i in range(8)]
    sources = pd.DataFrame({"image_id": ["s1", "s2", "s3"]})
    outputs = {(m, s, t): tile_path for m in models for s in sources["image_id"] for t in TARGETS}
    inputs = dict.fromkeys(sources["image_id"], tile_path)
    reference = {(s, t): tile_path for s in sources["image_id"] for t in TARGETS}
    figure = comparison_grid("my_set", sources, TARGETS, models, outputs, inputs, reference)
    width, height = figure.get_size_inches()
    assert width > 2 * height  # 3 faces side by side, not a 3 x 6 row strip
    images = [axis for axis in figure.axes if axis.get_images()]
    assert len(images) == 3 * (1 + (len(models) + 1) * len(TARGETS))
    assert "my_set" in figure.texts[0].get_text()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_names_are_escaped_in_text_and_attributes():
    dataset = 'd" onmouseover="alert(1)'
    model = "<script>alert(2)</script>"
    table = dataset_table(
        example(dataset).replace("usgan", model), [*MODELS[:3], model], dataset, COLUMNS
    )
    parser = _Tags()
    parser.feed(str(table_html(table, [f"note about {model}"])))
    assert ("table", {"id": f"table-{dataset}", "class": "comparison"}) in parser.tags
    assert not any(tag == "script" or "onmouseover" in attrs for tag, attrs in parser.tags)
    page = render([DatasetSection(dataset, table)], [], [model], {"profile": "smoke"})
    parser = _Tags()
    parser.feed(page)
    assert ("section", {"id": dataset}) in parser.tags and (
        "a",
        {"href": f"#{dataset}"},
    ) in parser.tags
    assert not any(tag == "script" or "onmouseover" in attrs for tag, attrs in parser.tags)


def test_params_refuse_a_dataset_name_that_is_not_an_identifier(tmp_path):
    params = tiny_params(tmp_path)
    params["datasets"]['x"<y'] = {"kind": "folder", "root": str(tmp_path)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="datasets"):
        load_config(tmp_path / "params.yaml")


def test_the_csv_keeps_every_digit_so_bench_runs_glance_shows_the_reports_cells(tmp_path):
    """`bench run` prints the first table from comparison.csv: a CSV rounded to 6 significant
    digits rounds twice (19.28053 -> 19.2805 -> 19.280 where the report shows 19.281; FID
    1234.5675 -> 1234.57 -> 1234.570 where it shows 1234.568)."""
    summary = example()
    summary.loc[summary["metric"] == "FID", "mean"] = [19.28053, 1234.5675, 60.0, 70.0]
    summary.loc[summary["metric"] == "ECS", "ci_high"] += 1.23456789e-5
    write_tables(summary, summary, MODELS, ["d"], COLUMNS, {}, tmp_path, [], {})
    again = pd.read_csv(tmp_path / "comparison.csv")
    shown = markdown_table(dataset_table(summary, MODELS, "d", COLUMNS), bold=("", ""))
    assert "19.281" in shown and "1234.568" in shown
    assert markdown_table(dataset_table(again, MODELS, "d", COLUMNS), bold=("", "")) == shown
    pd.testing.assert_frame_equal(again, summary, check_exact=True)
