"""Collect the records of every (model, dataset), aggregate once, write tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench import layout
from bench.core import provenance
from bench.core.progress import console
from bench.evaluate import metric_columns, read_evaluation
from bench.report import set_level
from bench.report.columns import known_columns
from bench.report.figures import comparison_grid, per_expression_plot, save_figure
from bench.report.tables import write_tables
from bench.synthesize import read_outputs, source_faces
from datasets.manifest import read_manifest
from metrics.aggregate import summarise


def report_record(params: dict[str, Any], records: list[pd.DataFrame]) -> dict[str, Any]:
    """Provenance of the report: params, code, versions, and every record file's inputs and weights."""
    weights: dict[str, str] = {}
    inputs: dict[str, str] = {}
    for frame in records:
        weights.update(frame.attrs.get("provenance", {}).get("weights_sha256", {}))
        inputs.update(frame.attrs.get("provenance", {}).get("inputs_sha256", {}))
    return provenance.collect(params, weights=weights, inputs=inputs)


def adaptation_marks(
    per_pair: list[pd.DataFrame],
) -> tuple[set[tuple[str, str]], list[str]]:
    """(model, dataset) pairs whose model trained on that dataset's (unlabelled) images, and
    footnotes naming them and every in-distribution fallback (from ``generator.json``)."""
    adapted: set[tuple[str, str]] = set()
    used: dict[str, list[str]] = {}
    fallback: list[str] = []
    for frame in per_pair:
        model, dataset = frame["model"].iloc[0], frame["dataset"].iloc[0]
        adaptation = (frame.attrs.get("generator") or {}).get("adaptation")
        if not adaptation:
            continue
        if adaptation.get("adapted"):
            adapted.add((model, dataset))
            network = adaptation.get("perceptual_network") or {}
            substitute = (
                f"; perceptual network {network['network']} (substitute for "
                f"{network['substitute_for']})"
                if network.get("substitute_for")
                else ""
            )
            used.setdefault(model, []).append(
                f"{dataset} ({adaptation.get('target_images')} images{substitute})"
            )
        elif adaptation.get("note"):
            fallback.append(f"{model} on {dataset}: {adaptation['note']}.")
    notes = [
        f"‡ {model} was adapted to each marked dataset with that dataset's unlabelled images "
        f"(no labels, no outputs): {', '.join(items)}."
        for model, items in used.items()
    ]
    return adapted, notes + fallback


def _figure_paths(params: dict[str, Any], stem: str) -> tuple[Path, Path]:
    return layout.figures_dir(params) / f"{stem}.png", layout.pdf_dir(params) / f"{stem}.pdf"


def report(params: dict[str, Any], models: list[str], datasets: list[str]) -> list[Path]:
    """Write results/tables/* and results/figures/* for ``models`` x ``datasets``; return the paths."""
    per_pair = [read_evaluation(params, m, d) for m in models for d in datasets]
    records = pd.concat(per_pair, ignore_index=True)
    record = report_record(params, per_pair)
    columns = known_columns(params["metrics"])
    value_columns = [c for c in metric_columns(records) if c in columns]
    evaluation = params.get("evaluation") or {}
    seed = int(params["seed"])
    options = dict(
        seed=seed,
        resamples=int(evaluation.get("bootstrap_resamples", 1000)),
        confidence=float(evaluation.get("confidence", 0.95)),
    )
    summary = summarise(records, value_columns, by=["model", "dataset"], **options)
    per_expression = summarise(
        records, value_columns, by=["model", "dataset", "target_expression"], **options
    )
    level = set_level.collect(per_pair, columns)
    summary = set_level.combine(summary, level.overall, columns, ["model", "dataset"])
    per_expression = set_level.combine(
        per_expression, level.per_target, columns, ["model", "dataset", "target_expression"]
    )
    adapted, adaptation_notes = adaptation_marks(per_pair)
    summary["target_images_in_training"] = [
        (m, d) in adapted for m, d in zip(summary["model"], summary["dataset"], strict=True)
    ]
    info = {}
    for frame in per_pair:
        name = frame["dataset"].iloc[0]
        info[name] = {
            "ood": bool(frame.attrs.get("ood")),
            "outputs": len(frame),
            "sources": frame["source_id"].nunique(),
        }
    paths = write_tables(
        summary,
        per_expression,
        models,
        datasets,
        columns,
        info,
        record,
        layout.tables_dir(params),
        missing=set(level.missing),
        flagged=set(level.flags),
        extra_notes=set_level.notes(level, columns) + adaptation_notes,
        adapted=adapted,
    )
    targets = list(params["targets"])
    figure_sources = int((params.get("report") or {}).get("figure_sources", 3))
    for dataset in datasets:
        root = layout.dataset_dir(params, dataset)
        sources = source_faces(params, dataset).head(figure_sources)
        manifest = read_manifest(root, check_files=False)
        real = manifest.sort_values("image_id").drop_duplicates(["subject", "expression"])
        real_file = {(r.subject, r.expression): root / r.file for r in real.itertuples()}
        input_file = {r.image_id: root / r.file for r in sources.itertuples()}
        reference_file = {
            (r.image_id, t): real_file[(r.subject, t)]
            for r in sources.itertuples()
            for t in targets
            if (r.subject, t) in real_file
        }
        output_file = {}
        for model in models:
            out_root = layout.outputs_dir(params, model, dataset)
            for r in read_outputs(params, model, dataset).itertuples():
                output_file[(model, r.source_id, r.target_expression)] = out_root / r.file
        grid = comparison_grid(
            dataset, sources, targets, models, output_file, input_file, reference_file
        )
        paths += save_figure(grid, *_figure_paths(params, f"comparison_{dataset}"), record)
        subset = records[records["dataset"] == dataset]
        plot = per_expression_plot(subset, value_columns, dataset, targets, seed)
        paths += save_figure(plot, *_figure_paths(params, f"per_expression_{dataset}"), record)
    if "reggan" in models:  # the paper's Figure 3: input | G_E | G_R | real target
        from bench.report.figure3 import figure3

        dataset = params["train_dataset"]
        paths += figure3(params, dataset, *_figure_paths(params, f"figure3_{dataset}"), record)
    console.print(f"report: {len(paths)} files under {layout.tables_dir(params).parent}")
    return paths
