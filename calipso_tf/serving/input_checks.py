"""In-graph checks of the values a served request carries (docs/SERVING.md, "Bad input").

A SavedModel signature checks dtypes only, and impossible values (NaN boxes, x2 < x1, a
score of 3) otherwise come back as plausible triplets. Each check here fails the request
with InvalidArgument naming the input and its first bad entry, e.g.
``assertion failed: [boxes[1, 3] = [nan, 0, 5, 5]: not finite]``. A message is built
only on failure; a valid request pays a few reductions over (B, D, 4).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def assert_all(ok: tf.Tensor, describe: Callable[[tf.Tensor], tf.Tensor], name: str) -> tf.Tensor:
    """Fails with ``describe(index)`` for the first False entry of ok (row-major order).

    Args:
      ok: bool tensor of any rank.
      describe: int64 index vector (rank of ok) -> scalar string message; traced into
        the failure branch only.
      name: the check's op name (the failing node named in the error).

    Returns:
      a scalar bool tensor to put under `tf.control_dependencies`.
    """
    def fail():
        failed = tf.debugging.Assert(tf.constant(False), [describe(tf.where(tf.logical_not(ok))[0])])
        with tf.control_dependencies([failed]):
            return tf.constant(False)

    return tf.cond(tf.reduce_all(ok), lambda: tf.constant(True), fail, name=name)


def _text(values: tf.Tensor) -> tf.Tensor:
    """Numbers -> strings, floats in their shortest form (3.06, nan, inf)."""
    return tf.strings.as_string(values, shortest=values.dtype.is_floating)


def _join(values: tf.Tensor) -> tf.Tensor:
    """[nan, 0, 5.5] -> "nan, 0, 5.5"."""
    return tf.strings.reduce_join(_text(values), separator=", ")


def _entry(name: str, index: tf.Tensor) -> tf.Tensor:
    """"boxes", [1, 3] -> "boxes[1, 3]"."""
    return tf.strings.join([name, "[", _join(index), "]"])


def _check_num_detections(num_detections: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """num_detections (B,) int32 must lie in 0 .. count (= D, the detection inputs' size)."""
    def entry(index):
        return tf.strings.join([_entry("num_detections", index), " = ", _text(num_detections[index[0]])])

    non_negative = assert_all(num_detections >= 0, lambda index: tf.strings.join([entry(index), " is negative"]),
                              "check_num_detections_non_negative")
    with tf.control_dependencies([non_negative]):
        return assert_all(num_detections <= count, lambda index: tf.strings.join(
            [entry(index), " exceeds D = ", _text(count), " (detections per image in boxes)"]),
                          "check_num_detections_at_most_d")


def check_detections(boxes: tf.Tensor, scores: tf.Tensor, num_detections: tf.Tensor) -> tf.Tensor:
    """num_detections in 0 .. D, then the valid entries (index < num_detections) of each
    image: boxes finite with x2 >= x1 and y2 >= y1, scores in [0, 1]. Padding is not looked at.

    Args:
      boxes: (B, D, 4) float32 [x1, y1, x2, y2]; scores: (B, D) float32; num_detections:
        (B,) int32; their shapes already checked to agree.

    Returns:
      the last check (it depends on the others), for `tf.control_dependencies`.
    """
    count = tf.shape(boxes)[1]
    with tf.control_dependencies([_check_num_detections(num_detections, count)]):
        valid = tf.range(count)[None] < num_detections[:, None]
    finite = tf.reduce_all(tf.math.is_finite(boxes), axis=-1)
    x_ordered, y_ordered = boxes[..., 2] >= boxes[..., 0], boxes[..., 3] >= boxes[..., 1]
    in_range = (scores >= 0.0) & (scores <= 1.0)  # False for NaN

    def describe_box(index):
        reason = tf.where(~tf.gather_nd(finite, index), "not finite",
                          tf.where(~tf.gather_nd(x_ordered, index), "x2 < x1", "y2 < y1"))
        return tf.strings.join([_entry("boxes", index), " = [", _join(tf.gather_nd(boxes, index)), "]: ", reason])

    def describe_score(index):
        return tf.strings.join([_entry("scores", index), " = ", _text(tf.gather_nd(scores, index)),
                                " is outside [0, 1]"])

    box_check = assert_all(~valid | (finite & x_ordered & y_ordered), describe_box, "check_boxes")
    with tf.control_dependencies([box_check]):
        return assert_all(~valid | in_range, describe_score, "check_scores")


def check_image_sizes(image_sizes: tf.Tensor, padded_size: tf.Tensor) -> tf.Tensor:
    """image_sizes (B, 2) int32 (height, width) must lie in 1 .. padded_size (2,), the images tensor's (h, w)."""
    def describe(index):
        return tf.strings.join([_entry("image_sizes", index[:1]), " = [", _join(image_sizes[index[0]]),
                                "] is outside 1 .. (h, w) = (", _join(padded_size), ") of the images tensor"])

    return assert_all((image_sizes >= 1) & (image_sizes <= padded_size[None]), describe, "check_image_sizes")


def decode_images(image_bytes: tf.Tensor, prepare: Callable, prepared_spec: tuple[tf.TensorSpec, ...]):
    """Decodes each encoded image and applies prepare; an undecodable one fails the request naming its index.

    A decoder error inside `tf.map_fn` cannot say which image it was, so the images are
    decoded by a tf.data pipeline that drops failures, and the first missing index is reported.

    Args:
      image_bytes: (B,) string, JPEG / PNG / GIF (first frame) / BMP file contents.
      prepare: (h, w, 3) uint8 image -> tensors matching prepared_spec.
      prepared_spec: the per-image output specs of prepare.

    Returns:
      prepare's outputs stacked along a new batch axis B, in the order of image_bytes.
    """
    count = tf.shape(image_bytes, out_type=tf.int64)[0]
    decoded = tf.data.Dataset.from_tensor_slices((tf.range(count), image_bytes)).map(
        lambda index, encoded: (index, *prepare(tf.io.decode_image(encoded, channels=3, expand_animations=False))),
        num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()  # deterministic: keeps the order
    # batch() yields no element when every image failed (or B = 0): fall back to an empty batch.
    empty = tf.data.Dataset.from_tensors((tf.zeros([0], tf.int64),
                                          *(tf.zeros([0, *spec.shape], spec.dtype) for spec in prepared_spec)))
    indices, *prepared = decoded.batch(tf.maximum(count, 1)).concatenate(empty).take(1).get_single_element()

    def describe(index):
        return tf.strings.join([
            _entry("image_bytes", index), " (", _text(tf.strings.length(image_bytes[index[0]])),
            " bytes): not a decodable JPEG, PNG, GIF or BMP image (another format, truncated or corrupt)"])

    decoded_ok = tf.reduce_any(tf.range(count)[:, None] == indices[None], axis=1)
    with tf.control_dependencies([assert_all(decoded_ok, describe, "check_image_bytes")]):
        return tuple(tf.identity(t) for t in prepared)
