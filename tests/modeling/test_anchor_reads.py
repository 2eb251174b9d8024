"""The read-only head: branch outputs computed at chosen anchors equal the dense maps there,
for every level and anchor index, under XLA, with the same gradients, losses and decoded triplets."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import LossConfig
from calipso_tf.inference.triplet_decoder import TripletDecoder
from calipso_tf.modeling.anchor_reads import grouped_matmul
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.ops.anchors import generate_anchors
from calipso_tf.ops.target_encoding import encode_targets, verb_target_lookup

from harness import tiny_config

VARIANTS = {"shared": {}, "unshared": {"share_head_weights": False}, "per_level_bn": {"head_batch_norm": "per_level"},
            "no_passive_no_target": {"passive_branch": False, "target_branch": False}}
_MODELS = {}


def tiny_model(name):
    if name not in _MODELS:
        _MODELS[name] = build_model(tiny_config(**VARIANTS[name]))
    return _MODELS[name]


def images(batch=2, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch, 64, 64, 3)), tf.float32)


def every_anchor(num_anchors, batch=2, seed=0):
    """(B, N + 7) indices: every anchor once per image, in a random order, plus repeats."""
    rng = np.random.default_rng(seed)
    rows = [np.concatenate([rng.permutation(num_anchors), rng.integers(0, num_anchors, 7)]) for _ in range(batch)]
    return tf.constant(np.stack(rows), tf.int32)


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("jit", [False, True])
def test_reads_equal_dense_maps_at_every_anchor(name, jit):
    model = tiny_model(name)
    x = images()
    dense = model(x, training=False)
    index = every_anchor(dense["verb_logits"].shape[1])
    read = tf.function(lambda x, i: model.read_anchors(model.trunk_features(x), i), jit_compile=jit)
    reads = read(x, index)
    assert set(reads) == set(dense)
    for key, value in dense.items():
        expected = tf.gather(value, index, batch_dims=1).numpy()
        assert reads[key].shape == expected.shape
        np.testing.assert_allclose(reads[key].numpy(), expected, atol=1e-5, rtol=0, err_msg=key)


def test_grouped_matmul_against_numpy():
    rng = np.random.default_rng(1)
    kernels = rng.normal(size=(5, 4, 3)).astype(np.float32)  # P=5, G=4, O=3
    for groups in ([0] * 9, [3, 1, 3, 3, 0, 1, 3, 3, 3, 3, 3], [2], list(rng.integers(0, 4, 50))):
        x = rng.normal(size=(len(groups), 5)).astype(np.float32)
        expected = np.stack([x[s] @ kernels[:, g] for s, g in enumerate(groups)])
        out = grouped_matmul(tf.constant(x), tf.constant(groups, tf.int32), tf.constant(kernels)).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)


def read_anchor_loss(maps, weights):
    """A loss on the maps at the read anchors: sum of weights x values."""
    return sum(tf.reduce_sum(maps[key] * weights[key]) for key in sorted(maps))


@pytest.mark.parametrize("name", ["shared", "unshared"])
def test_gradients_equal_the_dense_path(name):
    model = tiny_model(name)
    x = images()
    index = tf.constant(np.random.default_rng(2).integers(0, 774, (2, 40)), tf.int32)
    dense_shapes = {k: v.shape for k, v in model(x, training=False).items()}
    rng = np.random.default_rng(3)
    weights = {k: tf.constant(rng.normal(size=(2, 40, *s[2:])), tf.float32) for k, s in dense_shapes.items()}
    variables = model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        dense = {k: tf.gather(v, index, batch_dims=1) for k, v in model(x, training=False).items()}
        dense_loss = read_anchor_loss(dense, weights)
        read_loss = read_anchor_loss(model.read_anchors(model.trunk_features(x), index), weights)
    np.testing.assert_allclose(float(read_loss), float(dense_loss), rtol=1e-5)
    for var, g_dense, g_read in zip(variables, tape.gradient(dense_loss, variables),
                                    tape.gradient(read_loss, variables)):
        assert g_read is not None, var.path
        np.testing.assert_allclose(tf.convert_to_tensor(g_read).numpy(), tf.convert_to_tensor(g_dense).numpy(),
                                   atol=1e-5, rtol=1e-4, err_msg=var.path)


def hand_targets(config):
    anchors = generate_anchors((64, 64), config.model.anchors)
    boxes = np.array([[4, 4, 36, 60], [30, 20, 62, 44], [8, 40, 24, 56], [0, 0, 0, 0]], np.float32)
    trip = np.array([[0, 1, 0], [0, 2, 1], [0, -1, 2], [-1, -1, -1]], np.int32)
    targets = encode_targets(tf.constant(anchors), tf.constant(boxes), tf.constant([True, True, True, False]),
                             tf.constant([1, 47, 37, -1], tf.int32), tf.constant(trip), 3,
                             verb_target_lookup([[47], [37], []]))
    return {k: tf.stack([v, v]) for k, v in targets.items()}


def test_read_only_losses_equal_dense_losses():
    config = dataclasses.replace(tiny_config(), loss=LossConfig(max_assigned_anchors=64))
    read_only = build_model(config)
    dense = build_model(dataclasses.replace(config, model=dataclasses.replace(config.model, read_only_head=False)))
    dense.set_weights(read_only.get_weights())  # the switch keeps the variables
    assert read_only.read_only_pays(64) and not dense.read_only_pays(64)
    targets = hand_targets(config)
    assert int(tf.reduce_sum(tf.cast(targets["anchor_box"] >= 0, tf.int32))) > 6
    x = images()
    read_terms = read_only.compute_losses(x, targets, training=False)
    reference = dense.compute_losses(x, targets, training=False)
    for term in ("verb", "target", "embedding", "total", "dropped_anchors"):
        np.testing.assert_allclose(read_terms[term].numpy(), reference[term].numpy(), rtol=1e-5, err_msg=term)
    assert float(reference["total"][0]) > 0


def test_read_only_only_where_it_is_fewer_rows_than_anchors():
    model = tiny_model("shared")  # N = 774 anchors, 9 kernel groups
    assert model.read_only_pays(320)  # 18 rows per tile x 27 tiles = 486 rows
    assert not model.read_only_pays(1024)  # 57 x 27 = 1539 rows
    assert not model.read_only_pays(None)
    dense = build_model(tiny_config(read_only_head=False))
    assert not dense.read_only_pays(8)


def test_decoded_triplets_identical_read_only_and_dense():
    model = tiny_model("shared")
    config = tiny_config()
    anchors = tf.constant(generate_anchors((64, 64), config.model.anchors))
    boxes = tf.constant([[[4, 4, 36, 60], [30, 20, 62, 44], [8, 40, 24, 56], [0, 0, 20, 20], [0, 0, 0, 0]]] * 2,
                        tf.float32)
    category_ids = tf.constant([[1, 47, 37, 1, 0]] * 2, tf.int32)
    scores = tf.constant([[0.9, 0.8, 0.7, 0.6, 0.0]] * 2, tf.float32)
    num_detections = tf.constant([4, 3], tf.int32)
    decoder = TripletDecoder(top_k=20)
    x = images()
    outs = [decoder.decode_model(model, x, anchors, boxes, category_ids, scores, num_detections, read_only=flag)
            for flag in (False, True)]
    assert int(outs[0]["num_triplets"][0]) > 0
    for key in outs[0]:
        np.testing.assert_allclose(outs[1][key].numpy(), outs[0][key].numpy(), atol=1e-6, err_msg=key)


def test_mixed_precision_decoding_dense_and_read_only():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(tiny_config())
        decoder = TripletDecoder(top_k=20)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model(images(1))["embeddings"].dtype == tf.float16
    anchors = generate_anchors((64, 64), model.model_config.anchors)
    boxes = tf.constant([[[4, 4, 36, 60], [30, 20, 62, 44], [8, 40, 24, 56]]], tf.float32)
    args = (anchors, boxes, tf.constant([[1, 47, 37]]), tf.constant([[0.9, 0.8, 0.7]]), tf.constant([3]))
    outs = [decoder.decode_model(model, images(1), *args, read_only=flag) for flag in (False, True)]
    assert outs[0]["score"].dtype == tf.float32 and int(outs[0]["num_triplets"][0]) > 0
    # float16 maps: the two paths round differently, by far less than a score step that matters.
    np.testing.assert_allclose(outs[1]["score"].numpy(), outs[0]["score"].numpy(), atol=1e-3)
