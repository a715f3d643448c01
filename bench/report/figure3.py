"""The paper's Figure 3: input | G_E output | G_R output | real target, for a few test faces.

It shows what each RegGAN stage contributes: the expression layer's coarse
expression, then the adversarial refinement. The images are computed here from
the trained ``reggan`` checkpoint (on the CPU; a few faces), since the pipeline
only stores the final outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

MODEL = "reggan"
COLUMNS = ("input", "G_E output", "G_R output", "real target")


def stage_images(
    params: dict[str, Any], dataset: str, sources: int, targets: list[str]
) -> list[tuple[str, str, list[Any]]]:
    """Rows ``(source_id, target, [input, G_E, G_R, real or None])`` as uint8 (H, W, 3) arrays.

    Sources are the first ``sources`` neutral test faces of ``dataset`` (as in the
    comparison figure); the real target is the same subject's image of that
    expression when the dataset has one.
    """
    model = load_generator(layout.checkpoint_path(params, MODEL), expected_model=MODEL)
    root = layout.dataset_dir(params, dataset)
    faces = source_faces(params, dataset).head(sources)
    manifest = read_manifest(root, check_files=False)
    real = manifest.sort_values("image_id").drop_duplicates(["subject", "expression"])
    real_file = {(r.subject, r.expression): root / r.file for r in real.itertuples()}
    images = to_model_range(decode_images([root / f for f in faces["file"]]))
    rows = []
    for target in targets:
        labels = torch.full((len(images),), INDEX[target], dtype=torch.int64)
        with torch.inference_mode():
            coarse, refined = model.stages(images, labels)
        stages = [to_uint8(x).permute(0, 2, 3, 1).numpy() for x in (images, coarse, refined)]
        for i, face in enumerate(faces.itertuples()):
            path = real_file.get((face.subject, target))
            cells = [stage[i] for stage in stages] + [load_png(path) if path else None]
            rows.append((face.image_id, target, cells))
    order = {image_id: i for i, image_id in enumerate(faces["image_id"])}
    return sorted(rows, key=lambda row: order[row[0]])  # stable: targets stay in order


def figure3(
    params: dict[str, Any], dataset: str, out_png: Path, out_pdf: Path, record: dict[str, Any]
) -> list[Path]:
    """Draw Figure 3 for ``dataset`` from the ``reggan`` checkpoint; write PNG and PDF; return paths.

    Uses ``report.figure_sources`` test faces and every expression in ``targets``.
    """
    targets = parse_expressions(params["targets"])
    sources = int((params.get("report") or {}).get("figure_sources", 3))
    rows = stage_images(params, dataset, sources, targets)
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
    figure.suptitle(f"{dataset}: RegGAN stages (expression layer, then refinement)", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    return save_figure(figure, out_png, out_pdf, record)
