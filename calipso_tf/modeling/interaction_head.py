"""The interaction head: shared conv tower + verb, target-presence and embedding branches."""

from __future__ import annotations

import math

import keras
from keras import ops


class InteractionHead(keras.layers.Layer):
    """One FPN level (B, h, w, C) -> per-anchor maps flattened to (B, h*w*A, ...).

    Tower: ``num_blocks`` x (conv3x3 + BatchNorm + ReLU). Branches (conv3x3 each):
    verbs: A x (2V or V) logits (active, then passive); target: A x V logits;
    embedding: A x V x T floats. Returns a dict with "verb_logits" (B, n, 2V),
    "target_logits" (B, n, V) when enabled, "embeddings" (B, n, V, T).
    """

    def __init__(self, num_verbs, anchors_per_location=9, num_blocks=8, channels=256, embedding_dim=8,
                 passive_branch=True, target_branch=True, verb_prior=0.01, **kwargs):
        super().__init__(**kwargs)
        self.num_verbs = num_verbs
        self.anchors_per_location = anchors_per_location
        self.num_blocks = num_blocks
        self.channels = channels
        self.embedding_dim = embedding_dim
        self.passive_branch = passive_branch
        self.target_branch = target_branch
        self.verb_prior = verb_prior
        init = keras.initializers.RandomNormal(stddev=0.01)
        # Named attributes, not a list: tf.train.Checkpoint does not track Keras-tracked lists.
        for i in range(num_blocks):
            setattr(self, f"block{i}_conv", keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                                               kernel_initializer=init, name=f"block{i}_conv"))
            setattr(self, f"block{i}_bn", keras.layers.BatchNormalization(name=f"block{i}_bn"))
        a = anchors_per_location
        self.verb_outputs = num_verbs * (2 if passive_branch else 1)
        prior_bias = keras.initializers.Constant(-math.log((1 - verb_prior) / verb_prior))
        self.verb_conv = keras.layers.Conv2D(a * self.verb_outputs, 3, padding="same", kernel_initializer=init,
                                             bias_initializer=prior_bias, name="verb_logits")
        self.target_conv = (keras.layers.Conv2D(a * num_verbs, 3, padding="same", kernel_initializer=init,
                                                name="target_logits") if target_branch else None)
        self.embedding_conv = keras.layers.Conv2D(a * num_verbs * embedding_dim, 3, padding="same",
                                                  kernel_initializer=keras.initializers.RandomNormal(stddev=0.1),
                                                  name="embeddings")

    @property
    def tower(self) -> list[tuple[keras.layers.Conv2D, keras.layers.BatchNormalization]]:
        return [(getattr(self, f"block{i}_conv"), getattr(self, f"block{i}_bn")) for i in range(self.num_blocks)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, bn in self.tower:
            conv.build(shape)
            shape = shape[:-1] + (self.channels,)
            bn.build(shape)
        for conv in (self.verb_conv, self.target_conv, self.embedding_conv):
            if conv is not None:
                conv.build(shape)

    def call(self, features, training=False):
        x = features
        for conv, bn in self.tower:
            x = ops.relu(bn(conv(x), training=training))
        batch = ops.shape(x)[0]
        outputs = {
            "verb_logits": ops.reshape(self.verb_conv(x), (batch, -1, self.verb_outputs)),
            "embeddings": ops.reshape(self.embedding_conv(x), (batch, -1, self.num_verbs, self.embedding_dim)),
        }
        if self.target_conv is not None:
            outputs["target_logits"] = ops.reshape(self.target_conv(x), (batch, -1, self.num_verbs))
        return outputs

    def get_config(self):
        return {
            **super().get_config(),
            "num_verbs": self.num_verbs,
            "anchors_per_location": self.anchors_per_location,
            "num_blocks": self.num_blocks,
            "channels": self.channels,
            "embedding_dim": self.embedding_dim,
            "passive_branch": self.passive_branch,
            "target_branch": self.target_branch,
            "verb_prior": self.verb_prior,
        }
