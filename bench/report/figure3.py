"""A model's stages figure: input | each intermediate output | real target, for a few test faces.

For models that declare intermediate outputs (:attr:`models.base.Generator.stage_names`),
e.g. RegGAN's expression layer then refinement (the paper's Figure 3: input | G_E output |
G_R output | real target). The images are computed here from the model's trained checkpoint
(on the CPU; a few faces), since the pipeline only stores the final outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from bench import layout  # noqa: E402
from bench.core.tensors import to_model_range, to_uint8  # noqa: E402
from bench.core.vocabulary import INDEX, parse_expressions  # noqa: E402
from bench.report.figures import save_figure  # noqa: E402
from bench.synthesize import source_faces  # noqa: E402
from datasets.manifest import read_manifest  # noqa: E402
from datasets.png import load_png  # noqa: E402
from datasets.tensors import decode_images  # noqa: E402
from models.base import load_generator  # noqa: E402

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
    COLUMNS = columns(MODELS.load(model_name))  # noqa: N806
    figure, axes = plt.subplots(
        len(rows),
        len(COLUMNS),
        figsize=(1.1 * len(COLUMNS) + 0.8, 1.1 * len(rows) + 0.4),
        squeeze=False,
    )
    for r, (source, target, cells) in enumerate(rows):
        for c, pixels in enumerate(cells):
            axis = axes[r, c]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if pixels is not None:
                axis.imshow(pixels, interpolation="nearest")
            if r == 0:
                axis.set_title(COLUMNS[c], fontsize=8)
        label = f"{source}\n→ {target}" if target == targets[0] else f"→ {target}"
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(f"{dataset}: {model_name} stages ({', '.join(COLUMNS[1:-1])})", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    return save_figure(figure, out_png, out_pdf, record)
