"""HICO-DET in the UPT/PViC layout (instances_*2015.json): the same records as the PPDM/QPIC JSON of the
same images, pair rows joined into boxes, and bad input."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from data_prep_util import assert_same_splits, convert, write_jpeg
from hico_files import in_pair_order, write_upt_layout

from calipso_tf.data import manifest as manifest_lib
from calipso_tf.vocabularies.vocabulary import hico_hoi_categories, hico_objects, hico_verb_names
from data_prep import hico_det

PERSON, CUP, BACKPACK = 1, 47, 27
VERB_ID = {name: i for i, name in enumerate(hico_verb_names(), 1)}
OBJECT_INDEX = {coco_id: i for i, (coco_id, _) in enumerate(hico_objects())}  # COCO id -> HICO-80 index
HOLD, HUG, DRINK_WITH, CARRY = (VERB_ID[v] for v in ("hold", "hug", "drink_with", "carry"))
A, X, B = [2, 3, 20, 40], [30, 10, 60, 30], [25, 2, 45, 46]


def _entry(filename, size, boxes, pairs) -> dict:
    """PPDM/QPIC entry: boxes (box, COCO id), pairs (subject, object, verb id)."""
    return {"file_name": filename, "width": size[0], "height": size[1],
            "annotations": [{"bbox": b, "category_id": c} for b, c in boxes],
            "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v} for s, o, v in pairs]}


# a person in several pairs, a person as a target (hug), a backpack with a person's coordinates
HAND = _entry("HICO_train2015_00000001.jpg", (64, 48), [(A, PERSON), (X, CUP), (B, PERSON), (A, BACKPACK)],
              [(0, 1, HOLD), (0, 2, HUG), (2, 1, HOLD), (0, 1, DRINK_WITH), (0, 3, CARRY)])


def _random_entry(filename, size, persons, objects, pairs, seed) -> dict:
    """persons + objects distinct random boxes; every object has one pair, the remaining pairs are random,
    each with an HOI of its object's category."""
    rng = np.random.default_rng(seed)
    hois = np.asarray(hico_hoi_categories())
    corner = rng.integers(0, [size[0] - 40, size[1] - 40], (persons + objects, 2))
    boxes = np.concatenate([corner, corner + rng.integers(5, 40, (persons + objects, 2))], 1).astype(float) + 0.25
    categories = np.concatenate([np.full(persons, PERSON), hois[rng.integers(0, len(hois), objects), 1]])
    rows = [(i % persons, persons + i) for i in range(objects)]
    rows += [(int(s), int(o)) for s, o in zip(rng.integers(0, persons, pairs - objects),
                                              rng.integers(persons, persons + objects, pairs - objects))]
    verbs = [int(rng.choice(hois[hois[:, 1] == categories[o], 0])) for _, o in rows]
    return in_pair_order(_entry(filename, size, list(zip(boxes.tolist(), categories.tolist())),
                                [(s, o, v) for (s, o), v in zip(rows, verbs)]))


SPLITS = {
    "train": [HAND, _entry("HICO_train2015_00000002.jpg", (40, 30), [], []),
              _random_entry("HICO_train2015_00000003.jpg", (320, 240), 30, 90, 170, seed=0)],
    "test": [_random_entry("HICO_test2015_00000001.jpg", (120, 90), 3, 4, 6, seed=1)],
}


@pytest.fixture()
def both_layouts(tmp_path):
    """tmp_path with images/, ppdm/ (trainval_hico.json, test_hico.json) and upt/ (instances_*2015.json) of SPLITS."""
    for split, entries in SPLITS.items():
        ppdm_file, folder, _ = hico_det.SPLITS[split]
        os.makedirs(tmp_path / "ppdm", exist_ok=True)
        (tmp_path / "ppdm" / ppdm_file).write_text(json.dumps(entries))
        write_upt_layout(tmp_path / "upt" / hico_det.UPT_FILES[split], entries)
        for e in entries:
            write_jpeg(str(tmp_path / "images" / folder / e["file_name"]), e["width"], e["height"])
    return tmp_path


def test_pairs_become_boxes_in_order_of_first_appearance(both_layouts):
    verbs = hico_det.hico_verbs(None)
    split = hico_det.read_upt_split("train", str(both_layouts / "upt" / "instances_train2015.json"), "images",
                                    verbs, strict=True)
    hand, empty, big = split.records
    np.testing.assert_array_equal(hand.boxes, [A, X, B, A])
    np.testing.assert_array_equal(hand.category_ids, [PERSON, CUP, PERSON, BACKPACK])
    np.testing.assert_array_equal(hand.triplets, [[0, 1, HOLD - 1], [0, 2, HUG - 1], [2, 1, HOLD - 1],
                                                  [0, 1, DRINK_WITH - 1], [0, 3, CARRY - 1]])
    assert (hand.image_id, hand.width, hand.height) == (1, 64, 48)
    assert empty.boxes.shape == (0, 4) and empty.triplets.shape == (0, 3)
    assert (len(big.boxes), len(big.triplets)) == (120, 170)


def test_upt_and_ppdm_layouts_give_identical_records(both_layouts):
    verbs = hico_det.hico_verbs(None)
    for split in SPLITS:
        ppdm_file, folder, _ = hico_det.SPLITS[split]
        ppdm = hico_det.read_json_split(split, str(both_layouts / "ppdm" / ppdm_file), folder, verbs, strict=True)
        upt = hico_det.read_upt_split(split, str(both_layouts / "upt" / hico_det.UPT_FILES[split]), folder, verbs,
                                      strict=True)
        assert len(upt.records) == len(ppdm.records) == len(SPLITS[split])
        for a, b in zip(upt.records, ppdm.records):
            for field in ("filename", "image_id", "width", "height", "boxes", "category_ids", "triplets"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"{a.filename} {field}")

    common = ["--dataset", "hico_det", "--images", both_layouts / "images", "--num-shards", 2, "--workers", 1]
    assert convert(*common, "--annotations", both_layouts / "upt", "--output", both_layouts / "a") == 0
    assert convert(*common, "--annotations", both_layouts / "ppdm", "--output", both_layouts / "b") == 0
    assert_same_splits(both_layouts / "a", both_layouts / "b")
    ma, mb = manifest_lib.load(str(both_layouts / "a")), manifest_lib.load(str(both_layouts / "b"))
    assert ma.statistics["splits"] == mb.statistics["splits"]
    assert ma.statistics["splits"]["train"]["skipped"] == {"empty": 1}
    assert (ma.verbs, ma.objects, ma.verb_target_categories, ma.hoi_train_counts) == \
           (mb.verbs, mb.objects, mb.verb_target_categories, mb.hoi_train_counts)
    # the evaluator reads the UPT content in the PPDM/QPIC layout, written beside the shards
    for split, entries in SPLITS.items():
        with open(ma.splits[split].annotations) as f:
            written = json.load(f)
        keys = ("file_name", "annotations", "hoi_annotation")
        assert written == [{k: e[k] for k in keys} for e in json.loads(json.dumps(entries))]


def _bad(**fields) -> dict:
    """The HAND image as one UPT annotation entry with fields replaced."""
    upt = {"boxes_h": [A, A], "boxes_o": [X, B], "object": [OBJECT_INDEX[CUP], OBJECT_INDEX[PERSON]], "verb": [HOLD - 1, HUG - 1]}
    upt["hoi"] = [hico_hoi_categories().index((HOLD, CUP)), hico_hoi_categories().index((HUG, PERSON))]
    return {**upt, **fields}


BAD = {  # image index -> (annotation entry or size, skip reason, text of the warning)
    1: (_bad(verb=[HOLD - 1]), "malformed_entry", "annotation: field 'boxes_h' has 2 rows but 'verb' has 1"),
    2: (_bad(boxes_o=[X, [1, 2, 3]]), "malformed_entry", "field 'boxes_o' must be a list of 4 numbers per pair"),
    3: (_bad(verb=[HOLD - 1, 117]), "unknown_verb", "annotation verb[1] = 117 is outside 0..116"),
    4: (_bad(object=[80, OBJECT_INDEX[PERSON]]), "unknown_object", "annotation object[0] = 80 is outside 0..79"),
    5: (_bad(hoi=[0, 0]), "hoi_mismatch", "annotation hoi[0] = 0 is (object, verb) (0, 4) in correspondence but "
                                          f"the pair has object {OBJECT_INDEX[CUP]}, verb {HOLD - 1}"),
    6: ([64], "malformed_entry", "field 'size' must be [width, height] in px, got [64]"),
    7: (_bad(), "duplicate_filename", "is already the file of image 0"),
}


def test_bad_upt_entries_are_skipped_counted_and_logged(tmp_path, caplog):
    write_upt_layout(tmp_path / "upt" / "instances_train2015.json", [HAND])
    write_upt_layout(tmp_path / "upt" / "instances_test2015.json", [HAND])
    path = tmp_path / "upt" / "instances_train2015.json"
    data = json.loads(path.read_text())
    for n, (value, _, _) in BAD.items():
        data["filenames"].append(f"HICO_train2015_{n + 1:08d}.jpg" if n != 7 else HAND["file_name"])
        data["size"].append(value if isinstance(value, list) else [64, 48])
        data["annotation"].append(_bad() if isinstance(value, list) else value)
    path.write_text(json.dumps(data))
    for n in range(8):
        write_jpeg(str(tmp_path / "images" / "train2015" / f"HICO_train2015_{n + 1:08d}.jpg"), 64, 48)
    write_jpeg(str(tmp_path / "images" / "test2015" / HAND["file_name"]), 64, 48)
    args = ["--dataset", "hico_det", "--annotations", tmp_path / "upt", "--images", tmp_path / "images",
            "--output", tmp_path / "out", "--workers", 1]
    with caplog.at_level(logging.WARNING, logger="data_prep"):
        assert convert(*args) == 0
    stats = manifest_lib.load(str(tmp_path / "out")).statistics["splits"]["train"]
    assert stats["skipped"] == {"duplicate_filename": 1, "hoi_mismatch": 1, "malformed_entry": 3, "unknown_object": 1,
                                "unknown_verb": 1}
    assert (stats["records_read"], stats["records_written"]) == (8, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for n, (value, reason, text) in BAD.items():
        name = HAND["file_name"] if n == 7 else f"HICO_train2015_{n + 1:08d}.jpg"
        assert any(w.startswith(f"skipped ({reason}): {path}: image {n} ('{name}')") and text in w
                   for w in warnings), (reason, warnings)
    caplog.clear()
    assert convert(*args, "--strict") == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{path}: image 1 ('HICO_train2015_00000002.jpg'): {BAD[1][2]}"]


@pytest.mark.parametrize("change, message", [
    ({"objects": ["airplane", "tram"]}, "objects[1] = 'tram' is not a HICO-DET object"),
    ({"verbs": ["adjust", "assemble", "blocks"]}, ("verbs[2] is 'blocks' but verb index 2 is 'block' here (3 verbs in the file, 117 here; "
                                                  "--verb-names sets the names)")),
    ({"filenames": []}, "annotation, filenames and size must have one entry per image, got 1, 0 and 1"),
    ({"annotation": None}, "field 'annotation' must be a list, got NoneType"),
])
def test_malformed_upt_files_stop_naming_the_file_and_field(tmp_path, caplog, change, message):
    for file in hico_det.UPT_FILES.values():
        write_upt_layout(tmp_path / "upt" / file, [HAND])
    path = tmp_path / "upt" / "instances_train2015.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    assert convert("--dataset", "hico_det", "--annotations", tmp_path / "upt", "--images", tmp_path / "images",
                   "--output", tmp_path / "out") == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [f"{path}: {message}"]


def test_a_folder_with_both_layouts_or_neither_is_refused(both_layouts, caplog):
    (both_layouts / "ppdm" / "instances_test2015.json").write_text("{}")
    args = ["--dataset", "hico_det", "--images", both_layouts / "images", "--output", both_layouts / "out"]
    assert convert(*args, "--annotations", both_layouts / "ppdm") == 1
    assert "holds both ['trainval_hico.json', 'test_hico.json'] (PPDM/QPIC layout) and ['instances_test2015.json']" \
           in caplog.text
    assert convert(*args, "--annotations", both_layouts / "images") == 1
    assert "no trainval_hico.json / test_hico.json (PPDM/QPIC layout) and no instances_train2015.json" in caplog.text
