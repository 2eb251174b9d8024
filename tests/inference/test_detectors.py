"""Detector sources: detections files (and their errors), ground truth, padding, KerasCV RetinaNet."""

import json

import numpy as np
import pytest

from calipso_tf.constants import COCO_IDS
from calipso_tf.inference import detectors

RECORD = {"file_name": "img_1.jpg", "boxes": [[0, 0, 10, 10], [5, 5, 20, 30], [1, 1, 3, 3]],
          "category_ids": [1, 62, 47], "scores": [0.9, 0.95, 0.2]}


def write(tmp_path, payload, name="dets.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


def test_detections_file_list_and_dict_layouts(tmp_path):
    for payload in ([RECORD], {"img_1.jpg": {k: v for k, v in RECORD.items() if k != "file_name"}}):
        source = detectors.DetectionsFile(write(tmp_path, payload), score_threshold=0.5)
        det = source("some/folder/img_1.jpg")
        np.testing.assert_array_equal(det.category_ids, [62, 1])  # sorted by score, 0.2 dropped
        np.testing.assert_array_equal(det.boxes, [[5, 5, 20, 30], [0, 0, 10, 10]])
        assert det.scores.dtype == np.float32 and det.boxes.dtype == np.float32
    capped = detectors.DetectionsFile(write(tmp_path, [RECORD]), max_detections=1)("img_1.jpg")
    assert capped.category_ids.tolist() == [62]


def test_missing_image_names_the_file(tmp_path):
    path = write(tmp_path, [RECORD])
    with pytest.raises(KeyError, match="dets.json.*no detections for image 'other.jpg'"):
        detectors.DetectionsFile(path)("other.jpg")


@pytest.mark.parametrize("change, message", [
    ({"boxes": [[0, 0, 10], [5, 5, 20, 30], [1, 1, 3, 3]]},
     r"record 1 \('img_1.jpg'\): boxes\[0\] = \[0, 0, 10\] is not \[x1, y1, x2, y2\]"),
    ({"boxes": [[0, 0, 10, 10], [5, 5, 2, 30], [1, 1, 3, 3]]}, r"boxes\[1\] .* x2 > x1"),
    ({"boxes": [[0, 0, 10, "a"], [5, 5, 20, 30], [1, 1, 3, 3]]}, r"boxes\[0\]"),
    ({"scores": [0.9, 1.5, 0.2]}, r"scores\[1\] = 1.5 is not a number in \[0, 1\]"),
    ({"category_ids": [1, "chair", 47]}, r"category_ids\[1\] = 'chair' is not a positive integer"),
    ({"category_ids": [1, 62]}, r"boxes \(3\), category_ids \(2\) and scores \(3\) differ in length"),
    ({"scores": None}, r"record 1 \('img_1.jpg'\): field 'scores' must be a list, got NoneType"),
    ({"file_name": 7}, r"record 1: field 'file_name' must be a str"),
])
def test_malformed_records_raise_clear_errors(tmp_path, change, message):
    path = write(tmp_path, [{**RECORD, "file_name": "ok.jpg"}, {**RECORD, **change}])
    with pytest.raises(ValueError, match=message) as info:
        detectors.DetectionsFile(path)
    assert path in str(info.value)


def test_malformed_files_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"bad.json: not valid JSON"):
        detectors.DetectionsFile(write(tmp_path, "[{", "bad.json"))
    with pytest.raises(ValueError, match=r"expected a list of records or a dict"):
        detectors.DetectionsFile(write(tmp_path, "3"))
    with pytest.raises(ValueError, match=r"record 1: missing field 'file_name'"):
        detectors.DetectionsFile(write(tmp_path, [RECORD, {"boxes": []}]))
    with pytest.raises(ValueError, match=r"record 1 \('img_1.jpg'\): file_name repeats"):
        detectors.DetectionsFile(write(tmp_path, [RECORD, RECORD]))
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        detectors.DetectionsFile(str(tmp_path / "nothing.json"))


def test_ground_truth_source(tmp_path):
    annotations = [{"file_name": "a.jpg", "annotations": [{"bbox": [1, 2, 30, 40], "category_id": 1},
                                                          {"bbox": [5, 5, 9, 9], "category_id": 37}],
                    "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 3}]}]
    det = detectors.make_source("gt", annotations=write(tmp_path, annotations, "test_hico.json"))("a.jpg")
    np.testing.assert_array_equal(det.boxes, [[1, 2, 30, 40], [5, 5, 9, 9]])
    assert det.category_ids.tolist() == [1, 37] and det.scores.tolist() == [1.0, 1.0]
    bad = [{"file_name": "a.jpg", "annotations": [{"bbox": [1, 2, 30], "category_id": 1}]}]
    with pytest.raises(ValueError, match=r"gt.json: record 0 \('a.jpg'\): annotations\[\].bbox\[0\]"):
        detectors.GroundTruthDetections.from_json(write(tmp_path, bad, "gt.json"))
    with pytest.raises(ValueError, match="needs an annotation file"):
        detectors.make_source("gt")


def test_pad_detections_keeps_highest_scores():
    dets = [detectors.Detections(RECORD["boxes"], RECORD["category_ids"], RECORD["scores"]),
            detectors.Detections(np.zeros((0, 4)), [], [])]
    padded = detectors.pad_detections(dets, max_detections=2)
    assert padded["boxes"].shape == (2, 2, 4) and padded["num_detections"].tolist() == [2, 0]
    assert padded["category_ids"].tolist() == [[62, 1], [0, 0]]
    np.testing.assert_allclose(padded["scores"], [[0.95, 0.9], [0, 0]])
    assert padded["category_ids"].dtype == np.int32 and padded["num_detections"].dtype == np.int32


def test_keras_cv_retinanet_source(tmp_path):
    weights = str(tmp_path / "retinanet.weights.h5")
    model = detectors.build_retinanet(depth=18)
    model.save_weights(weights)
    with pytest.raises(FileNotFoundError, match="no RetinaNet weights"):
        detectors.make_source("retinanet:" + str(tmp_path / "none.weights.h5"))
    # A score threshold of 0 keeps every box NMS lets through, so the class mapping is exercised.
    source = detectors.KerasCVDetector(weights, score_threshold=0.0, max_detections=5, depth=18)
    det = source("x.jpg", np.full((128, 128, 3), 100.0, np.float32), scale=2.0)
    assert 0 < len(det) <= 5
    assert set(det.category_ids.tolist()) <= set(COCO_IDS)
    assert np.all((det.scores >= 0) & (det.scores <= 1)) and np.all(det.boxes <= 64.0 + 1e-3)
