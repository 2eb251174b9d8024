"""A tiny HICO-DET release: 3 images, a 6-HOI anno_bbox.mat with the real field names and the
same annotations in the PPDM/QPIC JSON layout (duplicates merged)."""

from __future__ import annotations

import json
import os

import numpy as np
import scipy.io

from data_prep_util import write_jpeg

# HOI ids 1..6 of a small list_action, in HICO's order (by object): first appearance of
# the verbs is board, ride, hold, hug, eat_at, no_interaction; ids are alphabetical.
ACTIONS = [("airplane", "board"), ("airplane", "ride"), ("bicycle", "hold"), ("person", "hug"),
           ("dining_table", "eat_at"), ("airplane", "no_interaction")]
VERBS = ["board", "eat_at", "hold", "hug", "no_interaction", "ride"]
BOARD, EAT_AT, HOLD, HUG, NO_INTERACTION, RIDE = range(6)
AIRPLANE, BICYCLE, PERSON = 5, 2, 1
SIZES = {"HICO_train2015_00000001.jpg": (64, 48), "HICO_train2015_00000002.jpg": (40, 50),
         "HICO_test2015_00000001.jpg": (60, 40)}

H1, A1, HB1, BIKE = [2, 3, 20, 40], [30, 10, 65, 30], [40, 2, 50, 30], [35, 25, 60, 47]  # A1 leaves by 1 px
P1, P2 = [1, 1, 18, 45], [20, 2, 39, 48]
T1, T2, TA = [1, 1, 10, 30], [12, 1, 22, 30], [30, 5, 59, 35]


def _struct(rows: list[dict], shape=None) -> np.ndarray:
    """MATLAB struct array (1, N) with the keys of rows as fields."""
    fields = list(rows[0]) if rows else ["x1", "x2", "y1", "y2"]
    out = np.empty(shape or (1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            out.flat[i][f] = row[f]
    return out


def _boxes(boxes: list[list[float]]) -> np.ndarray:
    """[x1, y1, x2, y2] rows -> bboxhuman / bboxobject struct with HICO's x1, x2, y1, y2 fields."""
    return _struct([{"x1": float(b[0]), "x2": float(b[2]), "y1": float(b[1]), "y2": float(b[3])} for b in boxes])


def mat_hoi(hoi_id, humans, objects, connection, invis=0) -> dict:
    """One element of an image's hoi struct; humans / objects are [x1, y1, x2, y2] rows and connection
    the 1-based (human, object) index pairs."""
    return {"id": float(hoi_id), "bboxhuman": _boxes(humans), "bboxobject": _boxes(objects),
            "connection": np.asarray(connection, np.float64).reshape(-1, 2) if connection else np.zeros((0, 0)),
            "invis": float(invis)}


def mat_entry(filename, hois) -> dict:
    """One element of bbox_train / bbox_test: an image of SIZES with its hoi structs."""
    width, height = SIZES[filename]
    return {"filename": filename, "size": _struct([{"width": float(width), "height": float(height), "depth": 3.0}]),
            "hoi": _struct(hois)}


def write_mat(path, train=None, test=None) -> None:
    """anno_bbox.mat with the real field names (list_action 6x1 here, 600x1 in the release)."""
    train = train or [
        mat_entry("HICO_train2015_00000001.jpg", [
            mat_hoi(1, [H1], [A1], [[1, 1]]),
            mat_hoi(2, [[2.5, 3, 20, 41]], [A1], [[1, 1]]),  # duplicates of H1 and A1 -> merged
            mat_hoi(6, [], [], [], invis=1),
            mat_hoi(3, [HB1, [41, 2, 50, 30]], [BIKE], [[1, 1], [2, 1]]),  # two copies of one person -> one triplet
        ]),
        mat_entry("HICO_train2015_00000002.jpg",
                  [mat_hoi(4, [P1], [P2], [[1, 1]]), mat_hoi(5, [P1], [[0, 30, 39, 49]], [])]),
    ]
    test = test or [mat_entry("HICO_test2015_00000001.jpg", [mat_hoi(1, [T1, T2], [TA], [[1, 1], [2, 1]])])]
    actions = np.empty((len(ACTIONS), 1), dtype=[("nname", object), ("vname", object), ("vname_ing", object)])
    for i, (noun, verb) in enumerate(ACTIONS):
        actions[i, 0] = (noun, verb, verb + "ing")
    entries = {"bbox_train": _struct(train), "bbox_test": _struct(test), "list_action": actions}
    scipy.io.savemat(path, entries)


def write_json_layout(folder) -> None:
    """The same content as write_mat, duplicates already merged (as PPDM's conversion does)."""
    def annotations(*boxes_and_classes):
        return [{"bbox": box, "category_id": c} for box, c in boxes_and_classes]
    train = [
        {"file_name": "HICO_train2015_00000001.jpg",
         "annotations": annotations((H1, PERSON), (A1, AIRPLANE), (HB1, PERSON), (BIKE, BICYCLE)),
         "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": BOARD + 1},
                            {"subject_id": 0, "object_id": 1, "category_id": RIDE + 1},
                            {"subject_id": 2, "object_id": 3, "category_id": HOLD + 1}]},
        {"file_name": "HICO_train2015_00000002.jpg", "annotations": annotations((P1, PERSON), (P2, PERSON)),
         "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": HUG + 1}]},
    ]
    test = [{"file_name": "HICO_test2015_00000001.jpg",
             "annotations": annotations((T1, PERSON), (T2, PERSON), (TA, AIRPLANE)),
             "hoi_annotation": [{"subject_id": 0, "object_id": 2, "category_id": BOARD + 1},
                                {"subject_id": 1, "object_id": 2, "category_id": BOARD + 1}]}]
    os.makedirs(folder, exist_ok=True)
    for name, entries in (("trainval_hico.json", train), ("test_hico.json", test)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(entries, f)


def write_images(images) -> None:
    """The SIZES images as solid JPEGs under images/train2015 and images/test2015."""
    for name, (width, height) in SIZES.items():
        write_jpeg(os.path.join(images, "train2015" if "train" in name else "test2015", name), width, height)
