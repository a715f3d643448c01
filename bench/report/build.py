"""Collect the records of every (model, dataset), aggregate once, write tables and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench import fingerprint, layout
from bench.core import atomic, provenance
from bench.core.progress import console
from bench.evaluate import metric_columns
from bench.report import curves, pairwise, scored, seeds, set_level, set_pairs
from bench.report.columns import known_columns, label_columns
from bench.report.confusion import confusion_figure, confusion_long
from bench.report.figures import comparison_grid, per_expression_plot, save_figure
from bench.report.html import DatasetSection, write_report_html
from bench.report.pareto import pareto_figure, scatter_points
from bench.report.tables import (
    REFERENCE_MODELS,
    Marks,
    dataset_notes,
    dataset_table,
    legend,
    mark_notes,
    notes,
    sidecar_path,
    write_tables,
)
from bench.synthesize import read_outputs, source_faces
from datasets.manifest import read_manifest
from metrics.aggregate import summarise

if TYPE_CHECKING:
    from bench.config import Config


def report_record(config: Config, records: list[pd.DataFrame]) -> dict[str, Any]:
    """Provenance of the report: configuration, code, versions, and every record file's inputs and weights."""
    weights: dict[str, str] = {}
    inputs: dict[str, str] = {}
    for frame in records:
        weights.update(frame.attrs.get("provenance", {}).get("weights_sha256", {}))
        inputs.update(frame.attrs.get("provenance", {}).get("inputs_sha256", {}))
    return provenance.collect(config, weights=weights, inputs=inputs)


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


def imported_marks(per_pair: list[pd.DataFrame]) -> tuple[set[str], list[str]]:
    """Models whose checkpoint came from ``bench import`` (the authors' released generator),
    with a footnote naming each source file (from ``generator.json``)."""
    sources: dict[str, dict[str, Any]] = {}
    for frame in per_pair:
        imported = (frame.attrs.get("generator") or {}).get("imported")
        if imported:
            sources[frame["model"].iloc[0]] = imported
    notes = [
        f"§ {model}: the authors' released generator {info['source']} "
        f"(sha256 {info['sha256'][:12]}…), imported with `bench import`, not trained here."
        for model, info in sources.items()
    ]
    return set(sources), notes


def _figure_paths(config: Config, stem: str) -> tuple[Path, Path]:
    return layout.figures_dir(config) / f"{stem}.png", layout.pdf_dir(config) / f"{stem}.pdf"


def confusion_outputs(
    config: Config,
    records: pd.DataFrame,
    columns: list[str],
    targets: list[str],
    record: dict[str, Any],
) -> list[Path]:
    """ECS classifiers' confusion matrices: ``tables/confusion.csv`` (long counts) and a figure
    ``confusion_<model>__<dataset>`` per pair whose records keep predictions; none without."""
    present = [c for c in columns if c in records and records[c].notna().any()]
    if not present:
        return []
    counts = confusion_long(records, present, targets)
    path = layout.tables_dir(config) / "confusion.csv"
    sidecar = sidecar_path(path)
    atomic.write_text(path, counts.to_csv(index=False, lineterminator="\n"))
    atomic.write_text(sidecar, json.dumps(record, indent=2, sort_keys=True) + "\n")
    paths = [path, sidecar]
    for (model, dataset), group in records.groupby(["model", "dataset"], sort=False):
        title = f"{model} on {dataset}: ECS classifiers' predictions of the outputs"
        figure = confusion_figure(group, present, targets, title)
        paths += save_figure(
            figure, *_figure_paths(config, f"confusion_{model}__{dataset}"), record
        )
    return paths


def report(config: Config, models: list[str], datasets: list[str]) -> list[Path]:
    """Write results/tables/*, results/figures/* and results/report.html for ``models`` x
    ``datasets``; return the paths. Models trained per seed (several ``seeds``) count with
    their seed-averaged scores and the across-seed spread (:mod:`bench.report.seeds`)."""
    absent = scored.absent_pairs(config, models, datasets)  # `bench score` rows: where scored
    covered = [(m, d) for m in models for d in datasets if (m, d) not in absent]
    per_pair, per_run = seeds.read_runs(config, covered)
    every_run = [frame for frames in per_run.values() for _, frame in frames]
    seeded = pd.concat(every_run, ignore_index=True)  # one row per output and seed
    record = report_record(config, every_run)
    columns = known_columns(config.metrics)
    value_columns = [c for c in metric_columns(seeded) if c in columns]
    # one row per output: its mean over seeds (data per seed: one per seed and output)
    records = seeds.average(seeded, value_columns, pooled=config.data_per_seed)
    seed = config.seed
    options = dict(
        seed=seed,
        resamples=config.evaluation.bootstrap_resamples,
        confidence=config.evaluation.confidence,
    )
    summary = summarise(records, value_columns, by=["model", "dataset"], **options)
    per_expression = summarise(
        records, value_columns, by=["model", "dataset", "target_expression"], **options
    )
    by_pair, by_target = ["model", "dataset"], ["model", "dataset", "target_expression"]
    if seeds.SEED in seeded:  # several seeds: the across-seed spread beside each cell
        summary = seeds.with_spread(summary, seeds.spread(seeded, value_columns, by_pair), by_pair)
        per_expression = seeds.with_spread(
            per_expression, seeds.spread(seeded, value_columns, by_target), by_target
        )
    level = set_level.collect(every_run, columns)
    per_target = seeds.collapse(level.per_target, by_target)
    summary = set_level.combine(summary, seeds.collapse(level.overall, by_pair), columns, by_pair)
    per_expression = set_level.combine(per_expression, per_target, columns, by_target)
    adapted, adaptation_notes = adaptation_marks(per_pair)
    imported, imported_notes = imported_marks(per_pair)
    scored_rows, scored_notes = scored.scored_marks(per_pair)
    imported, imported_notes = imported | scored_rows, imported_notes + scored_notes
    summary["target_images_in_training"] = [
        (m, d) in adapted for m, d in zip(summary["model"], summary["dataset"], strict=True)
    ]
    info = {}
    for frame in per_pair:
        name = frame["dataset"].iloc[0]
        if name in info:  # the first model's counts (a scored row may have fewer)
            continue
        info[name] = {
            "ood": bool(frame.attrs.get("ood")),
            "outputs": len(frame),
            "sources": frame["source_id"].nunique(),
        }
    pairs = pairwise.compare(records, models, value_columns, **options)
    set_rows, unpaired = set_pairs.of_runs(config, per_run, models)
    if not set_rows.empty:
        raw = pd.concat([pairs.drop(columns="p_holm"), set_rows], ignore_index=True)
        pairs = pairwise.adjusted(raw, list(columns))
    top = pairwise.leaders(summary, pairs, columns, REFERENCE_MODELS)
    not_ahead = pairwise.not_ahead(top)
    extra_notes = set_level.notes(level, columns) + adaptation_notes + imported_notes
    extra_notes += seeds.note(config, models) + unpaired
    extra_notes += [pairwise.footnote()] if not_ahead else []
    footnotes = notes(record.get("profile", ""), extra_notes, config.evaluation.confidence)
    per_dataset = {
        name: dataset_notes(name, info[name], level.references.get(name)) for name in datasets
    }
    marks = Marks(set(level.missing), set(level.flags), adapted, imported, not_ahead)
    paths = write_tables(
        summary,
        per_expression,
        models,
        datasets,
        columns,
        record,
        layout.tables_dir(config),
        footnotes,
        per_dataset,
        marks,
        config.report.latex_columns,
    )
    paths += pairwise.write_pairwise(pairs, layout.tables_dir(config) / "pairwise.csv", record)
    sections = []
    targets = list(config.targets)
    figure_sources = config.report.figure_sources
    for dataset in datasets:
        root = layout.dataset_dir(config, dataset)
        sources = source_faces(config, dataset).head(figure_sources)
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
        present = [m for m in models if (m, dataset) not in absent]
        for model in present:
            out_root = layout.outputs_dir(config, model, dataset)
            for r in read_outputs(config, model, dataset).itertuples():
                output_file[(model, r.source_id, r.target_expression)] = out_root / r.file
        grid = comparison_grid(
            dataset, sources, targets, present, output_file, input_file, reference_file
        )
        paths += save_figure(grid, *_figure_paths(config, f"comparison_{dataset}"), record)
        subset = records[records["dataset"] == dataset]
        per_target_of = per_target[per_target["dataset"] == dataset]
        plot = per_expression_plot(
            subset,
            value_columns,
            dataset,
            targets,
            seed,
            per_target_of,
            columns,
            config.evaluation.confidence,
        )
        paths += save_figure(plot, *_figure_paths(config, f"per_expression_{dataset}"), record)
        table = dataset_table(summary, present, dataset, columns, marks)
        section = DatasetSection(
            dataset,
            table,
            [legend(config.evaluation.confidence), *per_dataset[dataset]]
            + mark_notes(table, footnotes),
            [
                (
                    f"{dataset}: input, then per target expression each model's output and the "
                    "real target",
                    _figure_paths(config, f"comparison_{dataset}")[0],
                ),
                (
                    f"{dataset}: mean per target expression ({config.evaluation.confidence:.0%} "
                    "bootstrap interval over images)",
                    _figure_paths(config, f"per_expression_{dataset}")[0],
                ),
            ],
        )
        section.pairwise = pairwise.section_html(pairs, top, dataset, models, columns)
        points = scatter_points(summary, dataset, models)
        if points is not None:
            png, pdf = _figure_paths(config, f"pareto_{dataset}")
            paths += save_figure(pareto_figure(points, dataset), png, pdf, record)
            caption = f"{dataset}: expression ({points.attrs['ecs_column']}) vs identity (FSS)"
            section.figures.append((f"{caption}, Pareto front dashed", png))
        sections.append(section)
    general = []
    confusion = confusion_outputs(  # every seed's predictions
        config, seeded, label_columns(config.metrics), targets, record
    )
    paths += confusion
    for section in sections:  # each model's confusion matrix on the dataset's page section
        for model in models:
            png = _figure_paths(config, f"confusion_{model}__{section.name}")[0]
            if png in confusion:
                section.figures.append((f"{model} on {section.name}: ECS confusion", png))
    from bench.report.figure3 import columns, figure3
    from models.registry import MODELS

    for model in models:  # models with intermediate outputs (the paper's Figure 3)
        if model in scored_rows or not MODELS.load(model).stage_names:
            continue
        dataset = config.train_dataset
        png, pdf = _figure_paths(config, f"stages_{model}_{dataset}")
        paths += figure3(config, dataset, png, pdf, record, model)
        general.append(
            (f"{model} stages ({dataset}): {', '.join(columns(MODELS.load(model)))}", png)
        )
    for label, history in curves.history_runs(config, models):  # each run's loss curves
        png, pdf = _figure_paths(config, f"training_{label.replace('/', '_')}")
        figure = curves.curves_figure(curves.read_history(history), label)
        paths += save_figure(figure, png, pdf, record)
        general.append((f"{label}: training losses and learning rates (history.csv)", png))
    html = layout.tables_dir(config).parent / "report.html"
    paths.append(write_report_html(html, sections, general, footnotes, record))
    fingerprint.write_report_fingerprint(config, covered)
    console.print(f"report: {len(paths)} files under {layout.tables_dir(config).parent}")
    return paths
