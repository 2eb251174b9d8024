"""The one TFRecord schema every dataset is converted to.

An example holds one image and its HOI annotations in the original image frame:

- ``image/encoded``: JPEG or PNG bytes; ``image/filename``: file name as in the
  annotation file; ``image/id``: int64; ``image/height``, ``image/width``: pixels.
- ``objects/bbox``: float32 list of length 4 * G, boxes ``[x1, y1, x2, y2]`` in
  pixels; ``objects/category_id``: int64 list of length G, the dataset's own object
  category ids (COCO ids for HICO-DET and V-COCO, person = 1).
- ``hoi/subject``, ``hoi/object``, ``hoi/verb``: int64 lists of length K, one per
  triplet. ``subject`` and ``object`` are 0-based indices into the objects;
  ``object == -1`` means the verb has no visible target. ``verb`` is the 0-based
  index into the manifest's verb list.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from calipso_tf.constants import NO_TARGET

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/filename": tf.io.FixedLenFeature([], tf.string),
    "image/id": tf.io.FixedLenFeature([], tf.int64),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "objects/bbox": tf.io.VarLenFeature(tf.float32),
    "objects/category_id": tf.io.VarLenFeature(tf.int64),
    "hoi/subject": tf.io.VarLenFeature(tf.int64),
    "hoi/object": tf.io.VarLenFeature(tf.int64),
    "hoi/verb": tf.io.VarLenFeature(tf.int64),
}


@dataclasses.dataclass
class HoiRecord:
    """One annotated image, in numpy, before serialisation.

    boxes: (G, 4) float32 pixels [x1, y1, x2, y2]; category_ids: (G,) int64;
    triplets: (K, 3) int64 rows (subject, object or -1, verb index).
    """

    filename: str
    image_id: int
    height: int
    width: int
    boxes: np.ndarray
    category_ids: np.ndarray
    triplets: np.ndarray
    encoded_image: bytes = b""

    def validate(self, num_verbs: int, category_ids: set[int] | None = None, source: str = "") -> None:
        """Raises ValueError naming the file, record and field on malformed content."""
        where = f"{source}: record {self.filename!r} (image id {self.image_id})"
        boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        if len(boxes) != len(self.category_ids):
            raise ValueError(f"{where}: objects/bbox has {len(boxes)} boxes but objects/category_id has "
                             f"{len(self.category_ids)}")
        if not np.all(np.isfinite(boxes)):
            raise ValueError(f"{where}: objects/bbox holds a non-finite value")
        bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
        if bad.size:
            raise ValueError(f"{where}: objects/bbox[{bad[0]}] = {boxes[bad[0]].tolist()} has x2 <= x1 or y2 <= y1")
        outside = np.flatnonzero((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > self.width)
                                 | (boxes[:, 3] > self.height))
        if outside.size:
            raise ValueError(
                f"{where}: objects/bbox[{outside[0]}] = {boxes[outside[0]].tolist()} lies outside the "
                f"{self.width}x{self.height} image")
        if category_ids is not None:
            unknown = [int(c) for c in self.category_ids if int(c) not in category_ids]
            if unknown:
                raise ValueError(f"{where}: objects/category_id {unknown[0]} is not a known category")
        triplets = np.asarray(self.triplets, np.int64).reshape(-1, 3)
        num_boxes = len(boxes)
        if np.any((triplets[:, 0] < 0) | (triplets[:, 0] >= num_boxes)):
            raise ValueError(f"{where}: hoi/subject index out of range [0, {num_boxes})")
        if np.any((triplets[:, 1] < NO_TARGET) | (triplets[:, 1] >= num_boxes)):
            raise ValueError(f"{where}: hoi/object index out of range [-1, {num_boxes})")
        if np.any((triplets[:, 2] < 0) | (triplets[:, 2] >= num_verbs)):
            raise ValueError(f"{where}: hoi/verb index out of range [0, {num_verbs})")


def _int64(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in np.ravel(values)]))


def _float(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values).astype(np.float32).tolist()))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def serialize(record: HoiRecord) -> bytes:
    """HoiRecord -> serialized tf.train.Example bytes."""
    triplets = np.asarray(record.triplets, np.int64).reshape(-1, 3)
    feature = {
        "image/encoded": _bytes(record.encoded_image),
        "image/filename": _bytes(record.filename.encode("utf-8")),
        "image/id": _int64([record.image_id]),
        "image/height": _int64([record.height]),
        "image/width": _int64([record.width]),
        "objects/bbox": _float(np.asarray(record.boxes, np.float32).reshape(-1, 4)),
        "objects/category_id": _int64(record.category_ids),
        "hoi/subject": _int64(triplets[:, 0]),
        "hoi/object": _int64(triplets[:, 1]),
        "hoi/verb": _int64(triplets[:, 2]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Serialized Example -> dict of dense tensors (graph-friendly, for tf.data).

    Returns ``encoded`` (string), ``filename`` (string), ``image_id``, ``height``,
    ``width`` (int32 scalars), ``boxes`` (G, 4) float32 pixels, ``category_ids`` (G,)
    int32 and ``triplets`` (K, 3) int32.
    """
    ex = tf.io.parse_single_example(serialized, FEATURES)
    dense = {k: tf.sparse.to_dense(v) for k, v in ex.items() if isinstance(v, tf.SparseTensor)}
    return {
        "encoded": ex["image/encoded"],
        "filename": ex["image/filename"],
        "image_id": tf.cast(ex["image/id"], tf.int32),
        "height": tf.cast(ex["image/height"], tf.int32),
        "width": tf.cast(ex["image/width"], tf.int32),
        "boxes": tf.reshape(dense["objects/bbox"], [-1, 4]),
        "category_ids": tf.cast(dense["objects/category_id"], tf.int32),
        "triplets": tf.cast(tf.stack([dense["hoi/subject"], dense["hoi/object"], dense["hoi/verb"]], axis=1), tf.int32),
    }


def read_images(paths: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """The (H, W, 3) uint8 RGB image of each record whose file name is in names, decoded in one
    pass over the shards at paths; a name no record holds is absent from the result."""
    if not names:
        return {}
    wanted = tf.constant(sorted(set(names)), tf.string)
    spec = {key: FEATURES[key] for key in ("image/filename", "image/encoded")}
    dataset = (tf.data.TFRecordDataset(paths)
               .map(lambda serialized: tf.io.parse_single_example(serialized, spec),
                    num_parallel_calls=tf.data.AUTOTUNE)
               .filter(lambda ex: tf.reduce_any(tf.equal(ex["image/filename"], wanted)))
               .map(lambda ex: (ex["image/filename"],
                                tf.io.decode_image(ex["image/encoded"], channels=3, expand_animations=False))))
    return {name.numpy().decode("utf-8"): image.numpy() for name, image in dataset}
