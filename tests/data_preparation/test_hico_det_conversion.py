"""HICO-DET conversion: anno_bbox.mat and the PPDM/QPIC JSON layout, cleaning, reruns."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import scipy.io
from data_prep_util import assert_example, assert_same_splits, convert, read_split, write_jpeg

from calipso_tf.data import manifest as manifest_lib
from data_prep import cleaning
from calipso_tf.constants import COCO_CATEGORIES

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


def _hoi(hoi_id, humans, objects, connection, invis=0) -> dict:
    return {"id": float(hoi_id), "bboxhuman": _boxes(humans), "bboxobject": _boxes(objects),
            "connection": np.asarray(connection, np.float64).reshape(-1, 2) if connection else np.zeros((0, 0)),
            "invis": float(invis)}


def _entry(filename, hois) -> dict:
    width, height = SIZES[filename]
    return {"filename": filename, "size": _struct([{"width": float(width), "height": float(height), "depth": 3.0}]),
            "hoi": _struct(hois)}


def write_mat(path, train=None, test=None) -> None:
    """anno_bbox.mat with the real field names (list_action 6x1 here, 600x1 in the release)."""
    train = train or [
        _entry("HICO_train2015_00000001.jpg", [
            _hoi(1, [H1], [A1], [[1, 1]]),
            _hoi(2, [[2.5, 3, 20, 41]], [A1], [[1, 1]]),  # duplicates of H1 and A1 -> merged
            _hoi(6, [], [], [], invis=1),
            _hoi(3, [HB1, [41, 2, 50, 30]], [BIKE], [[1, 1], [2, 1]]),  # two copies of one person -> one triplet
        ]),
        _entry("HICO_train2015_00000002.jpg", [_hoi(4, [P1], [P2], [[1, 1]]), _hoi(5, [P1], [[0, 30, 39, 49]], [])]),
    ]
    test = test or [_entry("HICO_test2015_00000001.jpg", [_hoi(1, [T1, T2], [TA], [[1, 1], [2, 1]])])]
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
    for name, (width, height) in SIZES.items():
        write_jpeg(os.path.join(images, "train2015" if "train" in name else "test2015", name), width, height)


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
    # without a names file the JSON layout has the 117 HICO verb ids, named verb_<id>
    assert convert(*common, "--annotations", hico / "json", "--output", hico / "c") == 0
    verbs = manifest_lib.load(str(hico / "c")).verbs
    assert len(verbs) == 117 and (verbs[0].id, verbs[0].name) == (1, "verb_1")
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
