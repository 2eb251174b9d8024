"""MP4 in and out: frames decoded one at a time at the source fps; predict.py writes an annotated MP4 and JSONL."""

import json
import os
import subprocess
import sys

import numpy as np

from calipso_tf.inference import media

from harness import REPO_ROOT as ROOT
from run_util import make_run

FRAMES, WIDTH, HEIGHT, FPS = 12, 64, 48, 5.0


def write_clip(path):
    rng = np.random.default_rng(0)
    return media.write_video(str(path), (rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
                                         for _ in range(FRAMES)), FPS)


def test_mp4_round_trip(tmp_path):
    assert write_clip(tmp_path / "clip.mp4") == FRAMES
    assert os.listdir(tmp_path) == ["clip.mp4"]  # no temp file left
    fps, size, frames = media.open_video(str(tmp_path / "clip.mp4"))
    frames = list(frames)
    assert (fps, size, len(frames)) == (FPS, (WIDTH, HEIGHT), FRAMES)
    assert frames[0].shape == (HEIGHT, WIDTH, 3) and frames[0].dtype == np.uint8


def test_predict_video_writes_mp4_and_jsonl(tmp_path):
    run = make_run(tmp_path)
    write_clip(tmp_path / "clip.mp4")
    boxes = [[2, 2, 30, 46], [34, 10, 60, 40]]
    (tmp_path / "dets.json").write_text(json.dumps(
        {f"clip_{i:06d}.jpg": {"boxes": boxes, "category_ids": [1, 47], "scores": [0.9, 0.8]} for i in range(FRAMES)}))
    out = tmp_path / "out"
    command = [sys.executable, os.path.join(ROOT, "predict.py"), f"--checkpoint={run}",
               f"--video={tmp_path / 'clip.mp4'}", f"--detections={tmp_path / 'dets.json'}", f"--output={out}",
               "--min_display_size=0"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fps, size, frames = media.open_video(str(out / "clip.mp4"))
    assert (fps, size, sum(1 for _ in frames)) == (FPS, (WIDTH, HEIGHT), FRAMES)
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert len(lines) == FRAMES
    assert [json.loads(line)["file_name"] for line in lines] == [f"clip_{i:06d}.jpg" for i in range(FRAMES)]
    assert [d["bbox"] for d in json.loads(lines[3])["predictions"]] == boxes
    # An existing output is not replaced without --overwrite.
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode != 0 and "pass --overwrite" in again.stderr
    assert subprocess.run(command + ["--overwrite"], capture_output=True, cwd=tmp_path).returncode == 0
