"""Smoke tests of the benchmarks: they run and write what they promise (timings are never asserted)."""

import json

import numpy as np
import tensorflow as tf

from benchmarks import model_cost, pair_scaling
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


def test_model_cost_tiny_network(tmp_path):
    output = tmp_path / "cost.json"
    overrides = ["model.image_size=[64, 64]", "model.backbone_width=0.25", "model.head_blocks=1",
                 "model.head_channels=32", "loss.max_assigned_anchors=64"]
    model_cost.main(["--config", "configs/synthetic.yaml", "--output", str(output), "--iterations", "1",
                     "--warmup", "0", *[arg for o in overrides for arg in ("--set", o)]])
    results = json.loads(output.read_text())
    # One 32-channel block on the 256-channel FPN, then branches of A=9 anchors x (2 x 4 verbs, 4, 4 x 8).
    assert results["parameters"]["trunk"] == 9 * 256 * 32 + 4 * 32
    assert results["parameters"]["verb_logits"] == 9 * 32 * 72 + 72
    assert results["parameters"]["embeddings"] == 9 * 32 * 288 + 288
    assert results["read_anchors"] == 64 * 64  # D = 64 boxes x 64 anchors each
    assert results["read_only_used"] == {"inference": False, "training": True}  # N = 774 anchors
    assert results["max_abs_diff"] < 1e-5 and results["score_max_abs_diff"] < 1e-6
    dense, read = results["train_loss_and_gradient_norm"].values()
    np.testing.assert_allclose(read, dense, rtol=1e-5)
    for key in ("dense_gmac", "read_only_gmac", "dense_forward_ms", "read_only_forward_ms"):
        assert results[key] > 0, key
