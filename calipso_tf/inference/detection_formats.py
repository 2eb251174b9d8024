"""Readers for the detection files HOI codebases already write, into `Detections` tables.

- iCAN / TIN pickles (`read_ican_pickle`): a dict image id (int) -> list of
  ``[image_id, "Human" | "Object", [x1, y1, x2, y2], nan, class 1..80, score]``, class
  the contiguous COCO index + 1 (1 = person). Humans below ``human_threshold`` and
  objects below ``object_threshold`` are dropped (iCAN/TIN test defaults 0.8 / 0.3),
  the count logged. Image id i -> ``file_pattern % i`` (HICO_test2015_%08d.jpg).
- UPT per-image JSON folders (`read_json_folder`): ``<image stem>.json`` holding
  ``{"boxes": [[x1, y1, x2, y2], ...], "scores": [...], "labels": [...]}``, labels the
  HICO-80 alphabetical index 0..79 (``labels="hico80"``, UPT) or COCO ids (``"coco"``).

Boxes are original-frame pixels; categories become COCO ids (person = 1).
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Callable

import numpy as np

from calipso_tf.constants import COCO_IDS
from calipso_tf.fields import get_field, require_object
from calipso_tf.fileio import load_json
from calipso_tf.vocabularies.vocabulary import hico_objects

log = logging.getLogger(__name__)

# HICO-DET's 80 objects in its (alphabetical) order -> COCO id: index k of the shipped vocabulary.
HICO80_COCO_IDS = tuple(coco_id for coco_id, _ in hico_objects())
LABEL_CONVENTIONS = ("hico80", "coco")

Add = Callable[[str, list, list, list, str], None]  # (name, boxes, category_ids, scores, where)


def read_ican_pickle(path: str, add: Add, human_threshold: float = 0.8, object_threshold: float = 0.3,
                     file_pattern: str = "HICO_test2015_%08d.jpg") -> int:
    """Calls ``add`` once per image of an iCAN/TIN pickle; returns the number of boxes dropped by the thresholds."""
    with open(path, "rb") as f:
        data = pickle.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict keyed by image id, got {type(data).__name__}")
    dropped = 0
    for image_id, rows in data.items():
        where = f"{path}: image {image_id!r}"
        if not (isinstance(image_id, (int, np.integer)) and isinstance(rows, (list, tuple))):
            raise ValueError(f"{where}: expected an integer image id and a list of detections")
        boxes, categories, scores = [], [], []
        for k, row in enumerate(rows):
            at = f"{where}: detection {k}"
            if not (isinstance(row, (list, tuple)) and len(row) == 6):
                raise ValueError(f"{at}: expected [image_id, 'Human'|'Object', box, nan, class, score]")
            kind, box, label, score = row[1], row[2], row[4], row[5]
            if kind not in ("Human", "Object"):
                raise ValueError(f"{at}: field 1 = {kind!r} is not 'Human' or 'Object'")
            if not (isinstance(label, (int, np.integer)) and 1 <= label <= len(COCO_IDS)):
                raise ValueError(f"{at}: field 4 (class) = {label!r} is not an integer in 1..80")
            if float(score) < (human_threshold if kind == "Human" else object_threshold):
                dropped += 1
                continue
            boxes.append([float(v) for v in np.asarray(box, np.float64).reshape(-1)])
            categories.append(COCO_IDS[int(label) - 1])
            scores.append(float(score))
        add(file_pattern % int(image_id), boxes, categories, scores, where)
    log.info("%s: dropped %d boxes below human %.2f / object %.2f", path, dropped, human_threshold, object_threshold)
    return dropped


def read_json_folder(path: str, add: Add, labels: str = "hico80") -> None:
    """Calls ``add`` once per ``*.json`` of folder ``path`` (image name: the stem + ".jpg")."""
    if labels not in LABEL_CONVENTIONS:
        raise ValueError(f"{path}: labels = {labels!r} is not one of {list(LABEL_CONVENTIONS)}")
    for file in sorted(os.listdir(path)):
        if not file.endswith(".json"):
            continue
        where = os.path.join(path, file)
        record = require_object(load_json(where), where)
        categories = get_field(record, "labels", where, list)
        if labels == "hico80":
            bad = [c for c in categories if not (isinstance(c, int) and 0 <= c < len(HICO80_COCO_IDS))]
            if bad:
                raise ValueError(f"{where}: labels holds {bad[0]!r}, not a HICO-80 index 0..79")
            categories = [HICO80_COCO_IDS[c] for c in categories]
        add(file[:-len(".json")] + ".jpg", get_field(record, "boxes", where, list), categories,
            get_field(record, "scores", where, list), where)
