"""Nothing dropped silently: the detection cap and partial V-COCO predictions are counted; V-COCO keeps every agent."""

import dataclasses
import json
import logging

import numpy as np
from evaluation.test_vcoco_metrics import A, PERSON, agent, coco_ann, det, evaluate
from harness import tiny_config

from calipso_tf.inference import detectors, runner
from calipso_tf.inference.detectors import Detections
from calipso_tf.inference.vcoco_output import VcocoLayout, image_detections
from calipso_tf.modeling.calipso_model import build_model


def test_partial_vcoco_predictions_warn_and_count(tmp_path, caplog):
    # Three split images, detections only for image 1: two images lack any person entry.
    # Image 1's "hold" TP is the only detection; positives: persons 1 and 2 (images 1, 2)
    # -> rec [1/2], prec [1]: AP 1/2, as when image 2 simply has nothing detected.
    images = [{"id": i, "width": 100, "height": 100} for i in (1, 2, 3)]
    anns = [coco_ann(1, PERSON, A), coco_ann(2, PERSON, A, image_id=2), coco_ann(3, PERSON, A, image_id=3)]
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        metrics = evaluate(tmp_path, anns, [1, 2, 3], {"hold": {1: [0], 2: [0]}}, [det(A, hold_agent=0.5)],
                           images=images)
    assert metrics.images_without_predictions == 2
    assert agent(metrics, "hold")["ap"] == 0.5
    assert "no person entry for 2 of the 3 split images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        full = evaluate(tmp_path, anns, [1, 2, 3], {"hold": {1: [0], 2: [0]}},
                        [det(A, image_id=i, hold_agent=0.5) for i in (1, 2, 3)], images=images)
    assert full.images_without_predictions == 0
    assert "no person entry" not in caplog.text


def _boxes(n: int) -> np.ndarray:
    """n distinct in-frame boxes (pixels, 64x64 image)."""
    x = np.arange(n, dtype=np.float32) % 8 * 7.0
    y = np.arange(n, dtype=np.float32) // 8 % 8 * 7.0
    return np.stack([x, y, x + 6.0, y + 6.0], axis=1)


def test_fixed_cap_counts_dropped_boxes(caplog):
    # One image of 120 boxes and one of 10 under a cap of 64: 120 - 64 = 56 boxes of 1 image.
    dropped = runner.DroppedDetections(64)
    for count in (120, 10):
        dropped.add(count)
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        assert dropped.report("metrics.json") == {"cap": 64, "boxes": 56, "images": 1}
    assert "56 detections of 1 images beyond inference.max_detections=64" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        assert runner.DroppedDetections(128).report("x") == {"cap": 128, "boxes": 0, "images": 0}
    assert not caplog.text


def test_default_cap_comes_from_the_detections(tmp_path):
    # inference.max_detections 0 (the default): D is the most boxes any image of the source holds,
    # so the 120-box image is decoded whole and nothing is counted as dropped.
    annotations = tmp_path / "test_hico.json"
    annotations.write_text(json.dumps([
        {"file_name": "big.jpg", "annotations": [{"bbox": [float(v) for v in box], "category_id": 1}
                                                 for box in _boxes(120)]},
        {"file_name": "small.jpg", "annotations": [{"bbox": [0.0, 0.0, 5.0, 5.0], "category_id": 1}]}]))
    source = detectors.make_source("gt", annotations=str(annotations))
    assert tiny_config().inference.max_detections == 0
    assert runner.detection_slots(0, source) == 120
    assert runner.detection_slots(64, source) == 64
    assert runner.detection_slots(0, detectors.GroundTruthDetections(str(annotations), "ground truth")) == 1
    config = tiny_config(num_verbs=2)
    predict = runner.make_predict_fn(build_model(config), config, top_k=120 * 2)  # every (person, verb)
    ((kept, triplets),) = runner.decode_batch(predict, np.zeros((1, 64, 64, 3), np.float32), [1.0],
                                              [source("big.jpg")], runner.detection_slots(0, source))
    assert len(kept) == 120
    assert sorted(set(triplets["subject_index"].tolist())) == list(range(120))  # the old cap of 64 read 64


def test_vcoco_budget_keeps_every_agent():
    # 6 persons x 2 verbs: with top_k = D x V every (person, verb) keeps its triplet (12),
    # while the HICO-DET budget top_k = 5 keeps only 5 and leaves persons without agents.
    config = tiny_config(num_verbs=2)
    config = dataclasses.replace(config, inference=dataclasses.replace(config.inference, top_k=5))
    model = build_model(config)
    det = Detections(_boxes(6), np.ones(6), np.linspace(1.0, 0.5, 6))
    image = np.zeros((1, 64, 64, 3), np.float32)
    layout = VcocoLayout.from_names(["stand", "hold"], [[], ["obj"]], ["stand", "hold_obj"])
    for top_k, expected in ((6 * 2, 12), (None, 5)):
        predict = runner.make_predict_fn(model, config, top_k)
        ((kept, triplets),) = runner.decode_batch(predict, image, [1.0], [det], 6)
        assert int(triplets["num_triplets"]) == expected
        entries = image_detections(triplets, kept.boxes, kept.category_ids, 1, layout)
        agents = sum(e[f"{a}_agent"] > 0 for e in entries for a in ("stand", "hold"))
        assert agents == expected
