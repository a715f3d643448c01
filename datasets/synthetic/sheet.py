"""Contact sheet: a PNG grid of a prepared dataset, subjects by expressions, to eyeball it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench.core import atomic
from bench.core.vocabulary import EXPRESSIONS
from datasets.manifest import read_info, read_manifest
from datasets.png import load_png
from datasets.synthetic.checks import check_int


def contact_sheet(root: Path, out_path: Path, max_subjects: int = 8) -> None:
    """Write a PNG grid of a prepared dataset: one row per subject, one column per expression.

    Shows the first image (by ``image_id``) of each (subject, expression) for the first
    ``max_subjects`` subjects (sorted); missing cells are grey. Images smaller than 96 px are
    enlarged by an integer factor (nearest neighbour) so the pixels stay visible.
    """
    max_subjects = check_int("max_subjects", max_subjects, 1, where="contact sheet")
    root = Path(root)
    frame = read_manifest(root).sort_values("image_id")
    subjects = sorted(frame["subject"].unique())[:max_subjects]
    size = read_info(root).image_size
    cell = size * max(1, -(-96 // size))  # pixels per tile
    font = ImageFont.load_default(size=max(11, cell // 10))
    gap = 2
    label_w = int(max(font.getlength(str(s)) for s in subjects)) + 12
    label_h = int(font.size * 1.8)
    width = label_w + len(EXPRESSIONS) * (cell + gap)
    height = label_h + len(subjects) * (cell + gap)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    black = (0, 0, 0)
    for e, expression in enumerate(EXPRESSIONS):
        centre = (label_w + e * (cell + gap) + cell // 2, label_h // 2)
        draw.text(centre, expression, fill=black, font=font, anchor="mm")
    first = frame.drop_duplicates(["subject", "expression"]).set_index(["subject", "expression"])
    for r, subject in enumerate(subjects):
        top = label_h + r * (cell + gap)
        draw.text((label_w - 6, top + cell // 2), str(subject), fill=black, font=font, anchor="rm")
        for e, expression in enumerate(EXPRESSIONS):
            if (subject, expression) in first.index:
                pixels = load_png(root / first.loc[(subject, expression), "file"])
                tile = Image.fromarray(pixels).resize((cell, cell), Image.Resampling.NEAREST)
            else:
                tile = Image.new("RGB", (cell, cell), (200, 200, 200))
            sheet.paste(tile, (label_w + e * (cell + gap), top))
    with atomic.atomic_path(out_path) as tmp:
        sheet.save(tmp, format="PNG")
