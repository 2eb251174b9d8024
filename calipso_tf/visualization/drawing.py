"""Pictures of decoded triplets, drawn as in the paper's Figure 2.

Each subject gets one colour: its box is drawn solid, its targets' boxes dashed, and
a line joins the subject box's centre to each target box's centre (so a target whose
box coincides with another's is unambiguous). The label ``verb object score`` ("hold
cup 0.82", "run (no target) 0.91") sits on a filled background at the subject box's
top-left corner, the labels of one subject stacked. When a label would cover another
subject's label or leave the picture, the picture gets a legend instead: each subject box
is tagged with a number, and the labels, prefixed with their subject's number, are listed in
the subject's colour in the corner of the picture that hides the least of the boxes.
Pictures, video frames and the evaluation's contact sheet share this code.
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


NO_TARGET_TEXT = "(no target)"


def triplet_label(verb_name: str, object_name: str | None, score: float | None = None) -> str:
    """The label of one triplet: "hold cup 0.82"; object_name None (no target): "run (no target) 0.91";
    score None: no score."""
    text = f"{verb_name} {NO_TARGET_TEXT if object_name is None else object_name}"
    return text if score is None else f"{text} {score:.2f}"


def triplet_labels(triplets: dict[str, Any], verb_names: Sequence[str], object_categories: Sequence[int] | None = None,
                   show_scores: bool = True) -> list[str]:
    """`triplet_label` of each of the first num_triplets triplets, in order.

    object_categories: (D,) COCO category id of each detection (indexed by "object_index");
    None: targets are named "object". Names from constants.COCO_CATEGORIES.
    """
    from calipso_tf.constants import COCO_CATEGORIES

    labels = []
    for i in range(int(np.asarray(triplets["num_triplets"]))):
        target = int(np.asarray(triplets["object_index"])[i])
        if target < 0:
            name = None
        elif object_categories is None:
            name = "object"
        else:
            category = int(object_categories[target])
            name = COCO_CATEGORIES.get(category, f"category {category}")
        score = float(np.asarray(triplets["score"])[i]) if show_scores else None
        labels.append(triplet_label(verb_names[int(np.asarray(triplets["verb"])[i])], name, score))
    return labels


def draw_triplets(image: np.ndarray, triplets: dict[str, Any], verb_names: Sequence[str],
                  show_scores: bool = True, object_categories: Sequence[int] | None = None) -> np.ndarray:
    """Draws one image's decoded triplets.

    Args:
      image: (H, W, 3) uint8 RGB (or anything `np.asarray` turns into it).
      triplets: one image of the `TripletDecoder` output (batch axis removed), boxes in
        the frame of ``image``.
      verb_names: name of each verb index.
      show_scores: append the triplet score to each label.
      object_categories: (D,) COCO category id of each detection, naming the targets in
        the labels (see `triplet_labels`).

    Returns:
      (H, W, 3) uint8 RGB, a new array.
    """
    canvas = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = min(canvas.size)
    width = max(1, round(size / 250))
    font = label_font(max(10, round(size / 40)))
    count = int(np.asarray(triplets["num_triplets"]))
    rows = [{k: np.asarray(triplets[k])[i] for k in ("subject_index", "object_index", "verb", "score",
                                                      "subject_box", "object_box")} for i in range(count)]
    for row, text in zip(rows, triplet_labels(triplets, verb_names, object_categories, show_scores)):
        row["text"] = text
    colours: dict[int, tuple[int, int, int]] = {}
    for row in rows:
        colours.setdefault(int(row["subject_index"]), PALETTE[len(colours) % len(PALETTE)])
    # Highest-scoring subject last, so that its boxes and lines are on top.
    for subject, colour in reversed(colours.items()):
        subject_rows = [r for r in rows if int(r["subject_index"]) == subject]
        subject_box = _box(subject_rows[0]["subject_box"])
        targets = {int(r["object_index"]): _box(r["object_box"]) for r in subject_rows if int(r["object_index"]) >= 0}
        for target_box in targets.values():
            _dashed_rectangle(draw, target_box, colour, width)
            draw.line([_centre(subject_box), _centre(target_box)], fill=colour, width=width)
        draw.rectangle(subject_box, outline=colour, width=width)
    ordered = sorted(rows, key=lambda r: (int(r["subject_index"]), -float(r["score"])))
    sizes = [_text_size(draw, row["text"], font, width) for row in ordered]
    stacks = _stacked_labels(ordered, sizes)
    if _overlapping(stacks, ordered, canvas.size):
        _draw_legend(draw, ordered, colours, font, width, canvas.size)
    else:
        for row, rect in zip(ordered, stacks):
            _label(draw, rect, row["text"], colours[int(row["subject_index"])], font, width)
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


def _centre(box: tuple[int, int, int, int]) -> tuple[int, int]:
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour, width: int) -> None:
    x1, y1, x2, y2 = box
    on, off = DASH
    sides = ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False))
    for start, end, fixed, horizontal in sides:
        for a in range(start, end + 1, on + off):
            b = min(a + on - 1, end)
            draw.line([(a, fixed), (b, fixed)] if horizontal else [(fixed, a), (fixed, b)], fill=colour, width=width)


def _text_size(draw: ImageDraw.ImageDraw, text: str, font, margin: int) -> tuple[int, int]:
    """(width, height) in pixels of text on a label with margin pixels around it."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left + 2 * margin, bottom - top + 2 * margin


def _label(draw: ImageDraw.ImageDraw, rect, text: str, colour, font, margin: int) -> None:
    """A filled rect in colour with text at its top-left, margin pixels in."""
    left, top = draw.textbbox((0, 0), text, font=font)[:2]
    draw.rectangle(rect, fill=colour)
    draw.text((rect[0] + margin - left, rect[1] + margin - top), text, font=font, fill=_text_colour(colour))


def _stacked_labels(rows: list[dict], sizes: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """The label rect of each row (rows grouped by subject): stacked from its subject box's top-left corner."""
    rects, bottom = [], {}
    for row, (w, h) in zip(rows, sizes):
        x1, y1 = _box(row["subject_box"])[:2]
        top = bottom.get(int(row["subject_index"]), y1)
        rects.append((x1, top, x1 + w, top + h))
        bottom[int(row["subject_index"])] = top + h + 1
    return rects


def _overlapping(rects: list[tuple[int, int, int, int]], rows: list[dict], size: tuple[int, int]) -> bool:
    """Whether a label rect leaves the picture (size: width, height) or meets another subject's label."""
    boxes = np.asarray(rects, np.int64).reshape(-1, 4)
    subjects = np.asarray([int(r["subject_index"]) for r in rows])
    outside = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] >= size[0]) | (boxes[:, 3] >= size[1])
    meet = ((boxes[:, None, 0] <= boxes[None, :, 2]) & (boxes[None, :, 0] <= boxes[:, None, 2])
            & (boxes[:, None, 1] <= boxes[None, :, 3]) & (boxes[None, :, 1] <= boxes[:, None, 3]))
    return bool(outside.any() or (meet & (subjects[:, None] != subjects[None, :])).any())


def _draw_legend(draw: ImageDraw.ImageDraw, rows: list[dict], colours: dict, font, margin: int,
                 size: tuple[int, int]) -> None:
    """Numbers each subject box (1, 2, ... in colour order) and lists "number label" rows, by number,
    in the subject's colour, one column (a second one where the picture is too short) in the corner of
    the picture that covers the least subject box area."""
    number = {subject: i + 1 for i, subject in enumerate(colours)}
    rows = sorted(rows, key=lambda row: number[int(row["subject_index"])])  # stable: scores stay descending
    placed: list[tuple[int, int, int, int]] = []
    for subject in number:
        x1, y1 = _box(next(r for r in rows if int(r["subject_index"]) == subject)["subject_box"])[:2]
        w, h = _text_size(draw, str(number[subject]), font, margin)
        rect = _free_slot((x1, y1, x1 + w, y1 + h), placed)
        _label(draw, rect, str(number[subject]), colours[subject], font, margin)
        placed.append(rect)
    texts = [f"{number[int(row['subject_index'])]} {row['text']}" for row in rows]
    sizes = [_text_size(draw, text, font, margin) for text in texts]
    column_height = max(size[1], max(h for _, h in sizes))
    offsets, x, y, widths = [], 0, 0, [0]
    for w, h in sizes:
        if y + h > column_height:
            x, y = x + widths[-1], 0
            widths.append(0)
        offsets.append((x, y))
        widths[-1] = max(widths[-1], w)
        y += h
    legend_w, legend_h = sum(widths), max(y + h for (_, y), (_, h) in zip(offsets, sizes))
    subject_boxes = np.asarray([_box(row["subject_box"]) for row in rows], np.float64)
    corners = [(0, 0), (size[0] - legend_w, 0), (0, size[1] - legend_h), (size[0] - legend_w, size[1] - legend_h)]
    hidden = [_covered_area(subject_boxes, (cx, cy, cx + legend_w, cy + legend_h)) for cx, cy in corners]
    cx, cy = corners[int(np.argmin(hidden))]
    for row, text, (w, h), (x, y) in zip(rows, texts, sizes, offsets):
        _label(draw, (cx + x, cy + y, cx + x + w - 1, cy + y + h - 1), text, colours[int(row["subject_index"])],
               font, margin)


def _covered_area(boxes: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """Sum over the (N, 4) boxes of their area inside rect, pixels."""
    w = np.clip(np.minimum(boxes[:, 2], rect[2]) - np.maximum(boxes[:, 0], rect[0]), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], rect[3]) - np.maximum(boxes[:, 1], rect[1]), 0, None)
    return float(np.sum(w * h))


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


def label_font(size: int) -> ImageFont.ImageFont:
    """Pillow's default font at size pixels (a fixed-size bitmap font where Pillow lacks FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font.
        return ImageFont.load_default()
