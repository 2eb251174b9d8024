"""V-COCO conversion from the official s-gupta/v-coco layout."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from data_prep_util import assert_example, convert, read_split, write_jpeg

from calipso_tf.data import manifest as manifest_lib

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
# verbs: eat_obj, eat_instr, stand, hold_obj, cut_instr, cut_obj
EAT_OBJ, EAT_INSTR, STAND, HOLD_OBJ, CUT_INSTR, CUT_OBJ = range(6)


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


@pytest.fixture()
def vcoco(tmp_path):
    data = tmp_path / "v-coco" / "data"
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
        write_jpeg(tmp_path / "coco" / name.split("_")[1] / name, width, height)
    return tmp_path


def _xyxy(ann: int) -> list[int]:
    x, y, w, h = ANNOTATIONS[ann][2]
    return [x, y, x + w, y + h]


def test_vcoco_layout(vcoco):
    out = vcoco / "out"
    assert convert("--dataset", "vcoco", "--annotations", vcoco / "v-coco", "--images", vcoco / "coco",
                   "--output", out, "--num-shards", 4) == 0
    (train,), (val,), (test,) = (read_split(out, s) for s in ("train", "val", "test"))
    # persons 101, 102 and the objects they use, in annotation id order; 104 is not annotated in V-COCO
    assert_example(train, IMAGES[11][0], (80, 60), [_xyxy(a) for a in (101, 102, 201, 202, 203)],
                   [PERSON, PERSON, CAKE, FORK, KNIFE],
                   [[0, 2, EAT_OBJ], [0, 3, EAT_INSTR], [0, -1, STAND], [1, -1, STAND], [1, -1, HOLD_OBJ],
                    [1, 4, CUT_INSTR], [1, 2, CUT_OBJ]])
    assert_example(val, IMAGES[22][0], (50, 40), [_xyxy(301)], [PERSON], [])  # annotated, no action: a negative
    assert_example(test, IMAGES[33][0], (70, 50), [_xyxy(401)], [PERSON], [[0, -1, EAT_OBJ], [0, -1, EAT_INSTR]])
    assert [int(e["image_id"]) for e in (train, val, test)] == [11, 22, 33]

    manifest = manifest_lib.load(str(out))
    assert [(v.id, v.name) for v in manifest.verbs] == [
        (1, "eat_obj"), (2, "eat_instr"), (3, "stand"), (4, "hold_obj"), (5, "cut_instr"), (6, "cut_obj")]
    assert [c.id for c in manifest.objects] == [1, 48, 49, 61]
    assert manifest.verb_target_categories == [[CAKE], [FORK], [], [], [KNIFE], [CAKE]]
    assert manifest.hoi_train_counts == {"-1,3": 2, "-1,4": 1, "48,2": 1, "49,5": 1, "61,1": 1, "61,6": 1}
    assert manifest.rare_hois == ["-1,1", "-1,2", "-1,3", "-1,4", "48,2", "49,5", "61,1", "61,6"]
    data = vcoco / "v-coco" / "data"
    assert manifest.splits["test"] == manifest_lib.Split(
        ["test-00000-of-00001.tfrecord"], 1, str(data / "vcoco" / "vcoco_test.json"),
        str(data / "instances_vcoco_all_2014.json"), str(data / "splits" / "vcoco_test.ids"))
    assert manifest.statistics["options"]["merge_iou"] == 0.0  # distinct COCO instances are never merged
    assert manifest.statistics["splits"]["train"] == {"records_read": 1, "records_written": 1, "skipped": {},
                                                      "counts": {}}


def test_vcoco_unknown_annotation_is_skipped(vcoco, caplog):
    path = vcoco / "v-coco" / "data" / "vcoco" / "vcoco_test.json"
    actions = json.loads(path.read_text())
    actions[0]["role_object_id"][1] = 999  # eat obj of person 401: not a COCO annotation
    path.write_text(json.dumps(actions))
    out = vcoco / "out"
    args = ["--dataset", "vcoco", "--annotations", vcoco / "v-coco" / "data", "--images", vcoco / "coco",
            "--output", out]
    assert convert(*args) == 0
    assert manifest_lib.load(str(out)).statistics["splits"]["test"]["skipped"] == {"unknown_annotation": 1}
    assert f"{path}: image 33: ann_id / role_object_id 999 is not a COCO annotation" in caplog.text
    assert convert(*args, "--strict") == 1
