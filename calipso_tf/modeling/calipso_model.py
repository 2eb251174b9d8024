"""The CALIPSO network: ResNet-FPN + interaction head, with its own train/test steps."""

from __future__ import annotations

import keras
import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.modeling.backbone import ResNetFPN
from calipso_tf.config import Config, LossConfig, ModelConfig
from calipso_tf.modeling.anchor_reads import read_branches, tile_layout
from calipso_tf.ops.anchors import num_anchors
from calipso_tf.modeling.interaction_head import InteractionHead
from calipso_tf.modeling.keras_hub_backbone import KerasHubRetinaNetFPN
from calipso_tf.modeling.losses import calipso_losses, gather_assigned, slot_losses

LOSS_TERMS = ("total", "verb", "target", "embedding")
# The Keras logs / history key of the anchor-slot overflow: assigned anchors that did not fit into
# loss.max_assigned_anchors slots (the loss ignores them), summed over images and steps. A count tracked
# next to the loss terms but not one of them: outside "total" and the non-finite policy.
OVERFLOW_KEY = "anchor_overflow"


def loss_log_key(term: str) -> str:
    """The Keras logs / history key of a loss term: "loss" for the total, else "<term>_loss"."""
    return "loss" if term == "total" else f"{term}_loss"


class CalipsoModel(keras.Model):
    """Images (B, H, W, 3), pixels 0..255 -> dense maps over the N flattened anchors:

    "verb_logits" (B, N, 2V) active then passive (V without the passive branch),
    "target_logits" (B, N, V) (absent without the target branch),
    "embeddings" (B, N, V, T).

    ``train_step`` takes ``(images, targets)`` with targets from
    :func:`calipso_tf.targets.encode_targets` and divides the summed per-image loss by
    the global batch size, so it is correct under any distribution strategy.

    ``model_config.freeze_batch_norm``: every BatchNormalization layer (backbone and
    heads) is made non-trainable, which in Keras 3 also means it always normalises with
    its moving statistics (inference mode) and never updates them. The usual choice when
    fine-tuning a detector from pretrained weights with few images per device: the
    update then does not depend on how the batch is split over replicas at all.

    ``model_config.read_only_head``: the losses evaluate the three branches only at the
    assigned anchors (`read_anchors` on `trunk_features`) instead of reading them off the
    dense maps, whenever that is fewer multiply-adds (`read_only_pays`); same values, same
    variables. ``model(images)`` always returns the dense maps.
    """

    def __init__(self, model_config: dict | ModelConfig, loss_config: dict | LossConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_config, dict):
            model_config = config_lib.from_dict(ModelConfig, model_config, "model_config")
        if not isinstance(loss_config, LossConfig):
            loss_config = config_lib.from_dict(LossConfig, loss_config or {}, "loss_config")
        self.model_config = model_config
        self.loss_config = loss_config
        cfg = model_config
        self.levels = list(range(cfg.anchors.min_level, cfg.anchors.max_level + 1))
        if self.levels != [3, 4, 5, 6, 7]:
            raise ValueError("model.anchors levels must be P3..P7 (the RetinaNet FPN levels)")
        if any(side % 32 for side in cfg.image_size):
            raise ValueError(f"model.image_size={list(cfg.image_size)}: both sides must be multiples of 32 "
                             "(the FPN upsamples P5 to P4 to P3)")
        self.backbone = build_backbone(cfg)
        head_args = dict(num_verbs=cfg.num_verbs, anchors_per_location=cfg.anchors.anchors_per_location,
                         num_blocks=cfg.head_blocks, channels=cfg.head_channels, embedding_dim=cfg.embedding_dim,
                         passive_branch=cfg.passive_branch, target_branch=cfg.target_branch)
        # Named attributes, not a list: tf.train.Checkpoint does not track Keras-tracked lists.
        if cfg.share_head_weights:
            levels = self.levels if cfg.head_batch_norm == "per_level" else ()
            self.interaction_head = InteractionHead(name="interaction_head", batch_norm_levels=levels, **head_args)
        else:
            for level in self.levels:
                setattr(self, f"interaction_head_p{level}",
                        InteractionHead(name=f"interaction_head_p{level}", **head_args))
        if cfg.freeze_batch_norm:
            self.freeze_batch_norm()
        elif cfg.freeze_backbone_batch_norm:
            self.freeze_batch_norm(self.backbone)
        self.trackers = {name: keras.metrics.Mean(name=loss_log_key(name))
                         for name in LOSS_TERMS}
        self.overflow_tracker = keras.metrics.Sum(name=OVERFLOW_KEY)

    def freeze_batch_norm(self, within: keras.layers.Layer | None = None) -> int:
        """Puts every BatchNormalization layer (of ``within``, default the whole model) in inference
        mode and out of the trainable variables (moving statistics and gamma/beta stay fixed);
        returns how many."""
        layers = [l for l in (within or self)._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
        for layer in layers:
            layer.trainable = False
        return len(layers)

    @property
    def heads(self) -> list[InteractionHead]:
        """The head applied to each level, P3 first (the same object when shared)."""
        if self.model_config.share_head_weights:
            return [self.interaction_head] * len(self.levels)
        return [getattr(self, f"interaction_head_p{level}") for level in self.levels]

    def call(self, images, training=False):
        features = self.backbone(images, training=training)
        per_level = [head(f, training=training, level=level)
                     for head, f, level in zip(self.heads, features, self.levels)]
        return {key: tf.concat([out[key] for out in per_level], axis=1) for key in per_level[0]}

    def trunk_features(self, images, training=False) -> list[tf.Tensor]:
        """The heads' tower outputs, per level P3 first: (B, h_l, w_l, head_channels).

        What the branches read; `read_anchors` turns them into the maps at chosen anchors.
        Call once the model is built (`initialize`).
        """
        features = self.backbone(images, training=training)
        return [head.trunk(f, training=training, level=level)
                for head, f, level in zip(self.heads, features, self.levels)]

    def read_anchors(self, trunk: list[tf.Tensor], anchor_index: tf.Tensor) -> dict[str, tf.Tensor]:
        """The dense maps' values at (B, K) flat anchor indices, computed there only:
        each key (B, K, ...) (calipso_tf.modeling.anchor_reads.read_branches)."""
        return read_branches(self.heads, trunk, anchor_index)

    def initialize(self) -> "CalipsoModel":
        """Creates every variable with one forward pass at the configured input size."""
        size = tuple(self.model_config.image_size)
        self(tf.zeros((1, size[0], size[1], 3)))
        return self

    @property
    def metrics(self):
        return [*self.trackers.values(), self.overflow_tracker]

    @tf.autograph.experimental.do_not_convert
    def read_only_pays(self, reads_per_image: int | None) -> bool:
        """Whether `read_anchors` at this many anchors per image is used: ``model.read_only_head``
        and fewer rows (padding included, `anchor_reads.tile_layout`) than the N anchors the
        dense maps compute. False when the count is not known statically."""
        if not self.model_config.read_only_head or reads_per_image is None:
            return False
        groups = self.model_config.anchors.anchors_per_location * len({id(h) for h in self.heads})
        tile, tiles = tile_layout(reads_per_image, groups)
        return tile * tiles < num_anchors(tuple(self.model_config.image_size), self.model_config.anchors)

    def compute_losses(self, images, targets, training):
        """Forward pass + per-image loss terms (B,); the branches only at the assigned
        anchors when `read_only_pays`."""
        if not self.read_only_pays(self.loss_config.max_assigned_anchors):
            return calipso_losses(self(images, training=training), targets, self.loss_config)
        slots, valid, dropped = gather_assigned(targets["anchor_box"], self.loss_config.max_assigned_anchors)
        reads = self.read_anchors(self.trunk_features(images, training=training), slots)
        return slot_losses(reads, slots, valid, dropped, targets, self.loss_config)

    def replica_loss(self, per_image_total: tf.Tensor) -> tf.Tensor:
        """Sum over this replica's images / global batch size (replicas sum gradients)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        local_batch = tf.cast(tf.shape(per_image_total)[0], tf.float32)
        return tf.reduce_sum(per_image_total) / (local_batch * replicas)

    def replica_step(self, data):
        """One optimiser step on this replica's share (B_local) of the global batch.

        Forward, loss / global batch, gradients, then ``apply_gradients`` (which sums the
        gradients over replicas under a strategy). Returns the per-image terms (B_local,), the
        loss terms and "dropped_anchors" (the anchor-slot overflow).
        Shared by ``train_step`` (model.fit) and the custom loop (``strategy.run``).
        """
        images, targets = data
        with tf.GradientTape() as tape:
            terms = self.compute_losses(images, targets, training=True)
            loss = self.replica_loss(terms["total"])
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return terms

    def train_step(self, data):
        return self._update_trackers(self.replica_step(data))

    def test_step(self, data):
        images, targets = data
        return self._update_trackers(self.compute_losses(images, targets, training=False))

    def _update_trackers(self, terms):
        """Loss trackers: mean per image; overflow tracker: dropped anchors summed over the images and
        the steps since the last reset (a Keras epoch). -> logs {key: scalar}."""
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        self.overflow_tracker.update_state(terms["dropped_anchors"])
        return {t.name: t.result() for t in self.metrics}

    def get_config(self):
        return {**super().get_config(), "model_config": config_lib.to_dict(self.model_config),
                "loss_config": config_lib.to_dict(self.loss_config)}


def build_backbone(cfg: ModelConfig) -> keras.layers.Layer:
    """The feature extractor ``model.backbone`` names: images (B, H, W, 3) in [0, 255] -> [P3..P7],
    256 channels each. Each backbone takes its weights from its own field; the other one's is an error."""
    if cfg.backbone == "keras_hub_retinanet":
        if not cfg.backbone_preset:
            raise ValueError("model.backbone=keras_hub_retinanet needs model.backbone_preset: a KerasHub preset "
                             "name (retinanet_resnet50_fpn_coco) or a local preset folder")
        if cfg.backbone_weights:
            raise ValueError(f"model.backbone_weights={cfg.backbone_weights} is for model.backbone=keras_cv_resnet; "
                             "keras_hub_retinanet takes its weights from model.backbone_preset")
        return KerasHubRetinaNetFPN(cfg.backbone_preset, name="backbone_fpn")
    if cfg.backbone_preset:
        raise ValueError(f"model.backbone_preset={cfg.backbone_preset} is for model.backbone=keras_hub_retinanet; "
                         "keras_cv_resnet takes model.backbone_weights")
    return ResNetFPN(cfg.backbone_depth, cfg.backbone_width, cfg.resnet_convention, name="backbone_fpn")


def build_model(config: Config, load_pretrained: bool = True) -> CalipsoModel:
    """Builds (and initialises the variables of) the model described by ``config``, the backbone
    from ``model.backbone_weights`` when set and ``load_pretrained``."""
    model = CalipsoModel(config.model, config.loss, name="calipso").initialize()
    if load_pretrained and config.model.backbone_weights:
        from calipso_tf.modeling.pretrained import load_backbone_weights

        load_backbone_weights(model, config.model.backbone_weights)
    return model
