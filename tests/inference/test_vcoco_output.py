"""Decoded triplets -> the official V-COCO detections pickle, and evaluate.py's V-COCO model mode."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from data_prep_util import convert
from vcoco_files import ANNOTATIONS, IMAGES

from calipso_tf import config as config_lib
from calipso_tf.inference import model_evaluation
from calipso_tf.inference.detectors import GroundTruthDetections
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.visualization import contact_sheet as cs
from calipso_tf.evaluation.vcoco import VcocoGroundTruth
from calipso_tf.inference.vcoco_output import VcocoLayout, ground_truth_entry, image_detections, write_pickle

from harness import REPO_ROOT as ROOT
NAN = float("nan")
ACTIONS = ["eat", "stand", "hold", "cut"]
ROLES = [["obj", "instr"], [], ["obj"], ["instr", "obj"]]
VERBS = ["eat_obj", "eat_instr", "stand", "hold_obj", "cut_instr", "cut_obj"]  # as data_prep names them
EAT_OBJ, EAT_INSTR, STAND, HOLD_OBJ, CUT_INSTR, CUT_OBJ = range(6)
KEYS = ["image_id", "person_box", "eat_agent", "eat_obj", "eat_instr", "stand_agent", "hold_agent", "hold_obj",
        "cut_agent", "cut_instr", "cut_obj"]


def _triplets(rows, pad: int = 3) -> dict:
    """rows (subject, object or -1, verb, score) -> one image of the decoder output, padded."""
    rows = list(rows) + [(-1, -1, -1, 0.0)] * pad
    return {"subject_index": np.array([r[0] for r in rows], np.int32),
            "object_index": np.array([r[1] for r in rows], np.int32),
            "verb": np.array([r[2] for r in rows], np.int32),
            "score": np.array([r[3] for r in rows], np.float32),
            "num_triplets": np.int32(len(rows) - pad)}


def test_layout_maps_verbs_to_action_roles():
    layout = VcocoLayout.from_names(ACTIONS, ROLES, VERBS)
    assert layout.verb_slots == [(0, 0), (0, 1), (1, -1), (2, 0), (3, 0), (3, 1)]
    with pytest.raises(ValueError, match="verb 'eat_spoon'"):
        VcocoLayout.from_names(ACTIONS, ROLES, VERBS + ["eat_spoon"])


def test_two_persons_to_pickle_entries():
    layout = VcocoLayout.from_names(ACTIONS, ROLES, VERBS)
    # detections: 0 person, 1 cake, 2 person, 3 fork; the decoder's order
    boxes = np.array([[0, 0, 10, 20], [5, 5, 15, 15], [20, 0, 30, 20], [12, 8, 14, 18]], np.float32)
    triplets = _triplets([(0, 1, EAT_OBJ, 0.75), (0, 1, CUT_OBJ, 0.625), (2, 3, CUT_INSTR, 0.5),
                          (0, -1, STAND, 0.4375), (0, -1, EAT_INSTR, 0.375), (2, 1, HOLD_OBJ, 0.25)])
    entries = image_detections(triplets, boxes, [1, 61, 1, 48], 42, layout)
    assert [list(e) for e in entries] == [KEYS, KEYS]
    nan_role = [NAN] * 4 + [0.0]  # not predicted: NaN box, score 0 (ranks last everywhere)
    np.testing.assert_equal(entries[0], {  # assert_equal: NaN == NaN
        "image_id": 42, "person_box": [0.0, 0.0, 10.0, 20.0],
        "eat_agent": 0.75, "eat_obj": [5.0, 5.0, 15.0, 15.0, 0.75],
        "eat_instr": [NAN, NAN, NAN, NAN, 0.375],  # the no-target pair won: NaN box, its score
        "stand_agent": 0.4375,  # agent-only: the verb's score
        "hold_agent": 0.0, "hold_obj": nan_role,  # not predicted
        "cut_agent": 0.625, "cut_instr": nan_role, "cut_obj": [5.0, 5.0, 15.0, 15.0, 0.625]})
    np.testing.assert_equal(entries[1], {
        "image_id": 42, "person_box": [20.0, 0.0, 30.0, 20.0],
        "eat_agent": 0.0, "eat_obj": nan_role, "eat_instr": nan_role, "stand_agent": 0.0,
        "hold_agent": 0.25, "hold_obj": [5.0, 5.0, 15.0, 15.0, 0.25],
        "cut_agent": 0.5, "cut_instr": [12.0, 8.0, 14.0, 18.0, 0.5], "cut_obj": nan_role})
    assert all(type(v) in (int, float, list) for e in entries for v in e.values())  # plain Python, no numpy


def test_person_without_triplets_and_non_person_subject():
    layout = VcocoLayout.from_names(ACTIONS, ROLES, VERBS)
    (entry,) = image_detections(_triplets([]), [[1, 2, 3, 4]], [1], 7, layout)
    assert entry["image_id"] == 7 and all(entry[f"{a}_agent"] == 0.0 for a in ACTIONS)
    with pytest.raises(ValueError, match="not a person detection"):
        image_detections(_triplets([(1, -1, STAND, 0.5)]), [[1, 2, 3, 4], [2, 3, 4, 5]], [1, 61], 7, layout)


def test_write_pickle_is_atomic_and_loadable(tmp_path):
    path = tmp_path / "eval" / "detections.pkl"
    write_pickle(str(path), [{"image_id": 1, "person_box": [0.0, 0.0, 1.0, 1.0]}])
    assert pickle.loads(path.read_bytes()) == [{"image_id": 1, "person_box": [0.0, 0.0, 1.0, 1.0]}]
    assert os.listdir(tmp_path / "eval") == ["detections.pkl"]


def test_ground_truth_entry_for_the_contact_sheet():
    layout = VcocoLayout.from_names(ACTIONS, ROLES, VERBS)
    none = [-1] * 4
    cake, fork = [5, 5, 15, 15], [12, 8, 14, 18]
    # Person 0 eats the cake (no instrument) and stands; person 1 holds the cake and cuts it with the fork.
    labels = np.int8([[1, 1, 0, 0], [0, 0, 1, 1]])
    role_boxes = np.float32([[[cake, none], [none, none], [none, none], [none, none]],
                             [[none, none], [none, none], [cake, none], [fork, cake]]])
    role_categories = np.where(np.all(role_boxes == -1, axis=-1), -1,
                               np.where(role_boxes[..., 0] == 12, 48, 61)).astype(np.int64)
    gt = VcocoGroundTruth(ACTIONS, ROLES, np.int64([7]), [np.float32([[0, 0, 10, 20], [20, 0, 30, 20]])], [labels],
                          [role_boxes], [role_categories])
    verb_ids = [11, 12, 13, 14, 15, 16]  # dataset ids of VERBS
    entry = ground_truth_entry(gt, 0, layout, verb_ids, "a.jpg")
    assert entry["file_name"] == "a.jpg"
    # Persons, then each distinct role object once (the cake serves three triplets).
    assert entry["annotations"] == [{"bbox": [0, 0, 10, 20], "category_id": 1},
                                    {"bbox": [20, 0, 30, 20], "category_id": 1},
                                    {"bbox": cake, "category_id": 61}, {"bbox": fork, "category_id": 48}]
    assert entry["hoi_annotation"] == [
        {"subject_id": 0, "object_id": 2, "category_id": 11}, {"subject_id": 0, "object_id": -1, "category_id": 12},
        {"subject_id": 0, "object_id": -1, "category_id": 13},  # stand: agent only
        {"subject_id": 1, "object_id": 2, "category_id": 14},
        {"subject_id": 1, "object_id": 3, "category_id": 15}, {"subject_id": 1, "object_id": 2, "category_id": 16}]


def test_ground_truth_from_coco(tmp_path):
    instances = {"images": [{"id": 5, "file_name": "a.jpg"}, {"id": 6, "file_name": "b.jpg"}],
                 "annotations": [{"id": 1, "image_id": 5, "category_id": 1, "bbox": [1, 2, 10, 20]},
                                 {"id": 2, "image_id": 5, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1},
                                 {"id": 3, "image_id": 5, "category_id": 61, "bbox": [4, 4, 0, 3]},
                                 {"id": 4, "image_id": 5, "category_id": 61, "bbox": [4, 4, 2.5, 3]},
                                 {"id": 5, "image_id": 6, "category_id": 1, "bbox": [1, 1, 2, 2]}]}
    (tmp_path / "instances.json").write_text(json.dumps(instances))
    source = GroundTruthDetections.from_coco(str(tmp_path / "instances.json"), [5])
    det = source("images/a.jpg")
    np.testing.assert_array_equal(det.boxes, [[1, 2, 11, 22], [4, 4, 6.5, 7]])  # crowd and empty boxes dropped
    np.testing.assert_array_equal(det.category_ids, [1, 61])
    np.testing.assert_array_equal(det.scores, [1, 1])
    with pytest.raises(KeyError, match="b.jpg"):
        source("b.jpg")
    with pytest.raises(ValueError, match="image id 9 is not in 'images'"):
        GroundTruthDetections.from_coco(str(tmp_path / "instances.json"), [9])


def test_evaluate_vcoco_model_end_to_end(vcoco):
    data = vcoco / "out"
    assert convert("--dataset", "vcoco", "--annotations", vcoco / "v-coco", "--images", vcoco / "coco",
                   "--output", data) == 0
    config = config_lib.load_config(None, [
        "model.image_size=[64,64]", "model.backbone_depth=18", "model.backbone_width=0.25", "model.head_blocks=1",
        "model.head_channels=16", "model.embedding_dim=2", f"model.num_verbs={len(VERBS)}",
        f"data.data_dir={data}", "data.eval_split=test"])
    run = vcoco / "run"
    tf.train.Checkpoint(model=build_model(config)).save(str(run / "checkpoints" / "ckpt"))
    config_lib.save_config(config, str(run / "config.yaml"))

    subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), "--dataset=vcoco", f"--checkpoint={run}",
                    "--detections=gt", "--noplots"], check=True, cwd=vcoco)

    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    # The test image's one person eats with no role object. Its only detection is itself, so
    # every verb keeps the no-target pair: NaN role boxes, right in scenario 1 and 2.
    assert metrics["AP_role_scenario1"] == metrics["AP_role_scenario2"] == 100.0
    assert metrics["AP_role_scenario1_24"] == 100.0
    assert metrics["AP_agent"] == 25.0  # eat: AP 1; the other 3 actions have no positives (NaN, nansum / 4)
    assert metrics["detections_dropped"] == {"cap": 1, "boxes": 0, "images": 0}  # D: the one detection
    assert metrics["images_without_predictions"] == 0
    detections = pickle.loads((run / "eval" / "detections.pkl").read_bytes())
    (entry,) = detections
    assert list(entry) == KEYS
    x, y, w, h = ANNOTATIONS[401][2]
    assert entry["image_id"] == 33 and IMAGES[33][0].startswith("COCO_val2014")
    assert entry["person_box"] == [x, y, x + w, y + h]
    for key in ("eat_obj", "eat_instr", "hold_obj", "cut_instr", "cut_obj"):
        assert all(math.isnan(v) for v in entry[key][:4]) and 0.0 <= entry[key][4] <= 1.0
    assert all(0.0 <= entry[f"{a}_agent"] <= 1.0 for a in ACTIONS)
    # The contact sheet: one ranked image (the split's only one), a best row and no worst one.
    sheet = np.asarray(Image.open(run / "eval" / model_evaluation.CONTACT_SHEET))
    row_height = cs.TILE + 2 * cs.LINE + cs.GAP
    assert sheet.shape == (cs.GAP + 2 * cs.LINE + cs.GAP + row_height,
                           2 * (2 * cs.TILE + cs.GAP) + cs.COLUMN_GAP + 2 * cs.GAP, 3)

    subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), "--dataset=vcoco", f"--checkpoint={run}",
                    "--detections=gt", "--noplots", "--nocontact_sheet", f"--output={vcoco / 'bare' / 'metrics.json'}"],
                   check=True, cwd=vcoco)
    assert sorted(os.listdir(vcoco / "bare")) == ["detections.pkl", "metrics.json"]
