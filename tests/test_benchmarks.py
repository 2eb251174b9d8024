"""Smoke tests of the benchmarks: they run and write what they promise (timings are never asserted)."""

import json
import os

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


def test_input_pipeline_reads_each_mode_and_writes_json(tmp_path, capsys):
    from data_prep_util import convert
    from hico_files import write_images, write_json_layout
    from harness import REPO_ROOT

    from benchmarks import input_pipeline

    write_images(tmp_path / "images")
    write_json_layout(tmp_path / "json")
    assert convert("--dataset", "hico_det", "--annotations", tmp_path / "json", "--images", tmp_path / "images",
                   "--output", tmp_path / "shards", "--num-shards", 1) == 0
    common = ["--data-dir", str(tmp_path / "shards"), "--config", os.path.join(REPO_ROOT, "configs", "hico_det.yaml"),
              "--set", "model.image_size=[64, 64]", "--batch-size", "1", "--warmup", "0"]
    whole = input_pipeline.main([*common, "--output", str(tmp_path / "whole.json")])
    assert json.loads((tmp_path / "whole.json").read_text()) == whole
    assert whole["images"] == {"train": 2, "eval": 2, "decode_only": 2}  # the 2 train images, once per mode
    for mode in input_pipeline.MODES:
        assert whole[f"{mode}_images_per_s"] > 0
    assert whole["train_over_decode_only"] == round(whole["train_images_per_s"] / whole["decode_only_images_per_s"], 3)
    assert whole["machine"]["cores"] > 0 and whole["machine"]["cpu"]
    assert whole["pad_sizes"] == {"boxes": 4, "triplets": 3} and whole["image_size"] == [64, 64]
    assert "| train | 2 |" in capsys.readouterr().out
    # a batch count: training repeats, the ordered modes stop at the split's end
    capped = input_pipeline.main([*common, "--batches", "3", "--split", "test", "--rounds", "2",
                                  "--output", str(tmp_path / "capped.json")])
    assert capped["images"] == {"train": 3, "eval": 1, "decode_only": 1}
    assert [len(v) for v in capped["samples_images_per_s"].values()] == [2, 2, 2]


def test_model_cost_tiny_network(tmp_path):
    output = tmp_path / "cost.json"
    overrides = ["model.image_size=[64, 64]", "model.backbone_width=0.25", "model.head_blocks=1",
                 "model.head_channels=32", "loss.max_assigned_anchors=64"]
    model_cost.main(["--config", "configs/synthetic.yaml", "--output", str(output), "--iterations", "1",
                     "--warmup", "0", *[arg for o in overrides for arg in ("--set", o)]])
    results = json.loads(output.read_text())
    # One 32-channel block on the 256-channel FPN with a BatchNorm (4 x 32 values) per level P3..P7
    # (synthetic.yaml: head_batch_norm per_level), then branches of A=9 anchors x (2 x 4 verbs, 4, 4 x 8).
    assert results["parameters"]["trunk"] == 9 * 256 * 32 + 5 * 4 * 32
    assert results["parameters"]["verb_logits"] == 9 * 32 * 72 + 72
    assert results["parameters"]["embeddings"] == 9 * 32 * 288 + 288
    assert results["read_anchors"] == 64 * 64  # D = 64 boxes x 64 anchors each
    assert results["read_only_used"] == {"inference": False, "training": True}  # N = 774 anchors
    assert results["max_abs_diff"] < 1e-5 and results["score_max_abs_diff"] < 1e-6
    dense, read = results["train_loss_and_gradient_norm"].values()
    np.testing.assert_allclose(read, dense, rtol=1e-5)
    for key in ("dense_gmac", "read_only_gmac", "dense_forward_ms", "read_only_forward_ms"):
        assert results[key] > 0, key
