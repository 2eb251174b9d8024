"""predict.py end to end on a tiny untrained model: images + a GIF, ground-truth boxes; image names by
relative path, ambiguous detection files and unreadable images."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from calipso_tf.inference import detectors, media, predictor

from harness import REPO_ROOT as ROOT
from run_util import make_run

BOXES = [[4, 4, 40, 70], [30, 10, 70, 50], [50, 30, 79, 60]]


def write_image(path, size=(90, 80), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, size + (3,), dtype=np.uint8)).save(path)


def test_predict_writes_json_and_pictures(tmp_path):
    run = make_run(tmp_path)
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
    subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), f"--checkpoint={run}",
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


def test_images_are_named_by_relative_path(tmp_path):
    for name in ("tree/a/x.jpg", "tree/b/x.jpg", "tree/c.png", "tree/out/old.jpg", "tree/notes.txt"):
        write_image(tmp_path / name) if name.endswith((".jpg", ".png")) else (tmp_path / name).write_text("hi")
    tree = str(tmp_path / "tree")
    assert [name for _, name in media.list_images([tree], exclude=os.path.join(tree, "out"))] == \
        ["c.png", "a/x.jpg", "b/x.jpg"]
    files = [os.path.join(tree, "a", "x.jpg"), os.path.join(tree, "b", "x.jpg")]
    assert [name for _, name in media.list_images(files)] == ["a/x.jpg", "b/x.jpg"]
    # A file given as well as inside a folder is listed once, under the name it got first.
    assert [name for _, name in media.list_images([files[0], tree])] == ["x.jpg", "c.png", "b/x.jpg", "out/old.jpg"]
    assert media.list_images([os.path.join(tree, "c.png")]) == [(os.path.join(tree, "c.png"), "c.png")]


def test_output_files_never_shared():
    assert predictor.output_files(["a/x.jpg", "b/x.jpg", "c.gif"]) == \
        {"a/x.jpg": ("a/x.json", "a/x.jpg"), "b/x.jpg": ("b/x.json", "b/x.jpg"), "c.gif": ("c.json", "c.png")}
    assert predictor.output_files(["x.jpg", "x.png", "y.gif", "y.png", "predictions.png"]) == {
        "x.jpg": ("x.jpg.json", "x.jpg"), "x.png": ("x.png.json", "x.png"), "y.gif": ("y.gif.json", "y.gif.png"),
        "y.png": ("y.png.json", "y.png"), "predictions.png": ("predictions.png.json", "predictions.png")}


def test_ambiguous_detections_are_refused(tmp_path):
    def source(*names):
        records = [{"file_name": n, "boxes": [[0, 0, i + 1, 9]], "category_ids": [1], "scores": [1.0]}
                   for i, n in enumerate(names)]
        (tmp_path / "dets.json").write_text(json.dumps(records))
        return detectors.DetectionsFile(str(tmp_path / "dets.json"))

    by_folder = source("a/x.jpg", "b/x.jpg", "test2015/y.jpg")
    by_folder.check_names(["a/x.jpg", "b/x.jpg", "y.jpg"])
    assert by_folder("b/x.jpg").boxes.tolist() == [[0, 0, 2, 9]]
    assert by_folder("y.jpg").boxes.tolist() == [[0, 0, 3, 9]]  # "test2015/y.jpg" ends with "y.jpg"
    with pytest.raises(ValueError, match=r"dets.json: image 'x.jpg' matches both 'a/x.jpg' and 'b/x.jpg'"):
        by_folder("x.jpg")
    with pytest.raises(ValueError, match=r"dets.json: 'x.jpg' matches both images 'a/x.jpg' and 'b/x.jpg'"):
        source("x.jpg").check_names(["a/x.jpg", "b/x.jpg"])
    with pytest.raises(ValueError, match=r"dets.json: record 1 \('a/\./x.jpg'\): file_name repeats an earlier "
                                         r"record \('a/x.jpg'\)"):
        source("a/x.jpg", "a/./x.jpg")
    with pytest.raises(KeyError, match=r"dets.json: no detections for image 'c/z.jpg'"):
        by_folder.check_names(["c/z.jpg"])


def test_same_names_in_two_folders_and_an_unreadable_file(tmp_path):
    """Two x.jpg get their own detections and outputs; a broken file is skipped, the rest written."""
    run = make_run(tmp_path)
    write_image(tmp_path / "tree" / "a" / "x.jpg", seed=1)
    write_image(tmp_path / "tree" / "b" / "x.jpg", seed=2)
    (tmp_path / "tree" / "broken.jpg").write_bytes(b"not a JPEG")
    boxes = {"a/x.jpg": [[4, 4, 40, 70], [30, 10, 70, 50]], "b/x.jpg": [[1, 2, 30, 60], [20, 20, 60, 80]],
             "broken.jpg": [[0, 0, 9, 9]]}
    (tmp_path / "dets.json").write_text(json.dumps(
        {name: {"boxes": b, "category_ids": [1] * len(b), "scores": [0.9] * len(b)} for name, b in boxes.items()}))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), f"--checkpoint={run}",
                             f"--images={tmp_path / 'tree'}", f"--detections={tmp_path / 'dets.json'}",
                             f"--output={out}"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    predictions = json.loads((out / "predictions.json").read_text())
    assert [p["file_name"] for p in predictions] == ["a/x.jpg", "b/x.jpg"]
    for p in predictions:
        assert [d["bbox"] for d in p["predictions"]] == boxes[p["file_name"]]
        assert json.loads((out / p["file_name"].replace(".jpg", ".json")).read_text()) == p
        assert (out / p["file_name"]).exists()
    broken = str(tmp_path / "tree" / "broken.jpg")
    assert f"skipped {broken}: not a readable image" in result.stderr
    assert "skipped 1 unreadable file(s)" in result.stderr
    summary = json.loads((out / "predict_summary.json").read_text())
    assert summary["predicted"] == 2 and [s["file"] for s in summary["skipped"]] == [broken]
    assert not (out / "broken.json").exists()
