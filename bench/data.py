"""Preparing the datasets that ``params.yaml`` declares (the ``data`` stage).

``datasets:`` maps a name to a spec with a ``kind``:

- ``synthetic``: the embedded procedural faces -> ``data/synthetic`` (train/test)
  and one OOD set ``data/synthetic_<style>`` per style;
- ``cfee``: ``root`` = a copy of CFEE_Database_230 -> ``data/<name>``;
- ``folder``: ``root`` = any folder of face photos -> ``data/<name>`` (OOD, neutral sources).
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench import fingerprint, layout
from bench.config.schema import DATASET_NAME
from bench.core import atomic
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar

if TYPE_CHECKING:
    from bench.config import Config
    from bench.config.schema import DatasetSpec

KINDS = ("synthetic", "cfee", "folder")


def check_dataset_names(config: Config, names: str | list[str]) -> list[str]:
    """Validate dataset names against the declared ones; the error says how to declare one."""
    declared = config.declared_datasets()
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


def spec_outputs(config: Config, spec_name: str) -> list[str]:
    """The dataset names a spec prepares (synthetic: the set and its OOD styles)."""
    return [name for name, (spec, _) in config.declared_datasets().items() if spec == spec_name]


def data_mismatch(config: Config, name: str) -> str | None:
    """None when ``data/<name>`` is prepared with the current configuration; else why to
    prepare it."""
    from datasets.manifest import MANIFEST

    folder = layout.dataset_dir(config, name)
    if not (folder / MANIFEST).is_file():
        return "not prepared yet"
    spec_name = config.declared_datasets()[name][0]
    return fingerprint.difference(
        fingerprint.read_data_fingerprint(folder), fingerprint.data_fingerprint(config, spec_name)
    )


def prepare(config: Config, specs: list[str] | None = None) -> list[Path]:
    """Prepare the named dataset specs (default: all declared); return the folders written."""
    declared = config.datasets
    specs = specs or list(declared)
    written: list[Path] = []
    for spec_name in specs:
        if spec_name not in declared:
            raise UserError(
                f"no dataset spec {spec_name!r} in params; declared: {', '.join(declared)}"
            )
        written += _prepare_one(config, spec_name, declared[spec_name])
    return written


def _prepare_one(config: Config, name: str, spec: DatasetSpec) -> list[Path]:
    """Prepare one spec all or nothing: everything is written into a staging folder beside
    ``data/<name>`` and swapped in only when complete (a failure or a kill leaves the previous
    folders as they were)."""
    out = layout.dataset_dir(config, name)
    with atomic.naming(out):  # a full disk names data/<name>, not the staging folder
        out.parent.mkdir(parents=True, exist_ok=True)
        for dataset in spec_outputs(config, name):
            atomic.clean_stale_dirs(layout.dataset_dir(config, dataset))
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{name}.staging-"))
        try:
            record = fingerprint.data_fingerprint(config, name)
            if spec.kind == "synthetic":
                built = _generate_synthetic(config, name, staging)
                for root in built:
                    fingerprint.write_data_fingerprint(root, record)
                    atomic.replace_dir(root, out.parent / root.name)
                return [out.parent / root.name for root in built]
            try:
                summary = _ingest(config, name, spec, staging / name, out)
            except UserError as error:
                raise UserError(_keep_failed_report(error, staging / name, out)) from None
            fingerprint.write_data_fingerprint(staging / name, record)
            atomic.replace_dir(staging / name, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    console.print(
        f"{name}: {summary.ingested} ingested, {summary.skipped} skipped "
        f"({', '.join(f'{k}: {v}' for k, v in summary.reasons.items()) or 'none'}); "
        f"report: {out / summary.report_path.name}",
        soft_wrap=True,
    )
    for note in summary.notes:
        console.print(f"note: {note}", soft_wrap=True)
    return [out]


def _generate_synthetic(config: Config, name: str, parent: Path) -> list[Path]:
    from datasets.synthetic import generate

    syn, size = config.synthetic, config.image_size
    total = (syn.train_subjects + syn.test_subjects) * 7 * syn.images_per_expression
    total += syn.ood_subjects * 7 * len(syn.styles)
    with progress_bar(f"synthetic faces ({size} px)", total) as advance:
        return generate(
            parent,
            seed=config.dataset_seed(name),
            image_size=size,
            train_subjects=syn.train_subjects,
            test_subjects=syn.test_subjects,
            ood_subjects=syn.ood_subjects,
            images_per_expression=syn.images_per_expression,
            styles=list(syn.styles),
            progress=advance,
        )


def _ingest(config: Config, name: str, spec: DatasetSpec, staged: Path, out: Path):
    """Ingest a ``cfee`` or ``folder`` spec into ``staged`` (to become ``out``)."""
    from bench.weights_lock import pull_assets

    root = Path(spec.root).expanduser()
    size, seed = config.image_size, config.dataset_seed(name)
    pull_assets(config, ["datasets"])  # the face aligner, on a fresh machine too
    if spec.kind == "cfee":
        from datasets.align import FaceAligner
        from datasets.cfee import ingest_cfee

        aligner = FaceAligner(size, min_face_px=config.ingest.min_face_px)
        with progress_bar(f"CFEE ingest -> {out}", None) as advance:
            return ingest_cfee(
                root,
                staged,
                image_size=size,
                test_fraction=spec.test_fraction,
                seed=seed,
                aligner=aligner,
                progress=advance,
            )
    from datasets.folder import ingest_folder

    with progress_bar(f"folder ingest {root} -> {out}", None) as advance:
        return ingest_folder(
            root,
            staged,
            name=name,
            image_size=size,
            min_face_px=config.ingest.min_face_px,
            progress=advance,
            exclude=out,
        )


def _keep_failed_report(error: UserError, staged: Path, out: Path) -> str:
    """A failed ingest's message, its per-file report kept as ``data/<name>.ingest_report.csv``
    (the dataset folder itself is left as it was)."""
    from datasets.ingest import REPORT

    message = str(error)
    report = staged / REPORT
    if report.is_file():
        kept = out.parent / f"{out.name}.{REPORT}"
        shutil.copyfile(report, kept)
        message = message.replace(str(report), str(kept))
    return message.replace(str(staged), str(out))


def declare_folder_dataset(params_file: Path, name: str, root: Path, replace: bool = False) -> bool:
    """Add ``datasets.<name>: {kind: folder, root}`` and ``name`` to every ``eval_datasets`` list
    of the params file (comments and layout kept; written atomically). Returns True if changed.

    A name already declared for another folder or kind is a one-line error (another folder:
    unless ``replace``).
    """
    import io
    import re

    from ruamel.yaml import YAML

    from bench.core import atomic

    if not re.fullmatch(DATASET_NAME, name):
        raise UserError(f"dataset name {name!r}: use letters, digits, '_' or '-'")
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
    replaceable = replace and existing is not None and existing.get("kind") == "folder"
    if existing is not None and dict(existing) != spec and not replaceable:
        raise UserError(
            f"{params_file}: datasets.{name} is already declared as {dict(existing)}; "
            "choose another --name or edit it there"
        )
    changed = existing is None or dict(existing) != spec
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
