"""Image preprocessing shared by training, evaluation, predict and serving."""

from __future__ import annotations

import tensorflow as tf


def resize_to_fit(image: tf.Tensor, image_size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """(h, w, 3) image -> (resized f32 0..255 image fitting image_size, scale factor).

    The aspect ratio is kept: scale = min(H / h, W / w). No padding yet.
    """
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    scale = tf.minimum(image_size[0] / height, image_size[1] / width)
    resized_size = tf.cast(tf.round(tf.stack([height, width]) * scale), tf.int32)
    resized_size = tf.minimum(resized_size, tf.constant(image_size, tf.int32))
    resized = tf.image.resize(tf.cast(image, tf.float32), resized_size, antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0), scale


def fit_to_input(image: tf.Tensor, image_size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """(h, w, 3) image 0..255 -> (model input (H, W, 3) f32, zero-padded bottom/right, scale).

    Exactly what training and evaluation feed the model; used by predict.py and the export.
    """
    resized, scale = resize_to_fit(image, image_size)
    padded = tf.image.pad_to_bounding_box(resized, 0, 0, image_size[0], image_size[1])
    return tf.ensure_shape(padded, [image_size[0], image_size[1], 3]), scale

