"""CalipsoModel: output shapes, ablation switches, parameter counts and config round trip."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import LossConfig
from calipso_tf.ops.anchors import generate_anchors, num_anchors
from calipso_tf.modeling.interaction_head import InteractionHead
from calipso_tf.modeling.calipso_model import OVERFLOW_KEY, CalipsoModel, build_model
from calipso_tf.ops.target_encoding import encode_targets, verb_target_lookup

from harness import tiny_config

FPN_CHANNELS = 256  # KerasCV FeaturePyramid output width: the head's input
_MODELS = {}


def tiny_model(**overrides):
    """Built once per configuration for this module (forward passes only; never trained here)."""
    key = tuple(sorted(overrides.items()))
    if key not in _MODELS:
        _MODELS[key] = build_model(tiny_config(**overrides))
    return _MODELS[key]


def forward(model, batch=2, seed=0):
    size = tuple(model.model_config.image_size)
    images = tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)), tf.float32)
    return {k: v.numpy() for k, v in model(images, training=False).items()}


def hand_head_params(blocks, channels, verbs, embedding_dim, anchors=9, passive=True, target=True):
    """conv3x3 without bias + BatchNorm (gamma, beta, moving mean, moving variance) per block,
    then three conv3x3 branches with bias."""
    tower = 9 * FPN_CHANNELS * channels + 4 * channels + (blocks - 1) * (9 * channels * channels + 4 * channels)
    branch = lambda outputs: 9 * channels * outputs + outputs
    verb_out = anchors * verbs * (2 if passive else 1)
    total = tower + branch(verb_out) + branch(anchors * verbs * embedding_dim)
    if target:
        total += branch(anchors * verbs)
    return total


def distinct_heads(model):
    return list({id(h): h for h in model.heads}.values())


def test_default_tiny_shapes():
    model = tiny_model()
    out = forward(model)
    n = num_anchors((64, 64))
    assert n == 9 * (8 * 8 + 4 * 4 + 2 * 2 + 1 + 1)
    assert out["verb_logits"].shape == (2, n, 6)
    assert out["target_logits"].shape == (2, n, 3)
    assert out["embeddings"].shape == (2, n, 3, 4)
    # The verb bias starts at the focal prior: sigmoid ~ 0.01 on an untrained net.
    assert 0.005 < float(np.mean(1 / (1 + np.exp(-out["verb_logits"])))) < 0.02


@pytest.mark.parametrize("size", [(64, 96), (96, 128)])
def test_anchor_count_matches_non_square_inputs(size):
    out = forward(tiny_model(image_size=size), batch=1)
    assert out["verb_logits"].shape[1] == out["embeddings"].shape[1] == num_anchors(size)


def test_passive_branch_off():
    model = tiny_model(passive_branch=False)
    assert forward(model)["verb_logits"].shape[-1] == 3
    assert model.heads[0].count_params() == hand_head_params(1, 32, 3, 4, passive=False)


def test_target_branch_off():
    model = tiny_model(target_branch=False)
    out = forward(model)
    assert set(out) == {"verb_logits", "embeddings"}
    assert model.heads[0].target_conv is None
    assert model.heads[0].count_params() == hand_head_params(1, 32, 3, 4, target=False)


def test_embedding_dim():
    assert forward(tiny_model(embedding_dim=7))["embeddings"].shape[-2:] == (3, 7)


def test_head_param_count_by_hand():
    model = tiny_model()
    head = model.heads[0]
    # 73,856 tower + 15,606 verbs + 7,803 target + 31,212 embedding.
    assert head.count_params() == hand_head_params(1, 32, 3, 4) == 128477
    assert model.count_params() == model.backbone.count_params() + head.count_params()


def test_head_blocks_change_param_count_by_conv_plus_bn():
    one, three = tiny_model(), tiny_model(head_blocks=3)
    c = 32
    per_block = 9 * c * c + 4 * c  # conv3x3 (no bias) + BN
    assert three.count_params() - one.count_params() == 2 * per_block == 18688
    assert len(three.heads[0].tower()) == 3 and len(one.heads[0].tower()) == 1
    # A standalone head shows the same difference (unshared models hold five of them).
    head = lambda blocks: InteractionHead(3, num_blocks=blocks, channels=c, embedding_dim=4)
    one_h, three_h = head(1), head(3)
    for h in (one_h, three_h):
        h.build((None, None, None, FPN_CHANNELS))
    assert three_h.count_params() - one_h.count_params() == 2 * per_block
    assert three_h.count_params() == hand_head_params(3, c, 3, 4)


def test_share_head_weights_switch():
    shared, unshared = tiny_model(), tiny_model(share_head_weights=False)
    assert len(shared.heads) == len(unshared.heads) == 5
    assert len(distinct_heads(shared)) == 1 and len(distinct_heads(unshared)) == 5
    assert all(isinstance(h, InteractionHead) for h in unshared.heads)
    assert unshared.count_params() - shared.count_params() == 4 * hand_head_params(1, 32, 3, 4)
    head_weights = lambda m: [w for w in m.weights if "interaction_head" in w.path]
    assert len(head_weights(unshared)) == 5 * len(head_weights(shared))
    assert forward(unshared)["verb_logits"].shape == forward(shared)["verb_logits"].shape
    # Unshared heads really hold different weights: the same feature map gives different maps.
    feat = tf.random.stateless_normal((1, 2, 2, FPN_CHANNELS), seed=(1, 2))
    outs = [h(feat)["embeddings"].numpy() for h in unshared.heads]
    assert not np.allclose(outs[0], outs[1])


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_backbone_depths_build(depth):
    model = tiny_model(backbone_depth=depth)
    out = forward(model, batch=1)
    assert out["embeddings"].shape == (1, num_anchors((64, 64)), 3, 4)
    assert model.backbone.resnet.name == f"resnet{depth}"
    assert np.all(np.isfinite(out["verb_logits"]))


def test_backbone_depths_differ_in_size():
    counts = {d: tiny_model(backbone_depth=d).backbone.count_params() for d in (18, 34, 50)}
    assert counts[18] < counts[34] < counts[50]


def test_unknown_depth_is_a_clear_error():
    with pytest.raises(ValueError, match=r"model\.backbone_depth must be one of \[18, 34, 50, 101\], got 19"):
        build_model(tiny_config(backbone_depth=19))


def test_get_config_round_trip_same_outputs():
    config = tiny_config(head_blocks=2, embedding_dim=5, passive_branch=False, share_head_weights=False)
    config.loss.lambda_pull = 3.0
    model = build_model(config)
    serialised = json.loads(json.dumps(model.get_config()))  # JSON-safe
    clone = CalipsoModel.from_config(serialised).initialize()
    assert clone.model_config == config.model
    assert clone.loss_config == config.loss
    assert clone.count_params() == model.count_params()
    a = forward(model, seed=3)
    # Freshly initialised, the clone differs: the comparison below is not vacuous.
    assert not np.allclose(forward(clone, seed=3)["embeddings"], a["embeddings"], atol=1e-4)
    clone.set_weights(model.get_weights())
    b = forward(clone, seed=3)
    assert set(a) == set(b) == {"verb_logits", "target_logits", "embeddings"}
    assert a["verb_logits"].shape[-1] == 3 and a["embeddings"].shape[-1] == 5
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_freeze_batch_norm_fixes_statistics_and_removes_bn_from_training():
    free = build_model(tiny_config())
    frozen = build_model(tiny_config(freeze_batch_norm=True))
    bn_params = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_variables  # noqa: E731
                              if "gamma" in v.path or "beta" in v.path)
    assert bn_params(free) > 0 and bn_params(frozen) == 0
    images = tf.random.uniform((2, 64, 64, 3), 0, 255, seed=3)
    # Frozen BN normalises with its moving statistics even when training=True.
    for key, value in frozen(images, training=False).items():
        np.testing.assert_allclose(frozen(images, training=True)[key].numpy(), value.numpy(), atol=1e-5)
    moving = [v.numpy().copy() for v in frozen.non_trainable_variables]
    frozen(images, training=True)
    for before, v in zip(moving, frozen.non_trainable_variables):
        np.testing.assert_array_equal(before, v.numpy())


def test_freeze_backbone_batch_norm_fixes_only_the_backbone():
    model = build_model(tiny_config(freeze_backbone_batch_norm=True, head_batch_norm="per_level"))
    layers = lambda root: [l for l in root._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]  # noqa
    backbone, head = layers(model.backbone), [l for h in model.heads for l in layers(h)]
    assert backbone and head
    assert not any(l.trainable for l in backbone) and all(l.trainable for l in head)
    statistics = lambda ls: [w.numpy().copy() for l in ls for w in (l.moving_mean, l.moving_variance)]  # noqa
    backbone_before, head_before = statistics(backbone), statistics(head)
    model(tf.random.uniform((2, 64, 64, 3), 0, 255, seed=4), training=True)
    for before, after in zip(backbone_before, statistics(backbone)):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(head_before, statistics(head)))


def overflow_batch(config):
    """Two 64x64 images with boxes on P3/P4 anchors (3 boxes, then 1) and their targets."""
    size = config.model.image_size
    anchors = generate_anchors(size, config.model.anchors)
    per_image = [
        ([[0, 0, 32, 64], [8, 8, 24, 24], [40, 40, 56, 56]], [1, 47, 37], [[0, 1, 0], [0, 2, 1]]),
        ([[16, 16, 48, 48]], [1], [[0, -1, 2]]),
    ]
    encoded = []
    for box_list, categories, triplets in per_image:
        boxes = np.zeros((4, 4), np.float32)
        boxes[:len(box_list)] = box_list
        cats = np.full((4,), -1, np.int32)
        cats[:len(categories)] = categories
        trip = np.full((4, 3), -1, np.int32)
        trip[:len(triplets)] = triplets
        encoded.append(encode_targets(tf.constant(anchors), tf.constant(boxes), tf.range(4) < len(box_list),
                                      tf.constant(cats), tf.constant(trip), config.model.num_verbs,
                                      verb_target_lookup([[47, 37], [37], []])))
    targets = {k: tf.stack([e[k] for e in encoded]) for k in encoded[0]}
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)), tf.float32)
    return images, targets


@pytest.mark.parametrize("max_assigned", [2, 1024])
def test_anchor_overflow_is_returned_and_tracked_by_fit(max_assigned):
    """The anchors that do not fit into loss.max_assigned_anchors slots, counted here from the targets,
    are what replica_step returns per image and what model.fit's history sums over its steps."""
    config = tiny_config()
    images, targets = overflow_batch(config)
    assigned = np.sum(targets["anchor_box"].numpy() >= 0, axis=1)
    want = np.maximum(assigned - max_assigned, 0)
    if max_assigned == 2:
        assert np.all(want > 0) and want[0] != want[1]  # the scene overflows, differently per image
    else:
        assert np.all(want == 0)
    model = CalipsoModel(config.model, LossConfig(max_assigned_anchors=max_assigned)).initialize()
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    model.optimizer.build(model.trainable_variables)
    terms = model.replica_step((images, targets))
    np.testing.assert_array_equal(terms["dropped_anchors"].numpy(), want)
    history = model.fit(tf.data.Dataset.from_tensors((images, targets)).repeat(3), epochs=1, verbose=0).history
    assert history[OVERFLOW_KEY] == [3 * want.sum()]
    assert np.isfinite(history["loss"][0])
