"""HICO-DET conversion: anno_bbox.mat and the PPDM/QPIC JSON layout, cleaning, reruns."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from data_prep_util import assert_example, assert_same_splits, convert, read_split
from hico_files import (AIRPLANE, BICYCLE, BIKE, BOARD, H1, HB1, HOLD, HUG, P1, P2, PERSON, RIDE, T1, T2, TA, VERBS,
                        write_images, write_json_layout, write_mat)

from calipso_tf.data import manifest as manifest_lib
from data_prep import cleaning
from calipso_tf.constants import COCO_CATEGORIES


@pytest.fixture()
def hico(tmp_path):
    """tmp_path with images/, anno_bbox.mat and json/ holding the same annotations."""
    write_images(tmp_path / "images")
    write_mat(tmp_path / "anno_bbox.mat")
    write_json_layout(tmp_path / "json")
    with open(tmp_path / "verbs.json", "w") as f:
        json.dump(VERBS, f)
    return tmp_path


def test_mat_layout(hico):
    out = hico / "out"
    assert convert("--dataset", "hico_det", "--annotations", hico / "anno_bbox.mat", "--images", hico / "images",
                   "--output", out, "--num-shards", 2, "--workers", 1) == 0
    train, test = read_split(out, "train"), read_split(out, "test")
    assert len(train) == 2 and len(test) == 1
    assert_example(train[0], "HICO_train2015_00000001.jpg", (64, 48), [H1, [30, 10, 64, 30], HB1, BIKE],
                   [PERSON, AIRPLANE, PERSON, BICYCLE], [[0, 1, BOARD], [0, 1, RIDE], [2, 3, HOLD]])
    assert_example(train[1], "HICO_train2015_00000002.jpg", (40, 50), [P1, P2], [PERSON, PERSON], [[0, 1, HUG]])
    assert_example(test[0], "HICO_test2015_00000001.jpg", (60, 40), [T1, T2, TA], [PERSON, PERSON, AIRPLANE],
                   [[0, 2, BOARD], [1, 2, BOARD]])
    assert [int(e["image_id"]) for e in train + test] == [1, 2, 1]

    manifest = manifest_lib.load(str(out))
    assert [v.name for v in manifest.verbs] == VERBS and [v.id for v in manifest.verbs] == [1, 2, 3, 4, 5, 6]
    assert {c.id: c.name for c in manifest.objects} == COCO_CATEGORIES
    assert manifest.splits["train"].shards == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert manifest.splits["test"].shards == ["test-00000-of-00001.tfrecord"]
    assert manifest.verb_target_categories == [[AIRPLANE], [], [BICYCLE], [PERSON], [], [AIRPLANE]]
    assert manifest.hoi_train_counts == {"1,4": 1, "2,3": 1, "5,1": 1, "5,6": 1}
    assert manifest.rare_hois == ["1,4", "2,3", "5,1", "5,6"] and manifest.non_rare_hois == []
    stats = manifest.statistics["splits"]
    assert stats["train"] == {"records_read": 2, "records_written": 2, "skipped": {},
                              "counts": {"boxes_clipped": 2, "boxes_merged": 3, "hoi_invisible": 1,
                                         "hoi_without_connection": 1, "triplets_deduplicated": 1}}
    assert stats["test"]["counts"] == {} and stats["test"]["records_written"] == 1
    # the .mat content is also written in the JSON layout, for the evaluator
    assert manifest.splits["test"].annotations == str(out / "annotations" / "test_hico.json")
    with open(manifest.splits["test"].annotations) as f:
        assert json.load(f)[0]["hoi_annotation"][1] == {"subject_id": 1, "object_id": 2, "category_id": BOARD + 1}


def test_mat_and_json_layouts_give_identical_records(hico):
    common = ["--dataset", "hico_det", "--images", hico / "images", "--num-shards", 1]
    assert convert(*common, "--annotations", hico / "anno_bbox.mat", "--output", hico / "a") == 0
    assert convert(*common, "--annotations", hico / "json", "--verb-names", hico / "verbs.json",
                   "--output", hico / "b") == 0
    assert_same_splits(hico / "a", hico / "b")
    ma, mb = manifest_lib.load(str(hico / "a")), manifest_lib.load(str(hico / "b"))
    assert (ma.verbs, ma.objects, ma.verb_target_categories, ma.hoi_train_counts) == \
           (mb.verbs, mb.objects, mb.verb_target_categories, mb.hoi_train_counts)
    # without a names file the JSON layout has the 117 HICO verb ids with HICO's names
    assert convert(*common, "--annotations", hico / "json", "--output", hico / "c") == 0
    verbs = manifest_lib.load(str(hico / "c")).verbs
    assert len(verbs) == 117 and (verbs[0].id, verbs[0].name) == (1, "adjust")
    np.testing.assert_array_equal(read_split(hico / "c", "train")[0]["triplets"],
                                  read_split(hico / "b", "train")[0]["triplets"])


def test_rerun_skips_finished_shards_and_options_invalidate(hico, caplog):
    out = hico / "out"
    args = ["--dataset", "hico_det", "--annotations", hico / "anno_bbox.mat", "--images", hico / "images",
            "--output", out, "--num-shards", 2]
    assert convert(*args) == 0
    shards = sorted(p for p in os.listdir(out) if p.endswith(".tfrecord"))
    stamps = {p: os.stat(out / p).st_mtime_ns for p in shards}
    manifest = manifest_lib.load(str(out))
    with caplog.at_level(logging.INFO, logger="data_prep"):
        assert convert(*args) == 0
    assert "3 of 3 shards are up to date; writing 0" in caplog.text
    assert {p: os.stat(out / p).st_mtime_ns for p in shards} == stamps
    assert manifest_lib.load(str(out)) == manifest

    assert convert(*args, "--merge-iou", 0) == 0  # another option: every shard is rewritten
    assert manifest_lib.load(str(out)).statistics["splits"]["train"]["counts"].get("boxes_merged", 0) == 0
    assert all(os.stat(out / p).st_mtime_ns != stamps[p] for p in shards)

    assert convert(*args, "--num-shards", 1) == 0  # fewer shards: the stale ones are removed
    assert sorted(p for p in os.listdir(out) if p.endswith(".tfrecord")) == \
           ["test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord"]


def test_parallel_workers_write_the_same_shards(hico):
    args = ["--dataset", "hico_det", "--annotations", hico / "json", "--images", hico / "images", "--num-shards", 2]
    assert convert(*args, "--workers", 1, "--output", hico / "one") == 0
    assert convert(*args, "--workers", 2, "--output", hico / "two") == 0
    assert manifest_lib.load(str(hico / "one")).splits == manifest_lib.load(str(hico / "two")).splits
    assert_same_splits(hico / "one", hico / "two")


def test_snap_to_detections(hico):
    detections = [{"file_name": "HICO_train2015_00000002.jpg", "boxes": [[2, 2, 18, 44], [0, 0, 5, 5], [21, 3, 39, 47]],
                   "category_ids": [1, 1, 62], "scores": [0.9, 0.8, 0.7]}]
    with open(hico / "dets.json", "w") as f:
        json.dump(detections, f)
    out = hico / "out"
    assert convert("--dataset", "hico_det", "--annotations", hico / "json", "--images", hico / "images",
                   "--output", out, "--snap-detections", hico / "dets.json") == 0
    # P1 takes the overlapping person detection; P2's only overlap is a chair
    assert_example(read_split(out, "train")[1], "HICO_train2015_00000002.jpg", (40, 50), [[2, 2, 18, 44], P2],
                   [PERSON, PERSON], [[0, 1, HUG]])
    manifest = manifest_lib.load(str(out))
    assert manifest.statistics["splits"]["train"]["counts"] == {"boxes_clipped": 1, "boxes_snapped": 1}
    assert manifest.statistics["options"]["snap_detections"] == str(hico / "dets.json")


def test_merge_duplicates_keeps_first_box_and_remaps_triplets():
    from calipso_tf.data.records import HoiRecord
    record = HoiRecord("x.jpg", 1, 100, 100,
                       boxes=np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 11], [0, 0, 10, 10]], np.float32),
                       category_ids=np.array([1, 3, 1, 5]),
                       triplets=np.array([[0, 1, 0], [2, 1, 0], [2, 3, 1], [2, -1, 2]]))
    merged, boxes_merged, dropped = cleaning.merge_duplicates(record, 0.7)
    assert (boxes_merged, dropped) == (1, 1)
    np.testing.assert_array_equal(merged.boxes, [[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10]])
    np.testing.assert_array_equal(merged.category_ids, [1, 3, 5])
    np.testing.assert_array_equal(merged.triplets, [[0, 1, 0], [0, 2, 1], [0, -1, 2]])


def test_synthetic_is_generated_then_read_as_hico_json(tmp_path):
    out = tmp_path / "out"
    assert convert("--dataset", "synthetic", "--output", out, "--synthetic-train", 12, "--synthetic-test", 3,
                   "--num-shards", 2, "--workers", 1) == 0
    manifest = manifest_lib.load(str(out))
    assert [v.name for v in manifest.verbs] == ["hold", "look", "hug", "run"]
    with open(out / "source" / "annotations" / "trainval_hico.json") as f:
        entries = {e["file_name"]: e for e in json.load(f)}
    train = read_split(out, "train")
    assert len(train) == len(entries) == 12
    for example in train:
        entry = entries[example["filename"].decode()]
        assert_example(example, entry["file_name"], (entry["width"], entry["height"]),
                       [a["bbox"] for a in entry["annotations"]], [a["category_id"] for a in entry["annotations"]],
                       [[h["subject_id"], h["object_id"], h["category_id"] - 1] for h in entry["hoi_annotation"]])
    assert manifest.verb_target_categories[3] == []  # run has no target: rows with object_id -1
    assert manifest.hoi_train_counts.get("-1,4", 0) == sum(h["category_id"] == 4 for e in entries.values()
                                                            for h in e["hoi_annotation"])
