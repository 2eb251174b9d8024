"""A tiny V-COCO release in the official s-gupta/v-coco layout: 3 COCO images (one per split),
4 persons and 3 objects, the eat / stand / hold / cut actions."""

from __future__ import annotations

import json
import os

import numpy as np

from data_prep_util import write_jpeg

PERSON, CAKE, FORK, KNIFE = 1, 61, 48, 49
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 48, "name": "fork", "supercategory": "kitchen"},
              {"id": 49, "name": "knife", "supercategory": "kitchen"},
              {"id": 61, "name": "cake", "supercategory": "food"}]
IMAGES = {11: ("COCO_train2014_000000000011.jpg", 80, 60), 22: ("COCO_train2014_000000000022.jpg", 50, 40),
          33: ("COCO_val2014_000000000033.jpg", 70, 50)}
# ann id -> (image id, category, [x, y, w, h])
ANNOTATIONS = {101: (11, PERSON, [2, 3, 20, 50]), 102: (11, PERSON, [40, 5, 25, 50]), 104: (11, PERSON, [70, 1, 5, 9]),
               201: (11, CAKE, [25, 40, 20, 15]), 202: (11, FORK, [22, 30, 4, 10]), 203: (11, KNIFE, [60, 30, 10, 3]),
               301: (22, PERSON, [5, 5, 30, 30]), 401: (33, PERSON, [10, 10, 20, 35])}


def _action(name, roles, rows) -> dict:
    """rows: (image id, ann id, label, [object id per non-agent role]) -> official per-action dict."""
    role_ids = np.array([[ann, *objects] for _, ann, _, objects in rows]).reshape(len(rows), len(roles))
    return {"action_name": name, "role_name": roles, "include": [[] for _ in roles],
            "image_id": [r[0] for r in rows], "ann_id": [r[1] for r in rows], "label": [r[2] for r in rows],
            "role_object_id": role_ids.T.ravel().tolist()}  # flat, role-major


def _actions(rows_per_action: dict) -> list[dict]:
    roles = {"eat": ["agent", "obj", "instr"], "stand": ["agent"], "hold": ["agent", "obj"],
             "cut": ["agent", "instr", "obj"]}
    return [_action(name, roles[name], rows_per_action[name]) for name in roles]


def write_vcoco(root):
    """Writes root/v-coco/data (vcoco/vcoco_<split>.json, splits/vcoco_<split>.ids,
    instances_vcoco_all_2014.json) and the images under root/coco/<train2014|val2014>; returns root."""
    data = root / "v-coco" / "data"
    os.makedirs(data / "vcoco")
    os.makedirs(data / "splits")
    splits = {
        "train": _actions({"eat": [(11, 101, 1, [201, 202]), (11, 102, 0, [0, 0])],
                           "stand": [(11, 101, 1, []), (11, 102, 1, [])],
                           "hold": [(11, 101, 0, [0]), (11, 102, 1, [0])],
                           "cut": [(11, 101, 0, [0, 0]), (11, 102, 1, [203, 201])]}),
        "val": _actions({"eat": [(22, 301, 0, [0, 0])], "stand": [(22, 301, 0, [])], "hold": [(22, 301, 0, [0])],
                         "cut": [(22, 301, 0, [0, 0])]}),
        "test": _actions({"eat": [(33, 401, 1, [0, 0])], "stand": [(33, 401, 0, [])], "hold": [(33, 401, 0, [0])],
                          "cut": [(33, 401, 0, [0, 0])]}),
    }
    for split, actions in splits.items():
        with open(data / "vcoco" / f"vcoco_{split}.json", "w") as f:
            json.dump(actions, f)
    for split, image_id in (("train", 11), ("val", 22), ("test", 33)):
        (data / "splits" / f"vcoco_{split}.ids").write_text(f"{image_id}\n")
    instances = {
        "images": [{"id": i, "file_name": name, "width": w, "height": h} for i, (name, w, h) in IMAGES.items()],
        "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
                        for a, (i, c, box) in ANNOTATIONS.items()],
        "categories": CATEGORIES,
    }
    with open(data / "instances_vcoco_all_2014.json", "w") as f:
        json.dump(instances, f)
    for name, width, height in IMAGES.values():
        write_jpeg(root / "coco" / name.split("_")[1] / name, width, height)
    return root
