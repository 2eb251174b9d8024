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


def in_pair_order(entry: dict) -> dict:
    """A PPDM/QPIC entry with its boxes renumbered by first appearance in its pairs (subject before object),
    unused boxes dropped: the box order a UPT/PViC file, which stores boxes per pair, can express."""
    order = []
    for h in entry["hoi_annotation"]:
        order += [i for i in (h["subject_id"], h["object_id"]) if i not in order]
    return {**entry, "annotations": [entry["annotations"][i] for i in order],
            "hoi_annotation": [{**h, "subject_id": order.index(h["subject_id"]),
                                "object_id": order.index(h["object_id"])} for h in entry["hoi_annotation"]]}


def write_upt_layout(path, entries: list[dict]) -> None:
    """PPDM/QPIC entries (COCO object ids, verb ids 1..117, with width and height) written as a UPT/PViC
    instances_*2015.json: one row per pair, HICO-80 object indices, 0-based verbs and HOIs, and the
    objects / verbs / correspondence / empty / rare / non_rare keys of the real files."""
    from calipso_tf.vocabularies.vocabulary import hico_hoi_categories, hico_objects, hico_verb_names

    object_index = {coco_id: i for i, (coco_id, _) in enumerate(hico_objects())}
    hois = hico_hoi_categories()
    annotation = []
    for entry in entries:
        boxes = [a["bbox"] for a in entry["annotations"]]
        coco = [entry["annotations"][h["object_id"]]["category_id"] for h in entry["hoi_annotation"]]
        verbs = [h["category_id"] for h in entry["hoi_annotation"]]
        annotation.append({"boxes_h": [boxes[h["subject_id"]] for h in entry["hoi_annotation"]],
                           "boxes_o": [boxes[h["object_id"]] for h in entry["hoi_annotation"]],
                           "hoi": [hois.index((v, c)) for v, c in zip(verbs, coco)],
                           "object": [object_index[c] for c in coco], "verb": [v - 1 for v in verbs]})
    data = {"annotation": annotation, "filenames": [e["file_name"] for e in entries],
            "size": [[e["width"], e["height"]] for e in entries],
            "empty": [i for i, e in enumerate(entries) if not e["hoi_annotation"]],
            "objects": [name for _, name in hico_objects()], "verbs": hico_verb_names(),
            "correspondence": [[i, object_index[c], v - 1] for i, (v, c) in enumerate(hois)],
            "rare": [], "non_rare": list(range(len(hois)))}
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
