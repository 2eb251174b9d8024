"""A pairwise HOI baseline in the style of iCAN / Interactiveness, for timing only.

Those methods score every (person, object) pair separately: they pool features at the
person box, the object box and their union box, and feed each pair through a small
network, a fixed number of pairs per forward pass. Their cost therefore grows with the
number of pairs P, where CALIPSO reads every pair from one set of dense maps.

This baseline keeps that structure on the project's own ResNet-FPN (the same layer
instance as the CALIPSO model it is compared with):

- backbone once per image, P4 (stride 16, 256 channels: the resolution of the conv4
  features iCAN pools from);
- per pair, ``tf.image.crop_and_resize`` 7x7 at the person, object and union boxes
  -> (3 * 7 * 7 * 256) floats -> Dense(1024) + ReLU -> Dense(1024) + ReLU -> Dense(V);
- pairs in chunks of ``chunk`` (padded), one chunk after another.

It is a lower bound on the real peers' cost: iCAN and Interactiveness run a ResNet
block on every pooled region and rerun the backbone for each person, this one does not.
The weights are random: only the cost matters.
"""

from __future__ import annotations

import keras
import tensorflow as tf

FEATURE_LEVEL = 4
ROI_SIZE = 7
REGIONS = 3  # person, object, union
FPN_CHANNELS = 256


def human_object_pairs(boxes: tf.Tensor, category_ids: tf.Tensor, num_detections: tf.Tensor,
                       person_category_id: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """Every (person, non-person) pair among the valid detections of one image.

    Args:
      boxes: (D, 4) [x1, y1, x2, y2] pixels, padded; category_ids: (D,) int;
      num_detections: scalar int, the valid prefix.

    Returns:
      (P, 4) person boxes and (P, 4) object boxes, P = persons x objects.
    """
    valid = tf.range(tf.shape(boxes)[0]) < tf.cast(num_detections, tf.int32)
    person = tf.cast(category_ids, tf.int32) == person_category_id
    pairs = tf.where((valid & person)[:, None] & (valid & ~person)[None, :])
    return tf.gather(boxes, pairs[:, 0]), tf.gather(boxes, pairs[:, 1])


class PairwiseBaseline(keras.Model):
    """(1, H, W, 3) image + (P, 4) person and object boxes (input pixels) -> (P, V) verb scores.

    Args:
      backbone: a ``ResNetFPN`` (shared with the CALIPSO model being compared).
      num_verbs: V.
      image_size: (H, W) of the model input, to normalise the boxes.
      chunk: pairs per forward of the pair network.
      hidden: width of the two fully connected layers.
    """

    def __init__(self, backbone: keras.layers.Layer, num_verbs: int, image_size: tuple[int, int],
                 chunk: int = 32, hidden: int = 1024, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.image_size = tuple(image_size)
        self.chunk = chunk
        self.pair_network = keras.Sequential(
            [keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(hidden, activation="relu"),
             keras.layers.Dense(num_verbs, activation="sigmoid")], name="pair_network")
        # Built here: variables cannot be created inside the chunk loop.
        self.pair_network.build((None, REGIONS * ROI_SIZE * ROI_SIZE * FPN_CHANNELS))

    def pooled_regions(self, features: tf.Tensor, regions: tf.Tensor) -> tf.Tensor:
        """(1, h, w, C) features, (n, 3, 4) pixel boxes -> (n, 3 * 7 * 7 * C) pooled features."""
        height, width = self.image_size
        x1, y1, x2, y2 = tf.unstack(tf.reshape(regions, [-1, 4]), axis=-1)
        normalised = tf.stack([y1 / height, x1 / width, y2 / height, x2 / width], axis=-1)
        crops = tf.image.crop_and_resize(features, normalised, tf.zeros(tf.shape(normalised)[:1], tf.int32),
                                         (ROI_SIZE, ROI_SIZE))
        return tf.reshape(crops, [tf.shape(regions)[0], REGIONS * ROI_SIZE * ROI_SIZE * features.shape[-1]])

    def call(self, images, human_boxes, object_boxes):
        features = self.backbone(images, training=False)[FEATURE_LEVEL - 3]  # the list starts at P3
        union = tf.concat([tf.minimum(human_boxes[:, :2], object_boxes[:, :2]),
                           tf.maximum(human_boxes[:, 2:], object_boxes[:, 2:])], axis=-1)
        regions = tf.stack([human_boxes, object_boxes, union], axis=1)  # (P, 3, 4)
        num_pairs = tf.shape(regions)[0]
        padded = (num_pairs + self.chunk - 1) // self.chunk * self.chunk
        regions = tf.pad(regions, [[0, padded - num_pairs], [0, 0], [0, 0]])
        chunks = tf.reshape(regions, [-1, self.chunk, REGIONS, 4])
        scores = tf.map_fn(lambda c: self.pair_network(self.pooled_regions(features, c)), chunks,
                           parallel_iterations=1,
                           fn_output_signature=tf.TensorSpec([self.chunk, None], self.compute_dtype))
        return tf.reshape(scores, [padded, -1])[:num_pairs]
