"""iCAN/TIN pickles and UPT per-image JSON folders read into the same `Detections` as the documented JSON."""

import json
import logging
import math
import pickle

import numpy as np
import pytest

from calipso_tf.config import InferenceConfig
from calipso_tf.inference import detectors

NAME = "HICO_test2015_00000007.jpg"
# Kept boxes: person 0.9, cup (COCO 47) 0.4, chair (COCO 62) 0.35.
KEPT = {"boxes": [[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]], "category_ids": [1, 47, 62],
        "scores": [0.9, 0.4, 0.35]}
# Hand-counted class codes: iCAN contiguous 1..80 (person 1, cup 42, chair 57); HICO-80 alphabetical
# (person 49 = UPT's human_idx, cup 26, chair 22).
ICAN_CLASS = {1: 1, 47: 42, 62: 57}
HICO80 = {1: 49, 47: 26, 62: 22}


def ican_pickle(tmp_path):
    rows = [[7, "Human" if c == 1 else "Object", np.array(b, np.float32), math.nan, ICAN_CLASS[c], s]
            for b, c, s in zip(KEPT["boxes"], KEPT["category_ids"], KEPT["scores"])]
    rows += [[7, "Human", np.array([2, 2, 8, 9]), math.nan, 1, 0.7],        # person below 0.8: dropped
             [7, "Object", np.array([3, 3, 9, 9]), math.nan, 57, 0.25]]     # object below 0.3: dropped
    path = tmp_path / "test_HICO.pkl"
    path.write_bytes(pickle.dumps({7: rows}))
    return str(path)


def upt_folder(tmp_path, labels):
    folder = tmp_path / f"upt_{labels}"
    folder.mkdir()
    codes = [HICO80[c] if labels == "hico80" else c for c in KEPT["category_ids"]]
    (folder / NAME.replace(".jpg", ".json")).write_text(
        json.dumps({"boxes": KEPT["boxes"], "scores": KEPT["scores"], "labels": codes}))
    return str(folder)


def test_three_formats_give_identical_detections(tmp_path, caplog):
    reference = tmp_path / "dets.json"
    reference.write_text(json.dumps([{"file_name": NAME, **KEPT}]))
    with caplog.at_level(logging.INFO):
        sources = [detectors.make_source(str(reference)), detectors.make_source(ican_pickle(tmp_path)),
                   detectors.make_source(upt_folder(tmp_path, "hico80")),
                   detectors.DetectionsFile(upt_folder(tmp_path, "coco"), labels="coco")]
    assert "dropped 2 boxes" in caplog.text
    want = sources[0](NAME)
    np.testing.assert_array_equal(want.category_ids, [1, 47, 62])
    for source in sources[1:]:
        got = source("images/test2015/" + NAME)
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.category_ids, want.category_ids)
        np.testing.assert_array_equal(got.scores, want.scores)


def test_thresholds_are_options(tmp_path):
    det = detectors.DetectionsFile(ican_pickle(tmp_path), human_threshold=0.5, object_threshold=0.2)(NAME)
    np.testing.assert_array_equal(det.category_ids, [1, 1, 47, 62, 62])  # all five, highest score first
    np.testing.assert_allclose(det.scores, [0.9, 0.7, 0.4, 0.35, 0.25])
    inference = InferenceConfig(detection_human_threshold=0.5, detection_object_threshold=0.3)
    via_config = detectors.make_source(ican_pickle(tmp_path), **detectors.format_options(inference))(NAME)
    np.testing.assert_array_equal(via_config.category_ids, [1, 1, 47, 62])  # the 0.25 chair still dropped


def test_bad_inputs_name_file_record_and_field(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({7: [[7, "Object", [0, 0, 1, 1], math.nan, 81, 0.9]]}))
    with pytest.raises(ValueError, match=r"bad.pkl: image 7: detection 0: field 4 \(class\) = 81"):
        detectors.make_source(str(path))
    folder = tmp_path / "upt"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps({"boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [80]}))
    with pytest.raises(ValueError, match=r"x.json: labels holds 80"):
        detectors.make_source(str(folder))
