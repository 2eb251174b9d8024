"""Bad input: each case is skipped, counted and logged with file, record and field; --strict fails."""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
from data_prep_util import convert, read_split, write_jpeg
from hico_files import mat_entry, mat_hoi, write_images, write_mat

from calipso_tf.data import manifest as manifest_lib

PERSON_BOX, CUP_BOX = [1, 1, 20, 30], [22, 5, 35, 20]
GOOD = {"annotations": [{"bbox": PERSON_BOX, "category_id": 1}, {"bbox": CUP_BOX, "category_id": 47}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 37}]}


def _variant(**changes) -> dict:
    entry = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        key, index, field = (path.split(".") + [None, None])[:3]
        if index is None:
            entry[key] = value
        else:
            entry[key][int(index)][field] = value
    return entry


CASES = {  # file number -> (entry, expected skip reason, text expected in the warning)
    1: (_variant(**{"annotations.1.bbox": [22, 5, 41.5, 20]}), None, None),  # 1.5 px outside: clipped
    2: (_variant(), "missing_image", "image/filename not found"),
    3: (_variant(), "corrupt_image", "image/encoded"),
    4: (_variant(**{"annotations.1.bbox": [30, 5, 22, 20]}), "invalid objects/bbox",
        "objects/bbox[1] = [30.0, 5.0, 22.0, 20.0] has x2 <= x1"),
    5: (_variant(**{"annotations.1.bbox": [22, 5, 50, 20]}), "invalid objects/bbox", "lies outside the 40x32 image"),
    6: (_variant(**{"hoi_annotation.0.object_id": 2}), "invalid hoi/object", "hoi/object index out of range"),
    7: (_variant(**{"annotations.1.category_id": 12}), "invalid objects/category_id",
        "objects/category_id 12 is not a known category"),
    8: (_variant(annotations=[], hoi_annotation=[]), "empty", "no annotations"),
    9: (_variant(**{"hoi_annotation.0.category_id": 500}), "unknown_verb",
        "hoi_annotation category_id 500 is not a known verb id"),
    10: (_variant(width=41, height=32), "size_mismatch", "image/width x image/height is 41x32"),
    11: (_variant(**{"hoi_annotation.0.subject_id": 1}), "subject_not_person",
         "hoi/subject of triplet 0 is box 1 of category 47"),
    12: (_variant(), None, None),  # CMYK JPEG: re-encoded
    13: ({"hoi_annotation": []}, "malformed_entry", "malformed entry (KeyError: 'annotations')"),
}


def _name(number: int) -> str:
    return f"HICO_train2015_{number:08d}.jpg"


def _write(tmp_path, cases: dict) -> None:
    folder = tmp_path / "ann"
    os.makedirs(folder, exist_ok=True)
    entries = [{"file_name": _name(n), **entry} for n, (entry, _, _) in cases.items()]
    (folder / "trainval_hico.json").write_text(json.dumps(entries))
    (folder / "test_hico.json").write_text(json.dumps([{"file_name": _name(1), **GOOD}]))
    for n in cases:
        if n != 2:
            write_jpeg(tmp_path / "images" / "train2015" / _name(n), 40, 32, mode="CMYK" if n == 12 else "RGB")
    write_jpeg(tmp_path / "images" / "test2015" / _name(1), 40, 32)
    corrupt = tmp_path / "images" / "train2015" / _name(3)
    if 3 in cases:
        corrupt.write_bytes(corrupt.read_bytes()[:100])


def _args(tmp_path, *extra):
    return ["--dataset", "hico_det", "--annotations", tmp_path / "ann", "--images", tmp_path / "images",
            "--output", tmp_path / "out", "--num-shards", 3, *extra]


def test_bad_records_are_skipped_counted_and_logged(tmp_path, caplog):
    _write(tmp_path, CASES)
    assert convert(*_args(tmp_path)) == 0
    stats = manifest_lib.load(str(tmp_path / "out")).statistics["splits"]["train"]
    expected = {}
    for _, reason, _ in CASES.values():
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    assert stats["skipped"] == dict(sorted(expected.items()))
    assert stats["counts"] == {"boxes_clipped": 1, "images_reencoded": 1}
    assert (stats["records_read"], stats["records_written"]) == (len(CASES), 2)
    source = str(tmp_path / "ann" / "trainval_hico.json")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == sum(expected.values())
    for n, (_, reason, text) in CASES.items():
        if reason:
            assert any(w.startswith(f"skipped ({reason}): {source}: record '{_name(n)}'") and text in w
                       for w in warnings), (reason, warnings)
    first, cmyk = read_split(tmp_path / "out", "train")
    np.testing.assert_allclose(first["boxes"], [PERSON_BOX, [22, 5, 40, 20]])
    assert tf.io.decode_image(cmyk["encoded"]).shape == (32, 40, 3)


def test_strict_fails_on_the_first_bad_record(tmp_path, caplog):
    _write(tmp_path, {n: CASES[n] for n in (1, 2, 4, 12)})
    assert convert(*_args(tmp_path, "--strict", "--workers", 1)) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and f"record '{_name(2)}'" in errors[0] and "image/filename not found" in errors[0]
    assert not os.path.exists(tmp_path / "out" / "manifest.json")
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".tmp")]
    assert convert(*_args(tmp_path, "--clip-tolerance", 0)) == 0  # the 1.5 px excursion is an error now
    assert manifest_lib.load(str(tmp_path / "out")).statistics["splits"]["train"]["skipped"] == {
        "invalid objects/bbox": 2, "missing_image": 1}


def test_mat_connection_out_of_range(tmp_path, caplog):
    write_images(tmp_path / "images")
    train = [mat_entry("HICO_train2015_00000001.jpg", [mat_hoi(3, [[1, 1, 10, 10]], [[12, 1, 20, 10]], [[1, 2]])]),
             mat_entry("HICO_train2015_00000002.jpg", [mat_hoi(4, [[1, 1, 10, 10]], [[12, 1, 20, 10]], [[1, 1]])])]
    write_mat(tmp_path / "anno_bbox.mat", train=train)
    args = ["--dataset", "hico_det", "--annotations", tmp_path / "anno_bbox.mat", "--images", tmp_path / "images",
            "--output", tmp_path / "out"]
    assert convert(*args) == 0
    stats = manifest_lib.load(str(tmp_path / "out")).statistics["splits"]["train"]
    assert stats["skipped"] == {"connection_out_of_range": 1} and stats["records_written"] == 1
    assert ("bbox_train(1) 'HICO_train2015_00000001.jpg': hoi[0].connection row 0 = [1, 2] is out of range "
            "for 1 bboxhuman and 1 bboxobject") in caplog.text
    assert convert(*args, "--strict") == 1
