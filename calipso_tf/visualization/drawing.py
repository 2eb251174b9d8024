"""Pictures of decoded triplets, drawn as in the paper's Figure 2.

Each (subject, target) pair gets one colour: the subject box is drawn solid, the
target box dashed, and the verb label sits on a filled background at the subject
box's top-left corner. Labels of one subject are stacked; a label that would cover
another subject's label is moved down until it is free.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Tableau 10 colours (RGB), then repeated.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
DASH = (6, 4)  # dashed target box: pixels drawn, pixels skipped


def draw_triplets(image: np.ndarray, triplets: dict[str, Any], verb_names: Sequence[str],
                  show_scores: bool = True) -> np.ndarray:
    """Draws one image's decoded triplets.

    Args:
      image: (H, W, 3) uint8 RGB (or anything `np.asarray` turns into it).
      triplets: one image of the `TripletDecoder` output (batch axis removed), boxes in
        the frame of ``image``.
      verb_names: name of each verb index.
      show_scores: append the triplet score to each label.

    Returns:
      (H, W, 3) uint8 RGB, a new array.
    """
    canvas = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = min(canvas.size)
    width = max(1, round(size / 250))
    font = _font(max(10, round(size / 40)))
    count = int(np.asarray(triplets["num_triplets"]))
    rows = [{k: np.asarray(triplets[k])[i] for k in ("subject_index", "object_index", "verb", "score",
                                                      "subject_box", "object_box")} for i in range(count)]
    colours: dict[tuple[int, int], tuple[int, int, int]] = {}
    for row in rows:
        colours.setdefault((int(row["subject_index"]), int(row["object_index"])), PALETTE[len(colours) % len(PALETTE)])
    # Highest-scoring pair last, so that a subject box shared by several pairs shows its colour.
    for (subject, target), colour in reversed(colours.items()):
        row = next(r for r in rows if (r["subject_index"], r["object_index"]) == (subject, target))
        draw.rectangle(_box(row["subject_box"]), outline=colour, width=width)
        if target >= 0:
            _dashed_rectangle(draw, _box(row["object_box"]), colour, width)
    placed: list[tuple[int, int, int, int]] = []
    stack_bottom: dict[int, int] = {}
    for row in sorted(rows, key=lambda r: (int(r["subject_index"]), -float(r["score"]))):
        subject = int(row["subject_index"])
        text = verb_names[int(row["verb"])] + (f" {float(row['score']):.2f}" if show_scores else "")
        x1, y1 = _box(row["subject_box"])[:2]
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        w, h = right - left + 2 * width, bottom - top + 2 * width
        rect = _free_slot((x1, stack_bottom.get(subject, y1), x1 + w, stack_bottom.get(subject, y1) + h), placed)
        colour = colours[(subject, int(row["object_index"]))]
        draw.rectangle(rect, fill=colour)
        draw.text((rect[0] + width - left, rect[1] + width - top), text, font=font, fill=_text_colour(colour))
        placed.append(rect)
        stack_bottom[subject] = rect[3] + 1
    return np.asarray(canvas)


def save_image(path: str, image: np.ndarray) -> None:
    """Writes an RGB uint8 array (format from the extension) atomically: temp file then rename."""
    from calipso_tf.fileio import atomic_write

    image_format = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if image_format is None:
        raise ValueError(f"{path}: unknown image extension")
    atomic_write(path, lambda f: Image.fromarray(np.asarray(image, np.uint8)).save(f, format=image_format), "wb")

def _box(box: np.ndarray) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return x1, y1, x2, y2


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour, width: int) -> None:
    x1, y1, x2, y2 = box
    on, off = DASH
    sides = ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False))
    for start, end, fixed, horizontal in sides:
        for a in range(start, end + 1, on + off):
            b = min(a + on - 1, end)
            draw.line([(a, fixed), (b, fixed)] if horizontal else [(fixed, a), (fixed, b)], fill=colour, width=width)


def _free_slot(rect: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """Moves rect down below every placed rect it overlaps, until it overlaps none."""
    x1, y1, x2, y2 = rect
    moved = True
    while moved:
        moved = False
        for px1, py1, px2, py2 in placed:
            if x1 <= px2 and px1 <= x2 and y1 <= py2 and py1 <= y2:
                y1, y2 = py2 + 1, py2 + 1 + (y2 - y1)
                moved = True
    return x1, y1, x2, y2


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font.
        return ImageFont.load_default()
