"""Preparing the datasets that ``params.yaml`` declares (the ``data`` stage).

``datasets:`` maps a name to a spec with a ``kind``:

- ``synthetic``: the embedded procedural faces -> ``data/synthetic`` (train/test)
  and one OOD set ``data/synthetic_<style>`` per style;
- ``cfee``: ``root`` = a copy of CFEE_Database_230 -> ``data/<name>``;
- ``folder``: ``root`` = any folder of face photos -> ``data/<name>`` (OOD, neutral sources).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from bench import fingerprint, layout
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
    """Validate dataset names against the declared ones; the error says how to declare one."""
    declared = declared_datasets(params)
    chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    unknown = [n for n in chosen if n and n not in declared]
    if unknown:
        close = difflib.get_close_matches(unknown[0], declared, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(
            f"unknown dataset {unknown[0]!r}{hint}: params.yaml declares {', '.join(declared)}; "
            f"add a folder of photos with `bench data folder PATH --name {unknown[0]}` "
            "(it declares the set in params.yaml), or declare it under `datasets:` yourself"
        )
    return [n for n in chosen if n]


def spec_outputs(params: dict[str, Any], spec_name: str) -> list[str]:
    """The dataset names a spec prepares (synthetic: the set and its OOD styles)."""
    return [name for name, (spec, _) in declared_datasets(params).items() if spec == spec_name]


def data_mismatch(params: dict[str, Any], name: str) -> str | None:
    """None when ``data/<name>`` is prepared with the current params; else why to prepare it."""
    from datasets.manifest import MANIFEST

    folder = layout.dataset_dir(params, name)
    if not (folder / MANIFEST).is_file():
        return "not prepared yet"
    spec_name = declared_datasets(params)[name][0]
    return fingerprint.difference(
        fingerprint.read_data_fingerprint(folder), fingerprint.data_fingerprint(params, spec_name)
    )


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
        for name in spec_outputs(params, spec_name):
            fingerprint.clear_data_fingerprint(layout.dataset_dir(params, name))
        roots = _prepare_one(params, spec_name, spec)
        record = fingerprint.data_fingerprint(params, spec_name)
        for root in roots:
            fingerprint.write_data_fingerprint(root, record)
        written += roots
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
        from datasets.align import FaceAligner
        from datasets.cfee import ingest_cfee

        aligner = FaceAligner(size, min_face_px=int(ingest.get("min_face_px", 40)))
        with progress_bar(f"CFEE ingest -> {out}", None) as advance:
            summary = ingest_cfee(
                root,
                out,
                image_size=size,
                test_fraction=float(spec.get("test_fraction", 0.2)),
                seed=seed,
                aligner=aligner,
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


def declare_folder_dataset(params_file: Path, name: str, root: Path) -> bool:
    """Add ``datasets.<name>: {kind: folder, root}`` and ``name`` to every ``eval_datasets`` list
    of the params file (comments and layout kept; written atomically). Returns True if changed.

    A name already declared for another folder or kind is a one-line error.
    """
    import io
    import re

    from ruamel.yaml import YAML

    from bench.core import atomic

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"dataset name {name!r}: use letters, digits, '_', '-' or '.'")
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # keep long flow-style lines whole
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(Path(params_file).read_text(encoding="utf-8"))
    datasets = document.get("datasets")
    if datasets is None:
        document["datasets"] = datasets = {}
    spec = {"kind": "folder", "root": str(root)}
    existing = datasets.get(name)
    if existing is not None and dict(existing) != spec:
        raise UserError(
            f"{params_file}: datasets.{name} is already declared as {dict(existing)}; "
            "choose another --name or edit it there"
        )
    changed = existing is None
    if changed:
        datasets[name] = spec
    lists = [document] + [p for p in (document.get("profiles") or {}).values() if p]
    for section in lists:
        names = section.get("eval_datasets")
        if names is not None and name not in names:
            names.append(name)
            changed = True
    if changed:
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        atomic.write_text(params_file, buffer.getvalue())
    return changed
