"""The interaction head: shared conv tower + verb, target-presence and embedding branches."""

from __future__ import annotations

import math

import keras
from keras import ops


class InteractionHead(keras.layers.Layer):
    """One FPN level (B, h, w, C) -> per-anchor maps flattened to (B, h*w*A, ...).

    Tower (the trunk): ``num_blocks`` x (conv3x3 + BatchNorm + ReLU). Branches (conv3x3
    each): verbs: A x (2V or V) logits (active, then passive); target: A x V logits;
    embedding: A x V x T floats. Returns a dict with "verb_logits" (B, n, 2V),
    "target_logits" (B, n, V) when enabled, "embeddings" (B, n, V, T).

    ``batch_norm_levels``: empty (the paper's head), one BatchNorm per block whatever the
    level; else the FPN levels of a head shared over them, each with its own BatchNorm per
    block (convolutions still shared, as in EfficientDet), picked by ``call(level=...)``.
    """

    def __init__(self, num_verbs, anchors_per_location=9, num_blocks=8, channels=256, embedding_dim=8,
                 passive_branch=True, target_branch=True, verb_prior=0.01, batch_norm_levels=(), **kwargs):
        super().__init__(**kwargs)
        self.num_verbs = num_verbs
        self.anchors_per_location = anchors_per_location
        self.num_blocks = num_blocks
        self.channels = channels
        self.embedding_dim = embedding_dim
        self.passive_branch = passive_branch
        self.target_branch = target_branch
        self.verb_prior = verb_prior
        self.batch_norm_levels = tuple(int(level) for level in batch_norm_levels)
        init = keras.initializers.RandomNormal(stddev=0.01)
        # Named attributes, not a list: tf.train.Checkpoint does not track Keras-tracked lists.
        for i in range(num_blocks):
            setattr(self, f"block{i}_conv", keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                                               kernel_initializer=init, name=f"block{i}_conv"))
            for name in self._bn_names(i):
                setattr(self, name, keras.layers.BatchNormalization(name=name))
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

    def _bn_name(self, block: int, level: int | None) -> str:
        """A block's BatchNorm attribute name: "block{i}_bn" (the checkpoints of the paper's
        head), or "block{i}_bn_p{level}" when the BatchNorm is per level."""
        return f"block{block}_bn_p{level}" if self.batch_norm_levels else f"block{block}_bn"

    def _bn_names(self, block: int) -> list[str]:
        """Every BatchNorm attribute name of a block (one, or one per level)."""
        return [self._bn_name(block, level) for level in self.batch_norm_levels or (None,)]

    def tower(self, level: int | None = None) -> list[tuple[keras.layers.Conv2D, keras.layers.BatchNormalization]]:
        """(conv, BatchNorm) per block; level picks the BatchNorm when they are per level."""
        if self.batch_norm_levels and level not in self.batch_norm_levels:
            raise ValueError(f"level={level}: this head has BatchNorm for the levels {list(self.batch_norm_levels)}")
        return [(getattr(self, f"block{i}_conv"), getattr(self, self._bn_name(i, level)))
                for i in range(self.num_blocks)]

    @property
    def branch_convs(self) -> dict[str, keras.layers.Conv2D]:
        """The output key of each branch -> its conv (A x outputs channels, anchor-major)."""
        convs = {"verb_logits": self.verb_conv, "embeddings": self.embedding_conv}
        if self.target_conv is not None:
            convs["target_logits"] = self.target_conv
        return convs

    @property
    def branch_shapes(self) -> dict[str, tuple[int, ...]]:
        """The per-anchor shape of each branch output."""
        shapes = {"verb_logits": (self.verb_outputs,), "embeddings": (self.num_verbs, self.embedding_dim)}
        if self.target_conv is not None:
            shapes["target_logits"] = (self.num_verbs,)
        return shapes

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i in range(self.num_blocks):
            getattr(self, f"block{i}_conv").build(shape)
            shape = shape[:-1] + (self.channels,)
            for name in self._bn_names(i):
                getattr(self, name).build(shape)
        for conv in self.branch_convs.values():
            conv.build(shape)

    def trunk(self, features, training=False, level: int | None = None):
        """The tower: (B, h, w, C_in) -> (B, h, w, channels), what every branch reads."""
        x = features
        for conv, bn in self.tower(level):
            x = ops.relu(bn(conv(x), training=training))
        return x

    def call(self, features, training=False, level: int | None = None):
        return self.branches(self.trunk(features, training=training, level=level))

    def branches(self, x):
        """Tower output (B, h, w, channels) -> the dense per-anchor maps (class docstring)."""
        batch = ops.shape(x)[0]
        shapes = self.branch_shapes
        return {key: ops.reshape(conv(x), (batch, -1, *shapes[key])) for key, conv in self.branch_convs.items()}

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
            "batch_norm_levels": list(self.batch_norm_levels),
        }
