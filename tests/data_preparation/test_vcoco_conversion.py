"""V-COCO conversion from the official s-gupta/v-coco layout."""

from __future__ import annotations

import json

from data_prep_util import assert_example, convert, read_split
from vcoco_files import ANNOTATIONS, CAKE, FORK, IMAGES, KNIFE, PERSON

from calipso_tf.data import manifest as manifest_lib

# verbs: eat_obj, eat_instr, stand, hold_obj, cut_instr, cut_obj
EAT_OBJ, EAT_INSTR, STAND, HOLD_OBJ, CUT_INSTR, CUT_OBJ = range(6)


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
        str(data / "instances_vcoco_all_2014.json"), str(data / "splits" / "vcoco_test.ids"),
        max_boxes=1, max_boxes_record=IMAGES[33][0], max_triplets=2, max_triplets_record=IMAGES[33][0])
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
    assert convert(*args) == 1  # the split's only image is skipped: an empty split is an error
    assert f"skipped (unknown_annotation): {path}: image 33: ann_id / role_object_id 999 is not a COCO annotation" \
        in caplog.text
    assert f"{path}: split 'test' has no record to write (1 read, skipped: {{'unknown_annotation': 1}})" in caplog.text
    assert convert(*args, "--strict") == 1
