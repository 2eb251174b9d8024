"""Smoke tests of the benchmarks: they run and write what they promise (timings are never asserted)."""

import json

import numpy as np
import tensorflow as tf

from benchmarks import pair_scaling
from benchmarks.pairwise_baseline import human_object_pairs


def test_human_object_pairs_enumerates_valid_person_object_pairs():
    boxes = tf.constant(np.arange(24, dtype=np.float32).reshape(6, 4))
    category_ids = tf.constant([1, 1, 37, 62, 37, -1])  # 2 persons, 2 objects, then padding
    humans, objects = human_object_pairs(boxes, category_ids, num_detections=4)
    assert humans.shape == (4, 4) and objects.shape == (4, 4)
    assert sorted(humans.numpy()[:, 0].astype(int)) == [0, 0, 4, 4]
    assert sorted(objects.numpy()[:, 0].astype(int)) == [8, 8, 12, 12]


def test_pair_scaling_quick_writes_json_and_plot(tmp_path):
    output = tmp_path / "pairs.json"
    pair_scaling.main(["--output", str(output), "--quick", "--image-size", "64", "--layouts", "1x1,2x2",
                       "--repeats", "1", "--warmup", "0"])
    results = json.loads(output.read_text())
    for key in ("pairs", "calipso_ms", "calipso_exact_d_ms", "pairwise_ms", "device", "backbone", "image_size",
                "repeats", "timestamp"):
        assert key in results, key
    assert results["pairs"] == [1, 4]
    assert len(results["calipso_ms"]) == len(results["pairwise_ms"]) == 2
    assert results["image_size"] == [64, 64] and results["repeats"] == 1
    assert (tmp_path / "pairs.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.json", "pairs.png"]  # no temp files left
