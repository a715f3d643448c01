"""Preparing the datasets that ``params.yaml`` declares (the ``data`` stage).

``datasets:`` maps a name to a spec with a ``kind``:

- ``synthetic``: the embedded procedural faces -> ``data/synthetic`` (train/test)
  and one OOD set ``data/synthetic_<style>`` per style;
- ``cfee``: ``root`` = a copy of CFEE_Database_230 -> ``data/<name>``;
- ``folder``: ``root`` = any folder of face photos -> ``data/<name>`` (OOD, neutral sources).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import layout
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar

KINDS = ("synthetic", "cfee", "folder")


def declared_datasets(params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every dataset name the params can produce -> (producing spec name, spec)."""
    names: dict[str, tuple[str, dict[str, Any]]] = {}
    for spec_name, spec in (params.get("datasets") or {}).items():
        kind = (spec or {}).get("kind")
        if kind not in KINDS:
            raise UserError(
                f"params datasets.{spec_name}: kind must be one of {', '.join(KINDS)}, got {kind!r}"
            )
        if kind == "synthetic":
            names[spec_name] = (spec_name, spec)
            for style in params["synthetic"]["styles"]:
                names[f"{spec_name}_{style}"] = (spec_name, spec)
        else:
            if not spec.get("root"):
                raise UserError(f"params datasets.{spec_name}: set `root` to the folder to ingest")
            names[spec_name] = (spec_name, spec)
    return names


def check_dataset_names(params: dict[str, Any], names: list[str]) -> list[str]:
    """Validate dataset names against the declared ones; clear error listing valid names."""
    from bench.core.registry import LazyRegistry

    valid = LazyRegistry("dataset", {n: "" for n in declared_datasets(params)})
    return valid.parse(names)


def prepare(params: dict[str, Any], specs: list[str] | None = None) -> list[Path]:
    """Prepare the named dataset specs (default: all declared); return the folders written."""
    declared = params.get("datasets") or {}
    specs = specs or list(declared)
    written: list[Path] = []
    for spec_name in specs:
        if spec_name not in declared:
            raise UserError(
                f"no dataset spec {spec_name!r} in params; declared: {', '.join(declared)}"
            )
        spec = declared[spec_name]
        written += _prepare_one(params, spec_name, spec)
    return written


def _prepare_one(params: dict[str, Any], name: str, spec: dict[str, Any]) -> list[Path]:
    size = int(params["image_size"])
    seed = int(spec.get("seed", params["seed"]))
    out = layout.dataset_dir(params, name)
    kind = spec["kind"]
    if kind == "synthetic":
        from datasets.synthetic import generate

        syn = params["synthetic"]
        total = (syn["train_subjects"] + syn["test_subjects"]) * 7 * syn["images_per_expression"]
        total += syn["ood_subjects"] * 7 * len(syn["styles"])
        with progress_bar(f"synthetic faces ({size} px)", total) as advance:
            roots = generate(
                out.parent,
                seed=seed,
                image_size=size,
                train_subjects=syn["train_subjects"],
                test_subjects=syn["test_subjects"],
                ood_subjects=syn["ood_subjects"],
                images_per_expression=syn["images_per_expression"],
                styles=syn["styles"],
                progress=advance,
            )
        if out.name != "synthetic":
            raise UserError("the synthetic dataset spec must be named `synthetic`")
        return roots
    ingest = params.get("ingest", {})
    root = Path(spec["root"]).expanduser()
    if kind == "cfee":
        from datasets.cfee import ingest_cfee

        with progress_bar(f"CFEE ingest -> {out}", None) as advance:
            summary = ingest_cfee(
                root,
                out,
                image_size=size,
                test_fraction=float(spec.get("test_fraction", 0.2)),
                seed=seed,
                progress=advance,
            )
    else:
        from datasets.folder import ingest_folder

        with progress_bar(f"folder ingest {root} -> {out}", None) as advance:
            summary = ingest_folder(
                root,
                out,
                name=name,
                image_size=size,
                min_face_px=int(ingest.get("min_face_px", 40)),
                progress=advance,
            )
    console.print(
        f"{name}: {summary.ingested} ingested, {summary.skipped} skipped "
        f"({', '.join(f'{k}: {v}' for k, v in summary.reasons.items()) or 'none'}); "
        f"report: {summary.report_path}"
    )
    for note in summary.notes:
        console.print(f"note: {note}")
    return [out]
