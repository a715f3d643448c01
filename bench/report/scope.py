"""Which (model, dataset) records a report covers: everything on disk that is current.

A record is current when it was made under the active profile and by the model's
current checkpoint (the ``generator.json`` sha256 it carries equals the file's).
The scope starts from the configuration's table (``models`` + ``adapted_models`` x
``eval_datasets``) plus whatever was just run, keeps each dataset for which every
model just run has a current record (with none just run: any model), then keeps the models with a current record
on every kept dataset, so the tables stay a full grid. What is left out is said.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench import layout
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.evaluate import read_records
from bench.scored import scored_names
from bench.stages import runs
from bench.synthesize import generator_checkpoint

if TYPE_CHECKING:
    from bench.config import Config


def stale_reason(config: Config, model: str, dataset: str) -> str | None:
    """None when every run of (model, dataset) has a current record (one per seed for a model
    trained per seed); else why not."""
    for run, _ in runs(config, model):
        seed = f" (seed {run.run_seed})" if layout.runs_per_seed(config, model) else ""
        path = layout.records_path(run, model, dataset)
        if not path.is_file():
            return f"no records{seed}"
        records = read_records(path)
        profile = (records.attrs.get("provenance") or {}).get("profile")
        if profile != config.profile:
            return f"made under profile {profile!r}{seed}"
        checkpoint: Path = generator_checkpoint(run, model, dataset)
        made_by = (records.attrs.get("generator") or {}).get("checkpoint_sha256")
        if not checkpoint.is_file() or made_by != sha256_file(checkpoint):
            return f"made by another checkpoint{seed}"
    return None


def current_scope(
    config: Config, models: list[str], datasets: list[str]
) -> tuple[list[str], list[str]]:
    """(models, datasets) to report: the just-run ones plus every current record (module doc);
    says once what a partial table leaves out."""
    kept_models, kept_datasets, left = scope(config, models, datasets)
    if left:  # a partial table: say once what it keeps and what it leaves out
        leaving = "; ".join(f"{', '.join(what)} ({why})" for why, what in left.items())
        console.print(
            f"report: keeping models {', '.join(kept_models)} on datasets "
            f"{', '.join(kept_datasets)}; leaving out {leaving}",
            highlight=False,
            soft_wrap=True,
        )
    return kept_models, kept_datasets


def scope(
    config: Config, models: list[str], datasets: list[str]
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """:func:`current_scope` without a word: (models, datasets, reason -> what it leaves out)."""
    all_models = list(dict.fromkeys([*config.table_models, *models]))
    all_datasets = list(dict.fromkeys([*config.eval_datasets, *datasets]))
    reasons = {(m, d): stale_reason(config, m, d) for m in all_models for d in all_datasets}
    current = {d: [reasons[m, d] is None for m in (models or all_models)] for d in all_datasets}
    kept_datasets = [
        d for d in all_datasets if d in datasets or (all(current[d]) if models else any(current[d]))
    ]
    kept_models = [m for m in all_models if all(reasons[m, d] is None for d in kept_datasets)]
    kept_models += [  # rows of `bench score`: on the datasets they were scored on (bench/score.py)
        m
        for m in scored_names(config)
        if m not in kept_models and any(stale_reason(config, m, d) is None for d in kept_datasets)
    ]
    if not kept_models or not kept_datasets:
        (model, dataset), reason = next((k, r) for k, r in reasons.items() if r)
        raise UserError(
            f"nothing to report: {reason} for {model} on {dataset} at "
            f"{layout.records_path(config, model, dataset)} (run `bench evaluate` or `bench run`)"
        )
    left: dict[str, list[str]] = {}  # reason -> what it leaves out
    for model in (m for m in all_models if m not in kept_models):
        why = next(r for d in kept_datasets if (r := reasons[model, d]))
        left.setdefault(why, []).append(f"model {model}")
    for dataset in (d for d in all_datasets if d not in kept_datasets):
        model, why = next((m, r) for m in models or all_models if (r := reasons[m, dataset]))
        left.setdefault(f"{model}: {why}", []).append(f"dataset {dataset}")
    return kept_models, kept_datasets, left
