"""A HICO-DET-sized stand-in dataset for timing the input pipeline: real-size JPEGs, realistic box and pair counts.

    python -m benchmarks.real_size_data --output /tmp/real_size --train 400 --test 100
    python -m data_prep --dataset hico_det --annotations /tmp/real_size/annotations \\
        --images /tmp/real_size/images --output /tmp/real_size/shards

Writes the PPDM/QPIC JSON layout (annotations/trainval_hico.json, test_hico.json) and the
images (images/train2015, images/test2015). Per image, seeded:

- size: each side 120..640 px, at least one side 640 or 480 as in HICO-DET's photos; JPEG
  quality 90 of a smooth random picture with pixel noise (tens of kB, like photographs);
- boxes G: log-normal with mean ~6 and 99th percentile ~31 (HICO-DET's train split: mean 6,
  p99 31, max 118), at least 2; about half persons; the first train image has the 118 boxes
  and 161 pairs of HICO-DET's largest records, so padding is as large as on the real data;
- pairs: about 0.6 G (HICO-DET: mean 3.5, p99 22), every object in one, each with one of at
  most 7 HOI categories drawn per image (so at most 7 distinct verbs), its object box of
  that HOI's object class.

Prints the box / pair statistics of what it wrote. Refuses a non-empty --output.
"""

from __future__ import annotations

import argparse
import io
import os

import numpy as np
from PIL import Image

from calipso_tf.constants import PERSON_CATEGORY_ID
from calipso_tf.fileio import atomic_write, write_json_atomic
from calipso_tf.vocabularies.vocabulary import hico_hoi_categories

LARGEST = (118, 161)  # boxes, pairs of HICO-DET's largest records
BOX_LOG_MEAN, BOX_LOG_STD = 1.30, 0.87  # log-normal: mean ~6, p99 ~31
PAIRS_PER_BOX = (0.3, 0.8)  # uniform range of pairs / boxes
HOIS_PER_IMAGE = 7


def image_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height): one side 640 (or 480), the other 120..640."""
    long_side = 640 if rng.random() < 0.9 else 480
    other = int(rng.integers(120, long_side + 1))
    return (long_side, other) if rng.random() < 0.75 else (other, long_side)


def picture(rng: np.random.Generator, width: int, height: int) -> bytes:
    """A JPEG (quality 90) of a smooth random colour field with noise: compresses like a photograph."""
    coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((width, height),
                                                                                      Image.BICUBIC)
    pixels = np.asarray(coarse, np.float32) + rng.normal(0, 12, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def entry(rng: np.random.Generator, filename: str, width: int, height: int,
          counts: tuple[int, int] | None = None) -> dict:
    """One PPDM/QPIC entry; counts (boxes, pairs) fixed, else drawn as the module docstring says."""
    hois = np.asarray(hico_hoi_categories())  # (600, 2): verb id, COCO id
    if counts is None:
        boxes = int(np.clip(np.round(rng.lognormal(BOX_LOG_MEAN, BOX_LOG_STD)), 2, LARGEST[0]))
        pairs = max(1, int(np.round(boxes * rng.uniform(*PAIRS_PER_BOX))))
    else:
        boxes, pairs = counts
    persons = int(np.clip(np.round(boxes * rng.uniform(0.3, 0.7)), 1, boxes - 1))
    objects = boxes - persons
    chosen = hois[rng.choice(len(hois), HOIS_PER_IMAGE, replace=False)]
    object_hoi = rng.integers(0, HOIS_PER_IMAGE, objects)  # the HOI that fixes each object's class
    categories = np.concatenate([np.full(persons, PERSON_CATEGORY_ID), chosen[object_hoi, 1]])
    side = np.minimum(rng.uniform(0.05, 0.6, (boxes, 2)) * [width, height], [width - 1, height - 1])
    corner = rng.uniform(0, 1, (boxes, 2)) * ([width, height] - side)
    xyxy = np.round(np.concatenate([corner, corner + side], 1), 1)
    # each object once, then random (person, object) pairs; the verb: one of the image's HOIs of that object
    objects_of_pairs = np.concatenate([np.arange(objects), rng.integers(0, objects, max(0, pairs - objects))])[:pairs]
    subjects = rng.integers(0, persons, pairs)
    verbs = [int(rng.choice(chosen[chosen[:, 1] == categories[persons + o], 0])) for o in objects_of_pairs]
    return {"file_name": filename, "width": width, "height": height,
            "annotations": [{"bbox": b, "category_id": int(c)} for b, c in zip(xyxy.tolist(), categories)],
            "hoi_annotation": [{"subject_id": int(s), "object_id": int(persons + o), "category_id": v}
                               for s, o, v in zip(subjects, objects_of_pairs, verbs)]}


def write_split(root: str, split_file: str, folder: str, prefix: str, count: int, rng: np.random.Generator,
                largest_first: bool) -> list[dict]:
    """count images and their annotation file; returns the entries."""
    entries = []
    for n in range(count):
        name = f"{prefix}_{n + 1:08d}.jpg"
        width, height = image_size(rng)
        entries.append(entry(rng, name, width, height, LARGEST if largest_first and n == 0 else None))
        data = picture(rng, width, height)
        atomic_write(os.path.join(root, "images", folder, name), lambda f, data=data: f.write(data), "wb")
    write_json_atomic(os.path.join(root, "annotations", split_file), entries)
    return entries


def statistics(entries: list[dict]) -> str:
    """Mean / p99 / max of boxes and pairs per image, and the most distinct verbs of one image."""
    boxes = np.array([len(e["annotations"]) for e in entries])
    pairs = np.array([len(e["hoi_annotation"]) for e in entries])
    verbs = max(len({h["category_id"] for h in e["hoi_annotation"]}) for e in entries)
    return (f"{len(entries)} images; boxes mean {boxes.mean():.1f}, p99 {np.percentile(boxes, 99):.0f}, max "
            f"{boxes.max()}; pairs mean {pairs.mean():.1f}, p99 {np.percentile(pairs, 99):.0f}, max {pairs.max()}; "
            f"at most {verbs} verbs in one image")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_size_data", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", required=True, help="new (or empty) folder")
    parser.add_argument("--train", type=int, default=400, help="training images")
    parser.add_argument("--test", type=int, default=100, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.isdir(args.output) and os.listdir(args.output):
        parser.error(f"{args.output} is not empty; give a new folder")
    rng = np.random.default_rng(args.seed)
    for split_file, folder, prefix, count in (("trainval_hico.json", "train2015", "HICO_train2015", args.train),
                                              ("test_hico.json", "test2015", "HICO_test2015", args.test)):
        entries = write_split(args.output, split_file, folder, prefix, count, rng, largest_first=folder == "train2015")
        print(f"{folder}: {statistics(entries)}")


if __name__ == "__main__":
    main()
