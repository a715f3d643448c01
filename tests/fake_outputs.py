"""Tiny synthesized-output fixtures for the study kit and the report page (no training)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import generate_tiny_sets, tiny_params

from bench import layout
from bench.config import Config, load_config
from bench.core.hashing import sha256_file
from bench.synthesize import OUTPUTS_MANIFEST, source_faces
from datasets.png import load_png, save_png
from metrics.base import SetValue

TARGETS = ["happy", "sad"]


def fake_project(
    root: Path,
    models: list[str],
    datasets: tuple[str, ...] = ("synthetic",),
    seeds: tuple[int, ...] = (0,),
    seed_data: str = "first",
) -> Path:
    """Write a tiny synthetic data set (32 px, 3 test subjects; with ``seed_data: per_seed``
    one per seed, each generated with its seed) and, for each model (and, with several
    ``seeds``, each seed of a model trained per seed), outputs for every source face and
    target: the source face tinted by a model- (and seed-) specific colour. Returns the
    params file (everything under ``root``)."""
    from bench.stages import data_runs, runs

    params = tiny_params(root)
    params["eval_datasets"] = list(datasets)
    params["targets"] = TARGETS
    params["models"] = models
    params["adapted_models"] = []
    params["seeds"] = list(seeds)
    params["seed_data"] = seed_data
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    config = load_config(path)
    for run, _ in data_runs(config):
        generate_tiny_sets(root, train_subjects=1, seed=run.data_seed, into=layout.data_dir(run))
    for number, model in enumerate(models):
        for rank, (run, _) in enumerate(runs(config, model)):
            tint = np.array([40 * number, 255 - 40 * number, 90 + 50 * rank], dtype=np.int16)
            for dataset in datasets:
                _fake_outputs(run, layout.outputs_dir(run, model, dataset), dataset, tint)
    return path


def _fake_outputs(config: Config, folder: Path, dataset: str, tint: np.ndarray) -> None:
    """One run's outputs on ``dataset`` in ``folder``: each source face tinted, and outputs.csv."""
    rows = []
    for face in source_faces(config, dataset).itertuples():
        pixels = load_png(layout.dataset_dir(config, dataset) / face.file).astype(np.int16)
        for shift, target in enumerate(TARGETS):
            rel = f"{target}/{face.image_id}.png"
            image = ((pixels + tint + 30 * shift) // 2).clip(0, 255).astype(np.uint8)
            save_png(image, folder / rel)
            rows.append(
                {
                    "output_id": f"{face.image_id}__{target}",
                    "source_id": face.image_id,
                    "subject": face.subject,
                    "target_expression": target,
                    "file": rel,
                    "sha256": sha256_file(folder / rel),
                }
            )
    pd.DataFrame(rows).to_csv(folder / OUTPUTS_MANIFEST, index=False)


def fake_records(
    config: Config,
    quality: dict[str, tuple[float, float]],
    set_values: Callable[[str, str], list[SetValue]] | None = None,
) -> None:
    """Per-image records for every model in ``quality`` on every eval dataset: ECS-FER and
    FSS drawn around ``quality[model] = (ecs, fss)`` (seeded), L1 around 0.2; with
    ``set_values(model, dataset)``, the set-level values stored with them."""
    from bench.core import provenance
    from bench.evaluate import write_evaluation
    from bench.synthesize import read_outputs

    rng = np.random.default_rng(0)
    for model, (ecs, fss) in quality.items():
        for dataset in config.eval_datasets:
            outputs = read_outputs(config, model, dataset)
            n = len(outputs)
            records = pd.DataFrame(
                {
                    "model": model,
                    "dataset": dataset,
                    "output_id": outputs["output_id"],
                    "source_id": outputs["source_id"],
                    "subject": outputs["subject"],
                    "target_expression": outputs["target_expression"],
                    "has_reference": True,
                    "ECS-FER": (rng.random(n) < ecs).astype(float),
                    "FSS": np.clip(fss + 0.02 * rng.standard_normal(n), -1, 1),
                    "L1": 0.2 + 0.01 * rng.standard_normal(n),
                }
            )
            records.attrs = {
                "provenance": provenance.collect(config),
                "ood": dataset != "synthetic",
            }
            if set_values is not None:
                records.attrs["set_values"] = [v.as_dict() for v in set_values(model, dataset)]
            write_evaluation(config, model, dataset, records)


def write_l1(config: Config, model: str, values: np.ndarray, dataset: str = "synthetic") -> None:
    """Records of ``model``'s run ``config`` on ``dataset`` (one row per output of its
    outputs.csv) with the given L1 ``values`` in the outputs' order: a report's input with
    hand-chosen scores."""
    from bench.core import provenance
    from bench.evaluate import write_evaluation
    from bench.synthesize import read_outputs

    outputs = read_outputs(config, model, dataset)
    records = outputs[["output_id", "source_id", "subject", "target_expression"]].copy()
    records.insert(0, "dataset", dataset)
    records.insert(0, "model", model)
    records["has_reference"] = True
    records["L1"] = values
    records.attrs = {"provenance": provenance.collect(config), "ood": False}
    write_evaluation(config, model, dataset, records)
