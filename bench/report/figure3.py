"""A model's stages figure: per test face, its input, then per target expression each
intermediate output and the real target (laid out wide, :mod:`bench.report.image_grid`).

For models that declare intermediate outputs (:attr:`models.base.Generator.stage_names`),
e.g. RegGAN's expression layer then refinement (the paper's Figure 3: input | G_E output |
G_R output | real target). The images are computed here from the model's trained checkpoint
(on the CPU; a few faces), since the pipeline only stores the final outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench import layout
from bench.core.tensors import to_model_range, to_uint8
from bench.core.vocabulary import INDEX, parse_expressions
from bench.report.figures import save_figure
from bench.report.image_grid import image_blocks
from bench.synthesize import source_faces
from datasets.manifest import read_manifest
from datasets.png import load_png
from datasets.tensors import decode_images
from models.base import load_generator

if TYPE_CHECKING:
    from bench.config import Config


def columns(model_class: type) -> tuple[str, ...]:
    """The figure's columns for a model class: input, its stages, real target."""
    return ("input", *model_class.stage_names, "real target")


def stage_images(
    config: Config, dataset: str, sources: int, targets: list[str], model_name: str
) -> list[tuple[str, str, list[Any]]]:
    """Rows ``(source_id, target, [input, *stages, real or None])`` as uint8 (H, W, 3) arrays.

    Sources are the first ``sources`` neutral test faces of ``dataset`` (as in the
    comparison figure); the real target is the same subject's image of that
    expression when the dataset has one.
    """
    model = load_generator(layout.checkpoint_path(config, model_name), expected_model=model_name)
    root = layout.dataset_dir(config, dataset)
    faces = source_faces(config, dataset).head(sources)
    manifest = read_manifest(root, check_files=False)
    real = manifest.sort_values("image_id").drop_duplicates(["subject", "expression"])
    real_file = {(r.subject, r.expression): root / r.file for r in real.itertuples()}
    images = to_model_range(decode_images([root / f for f in faces["file"]]))
    rows = []
    for target in targets:
        labels = torch.full((len(images),), INDEX[target], dtype=torch.int64)
        with torch.inference_mode():
            outputs = model.stages(images, labels)
        stages = [to_uint8(x).permute(0, 2, 3, 1).numpy() for x in (images, *outputs)]
        for i, face in enumerate(faces.itertuples()):
            path = real_file.get((face.subject, target))
            cells = [stage[i] for stage in stages] + [load_png(path) if path else None]
            rows.append((face.image_id, target, cells))
    order = {image_id: i for i, image_id in enumerate(faces["image_id"])}
    return sorted(rows, key=lambda row: order[row[0]])  # stable: targets stay in order


def figure3(
    config: Config,
    dataset: str,
    out_png: Path,
    out_pdf: Path,
    record: dict[str, Any],
    model_name: str,
) -> list[Path]:
    """Draw the stages figure of ``model_name`` on ``dataset`` from its checkpoint; write PNG and
    PDF; return paths. Uses ``report.figure_sources`` test faces and every target expression.
    """
    from models.registry import MODELS

    targets = parse_expressions(config.targets)
    sources = config.report.figure_sources
    rows = stage_images(config, dataset, sources, targets, model_name)
    names = columns(MODELS.load(model_name))[1:]  # the stages, then the real target
    blocks: dict[str, list[list[Any]]] = {}
    for source, target, cells in rows:  # cells: input, each stage, real target
        block = blocks.setdefault(f"source {source}", [[None] * (len(targets) + 1) for _ in names])
        block[0][0] = cells[0]
        column = targets.index(target) + 1
        for r, pixels in enumerate(cells[1:]):
            block[r][column] = pixels
    title = f"{dataset}: {model_name} stages ({', '.join(names[:-1])}) per target expression"
    figure = image_blocks(title, list(blocks.items()), list(names), ["input", *targets])
    return save_figure(figure, out_png, out_pdf, record)
