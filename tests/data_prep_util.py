"""Helpers shared by the data_prep tests: tiny images, running the CLI, reading shards back."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data.records import parse
from data_prep.__main__ import main


def write_jpeg(path, width: int, height: int, mode: str = "RGB") -> None:
    """A small solid-colour JPEG of width x height px."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (width, height), (90, 140, 30)).convert(mode).save(path, "JPEG")


def convert(*args: str) -> int:
    """Runs the CLI main with args (strings) and no progress bar."""
    return main([*map(str, args), "--no-progress"])


def read_split(output, split: str) -> list[dict]:
    """Every example of a split, in shard order, as a dict of numpy values."""
    manifest = manifest_lib.load(str(output))
    examples = []
    for path in manifest.shard_paths(split, str(output)):
        for serialized in tf.data.TFRecordDataset(path):
            examples.append({k: v.numpy() for k, v in parse(serialized).items()})
    return examples


def assert_example(example: dict, filename: str, size: tuple[int, int], boxes, category_ids, triplets) -> None:
    """Checks one parsed example; size (width, height) px."""
    assert example["filename"].decode() == filename
    assert (int(example["width"]), int(example["height"])) == size
    np.testing.assert_allclose(example["boxes"], np.asarray(boxes, np.float32).reshape(-1, 4))
    np.testing.assert_array_equal(example["category_ids"], category_ids)
    np.testing.assert_array_equal(example["triplets"], np.asarray(triplets).reshape(-1, 3))
    assert tf.io.decode_image(example["encoded"]).shape[:2] == (size[1], size[0])


def assert_same_splits(output_a, output_b, splits=("train", "test")) -> None:
    """The two conversions hold the same examples, field by field, in the same order."""
    for split in splits:
        a, b = read_split(output_a, split), read_split(output_b, split)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            assert x.keys() == y.keys()
            for key in x:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{split} {key}")
