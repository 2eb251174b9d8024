"""The evaluation's contact sheet: the best- and worst-scored test images with their triplets.

One row per image, two tiles: its top predictions (as many as it has ground-truth triplets,
at most MAX_DRAWN, highest score first), drawn as predict.py draws them, then its ground truth
(same drawing, no scores). Under them: the rank, the file name and the image's score. The left
half of the sheet holds the best images (highest score first), the right half the worst (lowest
first). The score is whatever the caller ranks by (model evaluation: the per-image AP of
`calipso_tf.evaluation.hico.image_average_precisions`, for V-COCO of
`calipso_tf.evaluation.vcoco.image_average_precisions`; V-COCO entries come in the same PPDM
layout, `calipso_tf.inference.vcoco_output.ground_truth_entry`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageDraw

from calipso_tf.visualization.display import resize_with_triplets
from calipso_tf.visualization.drawing import draw_triplets, label_font, save_image

SHEET_IMAGES = 4  # best and worst images shown, each
TILE = 256  # pixels, the long side of each drawn image
MAX_DRAWN = 6  # triplets drawn per tile, so that the labels stay legible
GAP = 8  # pixels between tiles and around the sheet
COLUMN_GAP = 24  # pixels between the best and the worst half
FONT_SIZE = 13
LINE = FONT_SIZE + 4  # pixels per text line
BACKGROUND, TILE_BACKGROUND, TEXT = (255, 255, 255), (225, 225, 225), (20, 20, 20)


def select_extremes(scores: Mapping[str, float], count: int) -> tuple[list[str], list[str]]:
    """(best, worst): the count highest-scoring names, highest first, and the count lowest-scoring
    of the rest, lowest first; ties go to the name that sorts first. With fewer than 2 x count
    names, the worst list holds those the best list left."""
    ranked = sorted(scores, key=lambda name: (-scores[name], name))
    best = ranked[:count]
    worst = sorted(ranked[count:], key=lambda name: (scores[name], name))[:count]
    return best, worst


def entry_triplets(entry: dict[str, Any], verb_index: Mapping[int, int],
                   limit: int | None = None) -> tuple[dict[str, np.ndarray], list[int]]:
    """One image of a PPDM-layout file -> (triplets in `draw_triplets`' layout, object categories).

    Args:
      entry: a prediction dict ("predictions", "hoi_prediction" with scores: kept highest score
        first) or a ground-truth dict ("annotations", "hoi_annotation": kept in file order,
        score 1).
      verb_index: dataset verb id -> position in the verb names given to `draw_triplets`.
      limit: the most triplets kept; None: all.

    Returns:
      (triplets: "num_triplets", "subject_index", "object_index" (-1: no target), "verb",
      "score", "subject_box" / "object_box" (T, 4) pixels; the (D,) COCO category id of each box).
    """
    scored = "hoi_prediction" in entry
    box_rows = entry["predictions" if scored else "annotations"]
    hois = entry["hoi_prediction" if scored else "hoi_annotation"]
    boxes = np.asarray([row["bbox"] for row in box_rows], np.float32).reshape(-1, 4)
    scores = np.asarray([hoi["score"] if scored else 1.0 for hoi in hois], np.float32)
    keep = np.argsort(-scores, kind="stable")[:limit]
    subjects = np.asarray([hois[i]["subject_id"] for i in keep], np.int64)
    objects = np.asarray([hois[i]["object_id"] for i in keep], np.int64)
    padded = np.concatenate([boxes, np.zeros((1, 4), np.float32)])  # object -1 reads the zero row
    triplets = {"num_triplets": np.int32(len(keep)), "subject_index": subjects, "object_index": objects,
                "verb": np.asarray([verb_index[hois[i]["category_id"]] for i in keep], np.int64),
                "score": scores[keep], "subject_box": padded[subjects].reshape(-1, 4),
                "object_box": padded[objects].reshape(-1, 4)}
    return triplets, [int(row["category_id"]) for row in box_rows]


def draw_tile(image: np.ndarray, entry: dict[str, Any], verb_names: Mapping[int, str], limit: int,
              tile: int = TILE) -> np.ndarray:
    """The image shrunk (or enlarged) to a long side of ``tile`` pixels, with the entry's first
    ``limit`` triplets (`entry_triplets`) drawn; scores shown for predictions. (tile, tile, 3) uint8,
    the picture at the top left, the rest TILE_BACKGROUND."""
    verb_index = {verb_id: i for i, verb_id in enumerate(verb_names)}
    triplets, categories = entry_triplets(entry, verb_index, limit)
    frame, triplets = resize_with_triplets(image, triplets, tile / max(image.shape[:2]))
    drawn = draw_triplets(frame, triplets, list(verb_names.values()), show_scores="hoi_prediction" in entry,
                          object_categories=categories)
    canvas = np.full((tile, tile, 3), TILE_BACKGROUND, np.uint8)
    canvas[:drawn.shape[0], :drawn.shape[1]] = drawn[:tile, :tile]
    return canvas


def compose_sheet(best: list[dict[str, Any]], worst: list[dict[str, Any]], score_name: str,
                  verb_names: Mapping[int, str], tile: int = TILE) -> np.ndarray:
    """The contact sheet of rows, each row a dict with "image" ((H, W, 3) uint8 RGB), "prediction"
    and "ground_truth" (its PPDM-layout entries) and "score" (float).

    verb_names: dataset verb id -> name. Returns (height, width, 3) uint8 RGB: a title line per
    half, then per row two tiles (predicted, ground truth) over two caption lines.
    """
    half = 2 * tile + GAP
    width = 2 * half + COLUMN_GAP + 2 * GAP
    row_height = tile + 2 * LINE + GAP
    header = 2 * LINE + GAP
    height = GAP + header + max(len(best), len(worst), 1) * row_height
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = label_font(FONT_SIZE)
    for column, (title, rows) in enumerate(((f"best {len(best)} by {score_name}", best),
                                            (f"worst {len(worst)} by {score_name}", worst))):
        left = GAP + column * (half + COLUMN_GAP)
        draw.text((left, GAP), title, fill=TEXT, font=font)
        draw.text((left, GAP + LINE), "predicted (top as many as ground truth)", fill=TEXT, font=font)
        draw.text((left + tile + GAP, GAP + LINE), "ground truth", fill=TEXT, font=font)
        for rank, row in enumerate(rows, 1):
            top = GAP + header + (rank - 1) * row_height
            limit = min(max(len(row["ground_truth"]["hoi_annotation"]), 1), MAX_DRAWN)
            for offset, entry in ((0, row["prediction"]), (tile + GAP, row["ground_truth"])):
                sheet.paste(Image.fromarray(draw_tile(row["image"], entry, verb_names, limit, tile)),
                            (left + offset, top))
            draw.text((left, top + tile + 2), f"{rank}. {row['prediction']['file_name']}   "
                                              f"{score_name} {row['score']:.2f}", fill=TEXT, font=font)
            draw.text((left, top + tile + 2 + LINE), _counts(row, limit), fill=TEXT, font=font)
    return np.asarray(sheet)


def _counts(row: dict[str, Any], limit: int) -> str:
    """"3 predicted (3 drawn), 2 ground truth (2 drawn)": what the row's tiles leave out."""
    predicted, truth = len(row["prediction"]["hoi_prediction"]), len(row["ground_truth"]["hoi_annotation"])
    return f"{predicted} predicted ({min(predicted, limit)} drawn), {truth} ground truth ({min(truth, limit)} drawn)"


def write_contact_sheet(path: str, best: list[dict[str, Any]], worst: list[dict[str, Any]], score_name: str,
                        verb_names: Mapping[int, str], tile: int = TILE) -> tuple[int, int]:
    """`compose_sheet` written atomically to path (PNG); returns its (height, width) in pixels."""
    sheet = compose_sheet(best, worst, score_name, verb_names, tile)
    save_image(path, sheet)
    return sheet.shape[:2]
