"""Image grids laid out wide: one block per source face, blocks side by side.

A block is a small grid of images: its rows are labelled on the left of the first block of
each line (models, or a model's stages, then the real target), its columns on top (the input,
then each target expression). Blocks sit side by side, a new line every :data:`MAX_COLUMNS`
image columns, so a grid of a few faces is a landscape figure that fits a page width, not a
tall strip. Positions are computed in inches (no automatic layout): the same inputs give the
same figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from datasets.png import load_png  # noqa: E402

Image = Path | np.ndarray | None
"""A cell: a PNG file, an uint8 (H, W, 3) array, or None (left blank)."""

MAX_COLUMNS = 24
"""Image columns per line of blocks, at most (a block wider than this still gets a line)."""
CELL = 0.8
"""Side of one image, inches."""
GAP = 0.04
"""Between images of a block, inches."""
BLOCK_GAP = 0.3
"""Between blocks, inches (horizontally and vertically)."""
TITLE = 0.4
"""Above everything: the figure title, inches."""
HEAD = 0.42
"""Above each block: its title and the column titles, inches."""
CHAR = 0.055
"""Width of one 7 pt label character, inches (for the left margin)."""


def image_blocks(
    title: str,
    blocks: list[tuple[str, list[list[Image]]]],
    row_labels: list[str],
    column_titles: list[str],
) -> plt.Figure:
    """A figure of ``blocks`` (block title, ``cells[row][column]``), each ``len(row_labels)`` x
    ``len(column_titles)`` images, laid out wide (module doc), ``title`` on top."""
    rows, columns = len(row_labels), len(column_titles)
    per_line = max(1, min(len(blocks), MAX_COLUMNS // max(columns, 1)))
    lines = -(-len(blocks) // per_line)
    block_w = columns * CELL + (columns - 1) * GAP
    block_h = HEAD + rows * CELL + (rows - 1) * GAP
    left = 0.15 + CHAR * max(len(label) for label in row_labels)
    width = left + per_line * block_w + (per_line - 1) * BLOCK_GAP + 0.1
    height = TITLE + lines * block_h + (lines - 1) * BLOCK_GAP + 0.1
    figure = plt.figure(figsize=(width, height))
    figure.text(0.5, 1 - 0.1 / height, title, ha="center", va="top", fontsize=10)
    for index, (name, cells) in enumerate(blocks):
        line, slot = divmod(index, per_line)
        x0 = left + slot * (block_w + BLOCK_GAP)
        top = height - TITLE - line * (block_h + BLOCK_GAP)
        figure.text(
            (x0 + block_w / 2) / width, top / height, name, ha="center", va="top", fontsize=8
        )
        for r in range(rows):
            for c in range(columns):
                x = x0 + c * (CELL + GAP)
                y = top - HEAD - (r + 1) * CELL - r * GAP
                axis = figure.add_axes((x / width, y / height, CELL / width, CELL / height))
                axis.set_xticks([])
                axis.set_yticks([])
                for spine in axis.spines.values():
                    spine.set_visible(False)
                image = cells[r][c]
                if image is not None:
                    pixels = load_png(image) if isinstance(image, Path) else image
                    axis.imshow(pixels, interpolation="nearest")
                if r == 0:
                    axis.set_title(column_titles[c], fontsize=7, pad=2)
                if slot == 0 and c == 0:
                    axis.set_ylabel(row_labels[r], fontsize=7, rotation=0, ha="right", va="center")
    return figure
