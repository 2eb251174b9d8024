"""predict.py end to end on a tiny untrained model: images + a GIF, ground-truth boxes."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

from calipso_tf import config as config_lib
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.modeling.calipso_model import build_model

from harness import REPO_ROOT as ROOT, tiny_config

BOXES = [[4, 4, 40, 70], [30, 10, 70, 50], [50, 30, 79, 60]]


def test_predict_writes_json_and_pictures(tmp_path):
    config = tiny_config()
    config.data.data_dir = str(tmp_path / "data")
    config_lib.save_config(config, str(tmp_path / "run" / "config.yaml"))
    tf.train.Checkpoint(model=build_model(config)).save(str(tmp_path / "run" / "checkpoints" / "ckpt"))
    verbs = [manifest_lib.Category(i + 1, name) for i, name in enumerate(["hold", "look", "run"])]
    manifest_lib.save(manifest_lib.Manifest("synthetic", verbs, [manifest_lib.Category(1, "person")], {}, [[]] * 3),
                      config.data.data_dir)
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for name, size in (("a.jpg", (90, 80)), ("b.png", (60, 100))):
        Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(tmp_path / "images" / name)
    frames = [Image.fromarray(rng.integers(0, 255, (90, 80, 3), dtype=np.uint8)) for _ in range(2)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:])
    names = ["a.jpg", "b.png", "clip_000000.jpg", "clip_000001.jpg"]
    annotations = [{"file_name": n, "annotations": [{"bbox": b, "category_id": c} for b, c in zip(BOXES, (1, 1, 37))]}
                   for n in names]
    (tmp_path / "gt.json").write_text(json.dumps(annotations))

    out = tmp_path / "out"
    subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), f"--checkpoint={tmp_path / 'run'}",
                    f"--images={tmp_path / 'images'}", f"--video={tmp_path / 'clip.gif'}", "--detections=gt",
                    f"--annotations={tmp_path / 'gt.json'}", f"--output={out}", "--min_display_size=160"],
                   check=True, cwd=tmp_path)

    predictions = json.loads((out / "predictions.json").read_text())
    assert [p["file_name"] for p in predictions] == names
    assert json.loads((out / "a.json").read_text()) == predictions[0]
    for p in predictions:
        assert [d["bbox"] for d in p["predictions"]] == BOXES
        for hoi in p["hoi_prediction"]:
            assert p["predictions"][hoi["subject_id"]]["category_id"] == 1
            assert hoi["object_id"] in (-1, 0, 1, 2) and hoi["object_id"] != hoi["subject_id"]
            assert hoi["category_id"] in (1, 2, 3)
        assert len(p["hoi_prediction"]) == 2 * 3  # untrained, threshold 0: every (person, verb) is kept
    # Pictures are enlarged (aspect kept) until the long side reaches --min_display_size.
    assert Image.open(out / "a.jpg").size == (142, 160) and Image.open(out / "b.png").size == (160, 96)
    assert (out / "clip" / "clip_000001.jpg").exists() and (out / "clip" / "clip_000001.json").exists()
