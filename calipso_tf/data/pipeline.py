"""tf.data input pipeline: TFRecord shards -> resized, flipped, padded, encoded batches.

Images are resized keeping their aspect ratio to fit the model input (H, W) and padded
bottom/right with zeros; boxes are scaled by the same factor. Batches are padded to
fixed shapes (ragged batches break MirroredStrategy): per split, to the largest record the
manifest records, or to data.max_boxes / data.max_triplets where they are set (> 0), which
must hold that record (``PadSizes``, checked before the split's first batch).

A damaged shard fails reading with TFRecordDataset's DataLossError, which names no file;
``naming_damaged_shards`` re-raises it naming the shard. It finds the shard by reading the
split once more after the error, so the pipeline itself (order, speed) is untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import re
from typing import Iterator

import tensorflow as tf

from calipso_tf.ops import target_encoding as target_lib
from calipso_tf.config import Config
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data import records
from calipso_tf.ops.anchor_assignment import AnchorGrid
from calipso_tf.ops.preprocessing import resize_to_fit

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
DAMAGE = re.compile(r"(corrupted|truncated) record at \d+")  # TFRecord reader messages, the number a byte offset


def find_damaged_shard(files: list[str]) -> tuple[str, str] | None:
    """(path, reader message) of the first file whose records do not read back (checksum or
    length wrong, cut short); None when every file reads. Reads each file once."""
    for path in files:
        try:
            tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
        except tf.errors.DataLossError as e:
            found = DAMAGE.search(e.message)
            return path, found.group(0) if found else e.message
    return None


def decode_and_resize(example: dict, image_size: tuple[int, int]) -> dict:
    """Decodes the image and fits it into image_size; adds "image" (h', w', 3) f32 0..255
    (unpadded), "scale" (scalar) and "resized_size" (2,) int32, and scales the boxes."""
    image = tf.io.decode_image(example["encoded"], channels=3, expand_animations=False)
    resized, scale = resize_to_fit(image, image_size)
    out = dict(example)
    out["image"] = resized
    out["scale"] = scale
    out["resized_size"] = tf.shape(resized)[:2]
    out["boxes"] = example["boxes"] * scale
    return out


def horizontal_flip(example: dict, seed: int = 0) -> dict:
    """Flips the resized image and its boxes with probability 1/2 (labels unchanged:
    no verb depends on left/right).

    The coin is stateless, a function of (seed, image id) only, so the augmentation is
    the same whatever the order or parallelism of the map (needed for exact resume).
    """
    coin_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(example["image_id"], tf.int64)])
    flip = tf.random.stateless_uniform([], seed=coin_seed) < 0.5
    width = tf.cast(example["resized_size"][1], tf.float32)
    boxes = example["boxes"]
    flipped = tf.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
    out = dict(example)
    out["image"] = tf.cond(flip, lambda: tf.image.flip_left_right(example["image"]), lambda: example["image"])
    out["boxes"] = tf.where(flip, flipped, boxes)
    return out


def pad_example(example: dict, image_size: tuple[int, int], max_boxes: int, max_triplets: int) -> dict:
    """Pads image to image_size, boxes to max_boxes and triplets to max_triplets.

    Fails with a message naming the image if it holds more boxes or triplets than
    the configured maximum (never truncates silently).
    """
    num_boxes = tf.shape(example["boxes"])[0]
    num_triplets = tf.shape(example["triplets"])[0]
    name = example["filename"]
    checks = [
        tf.debugging.assert_less_equal(num_boxes, max_boxes, message=tf.strings.join(
            ["record ", name, ": objects/bbox holds more boxes than data.max_boxes; raise it"])),
        tf.debugging.assert_less_equal(num_triplets, max_triplets, message=tf.strings.join(
            ["record ", name, ": hoi/* holds more triplets than data.max_triplets; raise it"])),
    ]
    with tf.control_dependencies(checks):
        out = dict(example)
        out["image"] = tf.image.pad_to_bounding_box(example["image"], 0, 0, image_size[0], image_size[1])
        out["boxes"] = tf.pad(example["boxes"], [[0, max_boxes - num_boxes], [0, 0]])
        out["category_ids"] = tf.pad(example["category_ids"], [[0, max_boxes - num_boxes]], constant_values=-1)
        out["triplets"] = tf.pad(example["triplets"], [[0, max_triplets - num_triplets], [0, 0]], constant_values=-1)
        out["num_boxes"] = num_boxes
        out["num_triplets"] = num_triplets
    out["image"] = tf.ensure_shape(out["image"], [image_size[0], image_size[1], 3])
    out["boxes"] = tf.ensure_shape(out["boxes"], [max_boxes, 4])
    out["category_ids"] = tf.ensure_shape(out["category_ids"], [max_boxes])
    out["triplets"] = tf.ensure_shape(out["triplets"], [max_triplets, 3])
    return out


@dataclasses.dataclass(frozen=True)
class PadSizes:
    """The number of boxes and of triplets every example of one split is padded to."""

    boxes: int
    triplets: int


def _pad_size(configured: int, recorded: int | None, record: str, field: str, split: str, manifest: str) -> int:
    """data.<field> when set (> 0) and at least the split's recorded largest count, else that count (at least 1).

    Raises ValueError naming the record when the configured size cannot hold it, or when the size is
    to come from the data (0) and the manifest (of an earlier version) records none.
    """
    noun = field.removeprefix("max_")
    if recorded is None:
        if not configured:
            raise ValueError(f"data.{field}=0 takes the split's size from the manifest, but {manifest} records none "
                             f"for split {split!r} (written by an earlier data_prep): convert the dataset again, or "
                             f"set data.{field} to a positive value")
        log.info("%s records no %s for split %r (earlier data_prep): padding to data.%s=%d", manifest, field, split,
                 field, configured)
        return configured
    if configured and configured < recorded:
        raise ValueError(f"data.{field}={configured} but split {split!r} holds {recorded} {noun} in {record} "
                         f"({manifest}): raise data.{field} to at least {recorded} or set it to 0 to take the "
                         "data's size")
    return configured or max(recorded, 1)


class InputPipeline:
    """Builds training and evaluation datasets from a converted dataset directory."""

    def __init__(self, config: Config, data_dir: str | None = None):
        self.config = config
        self.data_dir = data_dir or config.data.data_dir
        self.manifest = manifest_lib.load(self.data_dir)
        if self.manifest.num_verbs != config.model.num_verbs:
            raise ValueError(
                f"{self.data_dir}: the dataset has {self.manifest.num_verbs} verbs but model.num_verbs="
                f"{config.model.num_verbs}; set model.num_verbs={self.manifest.num_verbs}")
        self.image_size = tuple(config.model.image_size)
        self.anchor_grid = AnchorGrid(self.image_size, config.model.anchors)
        self.verb_target_table = target_lib.verb_target_lookup(self.manifest.verb_target_categories)
        self._pad_sizes: dict[str, PadSizes] = {}

    @contextlib.contextmanager
    def naming_damaged_shards(self, split: str):
        """Re-raises a DataLossError of the block that reads ``split`` as one naming the damaged shard file
        (the original when no shard of the split is damaged)."""
        try:
            yield
        except tf.errors.DataLossError as e:
            damaged = find_damaged_shard(self.manifest.shard_paths(split, self.data_dir))
            if damaged is None:
                raise
            path, reason = damaged
            raise tf.errors.DataLossError(None, None, f"{path}: damaged shard ({reason}, a byte offset in that "
                                                      "file); convert the dataset again with "
                                                      "`python -m data_prep ... --force`") from e

    def _records(self, split: str, seed: int | None,
                 input_context: tf.distribute.InputContext | None):
        """Parsed records; shard files shuffled with ``seed`` when it is given (training).

        Interleaving is deterministic so that a seed fixes the order exactly.
        """
        files = self.manifest.shard_paths(split, self.data_dir)
        ds = tf.data.Dataset.from_tensor_slices(files)
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if seed is not None:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8), num_parallel_calls=AUTOTUNE,
                           deterministic=True)
        return ds.map(records.parse, num_parallel_calls=AUTOTUNE)

    def pad_sizes(self, split: str) -> PadSizes:
        """What the examples of split are padded to (module docstring); ValueError naming the record when
        data.max_boxes or data.max_triplets is set below the split's largest record. Computed once per split."""
        if split in self._pad_sizes:
            return self._pad_sizes[split]
        self.manifest.shard_paths(split, self.data_dir)  # KeyError naming the manifest for an unknown split
        recorded = self.manifest.splits[split]
        path = os.path.join(self.data_dir, manifest_lib.MANIFEST_NAME)
        data = self.config.data
        self._pad_sizes[split] = PadSizes(
            _pad_size(data.max_boxes, recorded.max_boxes, recorded.max_boxes_record, "max_boxes", split, path),
            _pad_size(data.max_triplets, recorded.max_triplets, recorded.max_triplets_record, "max_triplets", split,
                      path))
        return self._pad_sizes[split]

    @functools.cached_property
    def _train_pad_sizes(self) -> PadSizes:
        """pad_sizes of data.train_split, warning (once, not per data epoch) when L_v was counted on another split."""
        if self.manifest.statistics_split != self.config.data.train_split:
            log.warning("%s: L_v (verb_target_categories) was counted on split %r, but data.train_split=%r",
                        self.data_dir, self.manifest.statistics_split, self.config.data.train_split)
        return self.pad_sizes(self.config.data.train_split)

    def _prepare(self, example: dict, pad: PadSizes, flip_seed: int | None = None) -> dict:
        example = decode_and_resize(example, self.image_size)
        if flip_seed is not None and self.config.data.horizontal_flip:
            example = horizontal_flip(example, flip_seed)
        return pad_example(example, self.image_size, pad.boxes, pad.triplets)

    def encode(self, example: dict) -> tuple[tf.Tensor, dict]:
        """Padded example -> (image, targets) as the model's train_step expects."""
        loss = self.config.loss
        box_valid = tf.range(example["boxes"].shape[0]) < example["num_boxes"]
        targets = target_lib.encode_targets(
            self.anchor_grid, example["boxes"], box_valid, example["category_ids"], example["triplets"],
            self.config.model.num_verbs, self.verb_target_table, loss.match_iou, loss.force_match_best_anchor)
        return example["image"], targets

    def train_dataset(self, batch_size: int, input_context: tf.distribute.InputContext | None = None,
                      repeat: bool = True, seed: int | None = None) -> tf.data.Dataset:
        """Infinite shuffled batches of (images (B, H, W, 3), targets dict).

        ``seed`` (default train.seed) fixes the file order, the shuffle and the flips: the
        same seed gives the same batches, element for element.
        """
        seed = self.config.train.seed if seed is None else seed
        pad = self._train_pad_sizes
        ds = self._records(self.config.data.train_split, seed, input_context)
        if self.config.data.cache:
            ds = ds.cache()
        if repeat:
            ds = ds.repeat()
        ds = ds.shuffle(self.config.data.shuffle_buffer, seed=seed)
        ds = ds.map(lambda e: self.encode(self._prepare(e, pad, seed)), num_parallel_calls=AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)

    def eval_dataset(self, batch_size: int, split: str | None = None) -> tf.data.Dataset:
        """Ordered batches of padded examples (image, scale, boxes in the input frame,
        category_ids, num_boxes, triplets, image_id, filename, height, width)."""
        split = split or self.config.data.eval_split
        pad = self.pad_sizes(split)
        ds = self._records(split, None, None)
        ds = ds.map(lambda e: self._prepare(e, pad), num_parallel_calls=AUTOTUNE)
        ds = ds.map(lambda e: {k: v for k, v in e.items() if k != "encoded"})
        return ds.batch(batch_size).prefetch(AUTOTUNE)

    def image_dataset(self, batch_size: int, split: str) -> tf.data.Dataset:
        """Ordered batches of the images alone, decoded, resized and zero-padded as for training
        ((B, H, W, 3) float32 0..255): the reading and decoding cost without boxes, flips or targets."""
        ds = self._records(split, None, None)
        ds = ds.map(lambda e: tf.image.pad_to_bounding_box(decode_and_resize(e, self.image_size)["image"], 0, 0,
                                                           *self.image_size), num_parallel_calls=AUTOTUNE)
        return ds.batch(batch_size).prefetch(AUTOTUNE)

    def eval_batches(self, batch_size: int, split: str | None = None) -> Iterator[dict]:
        """The batches of :meth:`eval_dataset`, read eagerly; a damaged shard is named (naming_damaged_shards)."""
        split = split or self.config.data.eval_split
        with self.naming_damaged_shards(split):
            yield from self.eval_dataset(batch_size, split)
