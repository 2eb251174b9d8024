"""Annotation cleaning on numpy boxes ``[x1, y1, x2, y2]`` in pixels.

- ``clip_to_image``: boxes that leave the image by at most ``tolerance`` px are clipped
  (HICO-DET has off-by-one boxes); larger excursions are left for validation to reject.
- ``snap_to_detections``: each ground-truth box takes the coordinates of the detection
  of its class that overlaps it most, when that IoU >= threshold (the paper's HICO-DET
  protocol: labels are moved onto detector boxes).
- ``merge_duplicates``: same-class boxes with IoU >= threshold become one instance (the
  first in annotation order); triplets are re-indexed and exact duplicates dropped.

IoU here is continuous (``evaluation.iou.continuous_iou``: area = (x2 - x1) * (y2 - y1)), not the
evaluation's inclusive one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from calipso_tf.constants import NO_TARGET
from calipso_tf.data.records import HoiRecord
from calipso_tf.evaluation.iou import continuous_iou
from data_prep.source import DataError, load_json


def clip_to_image(record: HoiRecord, tolerance: float) -> tuple[HoiRecord, int]:
    """Clips boxes lying at most `tolerance` px outside the image; returns (record, boxes clipped)."""
    boxes = np.asarray(record.boxes, np.float32).reshape(-1, 4)
    limit = np.array([0, 0, record.width, record.height], np.float32)
    over = np.concatenate([-boxes[:, :2], boxes[:, 2:]], 1) - np.concatenate([-limit[:2], limit[2:]])  # px outside
    clip = np.any(over > 0, 1) & np.all(over <= tolerance, 1)
    if not clip.any():
        return record, 0
    clipped = boxes.copy()
    clipped[clip] = np.clip(boxes[clip], 0, np.tile(limit[2:], 2))
    return dataclasses.replace(record, boxes=clipped), int(clip.sum())


def snap_to_detections(record: HoiRecord, det_boxes: np.ndarray, det_categories: np.ndarray,
                       threshold: float) -> tuple[HoiRecord, int]:
    """Moves each box onto its best same-class detection (D, 4) if IoU >= threshold; returns (record, snapped)."""
    boxes = np.asarray(record.boxes, np.float32).reshape(-1, 4)
    det_boxes = np.asarray(det_boxes, np.float32).reshape(-1, 4)
    iou = continuous_iou(boxes, det_boxes)
    iou[np.asarray(record.category_ids)[:, None] != np.asarray(det_categories)[None, :]] = 0.0
    if iou.size == 0:
        return record, 0
    best = iou.argmax(1)
    snap = iou[np.arange(len(boxes)), best] >= threshold
    snapped = np.where(snap[:, None], det_boxes[best], boxes)
    return dataclasses.replace(record, boxes=snapped), int(snap.sum())


def merge_duplicates(record: HoiRecord, threshold: float) -> tuple[HoiRecord, int, int]:
    """Merges same-class boxes with IoU >= threshold; returns (record, boxes merged, triplets dropped).

    Box i joins the first earlier kept box it overlaps, so the result keeps annotation
    order and is independent of how many duplicates follow.
    """
    boxes = np.asarray(record.boxes, np.float32).reshape(-1, 4)
    categories = np.asarray(record.category_ids, np.int64)
    duplicate = (continuous_iou(boxes, boxes) >= threshold) & (categories[:, None] == categories[None, :])
    target = np.arange(len(boxes))
    for i in range(1, len(boxes)):
        earlier = np.flatnonzero(duplicate[i, :i] & (target[:i] == np.arange(i)))
        if earlier.size:
            target[i] = earlier[0]
    keep = target == np.arange(len(boxes))
    new_index = (np.cumsum(keep) - 1)[target]
    triplets = np.asarray(record.triplets, np.int64).reshape(-1, 3).copy()
    triplets[:, 0] = new_index[triplets[:, 0]]
    has_target = triplets[:, 1] != NO_TARGET
    triplets[has_target, 1] = new_index[triplets[has_target, 1]]
    _, first = np.unique(triplets, axis=0, return_index=True)
    unique = triplets[np.sort(first)]
    merged = dataclasses.replace(record, boxes=boxes[keep], category_ids=categories[keep], triplets=unique)
    return merged, int((~keep).sum()), len(triplets) - len(unique)


def load_detections(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Detections JSON (list of {file_name, boxes [[x1, y1, x2, y2]], category_ids, scores})
    -> file name -> (boxes (D, 4) float32 px, category ids (D,) int64). Every box is a snap candidate."""
    entries = load_json(path)
    detections = {}
    for n, entry in enumerate(entries):
        try:
            boxes = np.asarray(entry["boxes"], np.float32).reshape(-1, 4)
            categories = np.asarray(entry["category_ids"], np.int64).reshape(-1)
            name = str(entry["file_name"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: entry {n}: malformed detections ({type(e).__name__}: {e})") from e
        if len(boxes) != len(categories):
            raise DataError(f"{path}: entry {n} ({name!r}): {len(boxes)} boxes but {len(categories)} category_ids")
        detections[name] = (boxes, categories)
    return detections
