"""Seeded synthetic HOI dataset in the HICO-DET (PPDM/QPIC JSON) file layout.

``generate(out, num_train, num_test)`` writes::

    out/images/train2015/synth_train_000000.jpg ...   RGB JPEG
    out/images/test2015/synth_test_000000.jpg ...
    out/annotations/trainval_hico.json                 one dict per image
    out/annotations/test_hico.json
    out/annotations/categories.json                    {"verbs": [...], "objects": [...]}
    out/synthetic_complete.json                        parameters of the finished run

Each image dict holds ``file_name``, ``img_id``, ``height``, ``width``,
``annotations`` (``bbox`` [x1, y1, x2, y2] integer pixels, inclusive, inside the
image; ``category_id`` a COCO id) and ``hoi_annotation`` (``subject_id``,
``object_id`` 0-based indices into ``annotations``; ``category_id`` a 1-based verb id).

Extension: a verb without a target (``run``) is a row with ``object_id == -1``. Real
HICO-DET has no such rows; the project's readers and evaluator read -1 as "no target".

What the scenes show: ``scenes`` (verbs, placement) and ``render`` (drawing). Each image
draws from its own generator seeded by (seed, split, index), so the output does not
depend on the number of worker processes.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from calipso_tf.fileio import atomic_write
from calipso_tf.ops.anchors import generate_anchors
from data_prep.synthetic.render import render
from data_prep.synthetic.scenes import sample_scene
from data_prep.synthetic.vocabulary import BALL, BOOK, CHAIR, CUP, OBJECTS, PERSON, VERBS

# The vocabulary is re-exported: the generator is the one import for code that renders examples.
__all__ = ["BALL", "BOOK", "CHAIR", "CUP", "DEFAULT_IMAGE_SIZE", "MARKER", "OBJECTS", "PERSON", "VERBS", "generate",
           "make_example"]

SPLITS = {"train": ("train2015", "trainval_hico.json"), "test": ("test2015", "test_hico.json")}
MARKER = "synthetic_complete.json"
VERSION = 1
DEFAULT_IMAGE_SIZE = (128, 128)  # (height, width) px, also what ``python -m data_prep --dataset synthetic`` makes
MIN_IMAGE_SIDE = 96  # px: smaller images cannot hold the scenes' boxes


def _write_json(path: Path, obj) -> None:
    """Atomic UTF-8 JSON write."""
    atomic_write(str(path), lambda f: json.dump(obj, f))


def make_example(seed, split, index, image_size=DEFAULT_IMAGE_SIZE) -> tuple[dict, np.ndarray]:
    """(annotation dict in the HICO JSON layout, (H, W, 3) uint8 image) for one image."""
    rng = np.random.default_rng([seed, list(SPLITS).index(split), index])
    scene = sample_scene(rng, image_size, generate_anchors(image_size))
    image = render(rng, scene, image_size)
    entry = {
        "file_name": f"synth_{split}_{index:06d}.jpg",
        "img_id": index,
        "height": image_size[0],
        "width": image_size[1],
        "annotations": [{"bbox": list(t.box), "category_id": t.category} for t in scene.things],
        "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v} for s, o, v in scene.hois],
    }
    return entry, image


def _write_example(args) -> dict:
    """Worker: renders one image, writes its JPEG atomically, returns its annotation dict."""
    seed, split, index, image_size, quality, image_dir = args
    entry, image = make_example(seed, split, index, image_size)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    atomic_write(str(Path(image_dir) / entry["file_name"]), lambda f: f.write(buf.getvalue()), "wb")
    return entry


def _write_split(out, split, count, params, workers, progress) -> None:
    """Writes one split's JPEGs (removing stale ones) and its annotation file."""
    image_dir = out / "images" / SPLITS[split][0]
    image_dir.mkdir(parents=True, exist_ok=True)
    names = {f"synth_{split}_{i:06d}.jpg" for i in range(count)}
    for stale in image_dir.glob(f"synth_{split}_*.jpg"):
        if stale.name not in names:
            stale.unlink()
    jobs = [(params["seed"], split, i, tuple(params["image_size"]), params["jpeg_quality"], str(image_dir))
            for i in range(count)]
    bar = dict(total=count, desc=split, disable=not progress)
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            entries = list(tqdm(pool.map(_write_example, jobs, chunksize=16), **bar))
    else:
        entries = [_write_example(job) for job in tqdm(jobs, **bar)]
    _write_json(out / "annotations" / SPLITS[split][1], entries)


def generate(output_dir, num_train, num_test, image_size=DEFAULT_IMAGE_SIZE, seed=0, jpeg_quality=95,
             workers=1, progress=False) -> Path:
    """Writes the dataset under output_dir (layout in the module docstring); returns its path.

    image_size: (height, width) px. Skips the work if a completed run with the same
    parameters is recorded there; otherwise (re)writes every file.
    """
    height, width = int(image_size[0]), int(image_size[1])
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ValueError(f"image_size {image_size} too small: scenes need at least "
                         f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels")
    out = Path(output_dir)
    params = {"version": VERSION, "num_train": int(num_train), "num_test": int(num_test),
              "image_size": [height, width], "seed": int(seed), "jpeg_quality": int(jpeg_quality)}
    marker = out / MARKER
    if marker.exists() and json.loads(marker.read_text()) == params:
        return out
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for split, count in (("train", num_train), ("test", num_test)):
        _write_split(out, split, int(count), params, workers, progress)
    _write_json(out / "annotations" / "categories.json", {"verbs": list(VERBS), "objects": list(OBJECTS)})
    _write_json(marker, params)
    return out
