"""Backbone/FPN initialisation from a user's local KerasCV weights (no download)."""

import keras_cv
import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import load_config
from calipso_tf.modeling.backbone import build_resnet
from calipso_tf.modeling.calipso_model import build_model

TINY = ["model.image_size=[64,64]", "model.backbone_depth=18", "model.backbone_width=0.25",
        "model.head_blocks=1", "model.head_channels=16", "model.embedding_dim=2", "model.num_verbs=2"]


def _tiny(extra=()):
    return build_model(load_config(None, TINY + list(extra)))


def test_retinanet_keras_file_initialises_resnet_and_fpn(tmp_path):
    retinanet = keras_cv.models.RetinaNet(backbone=build_resnet(18, 0.25), num_classes=3, bounding_box_format="xyxy")
    retinanet(tf.zeros((1, 64, 64, 3)))
    path = str(tmp_path / "retinanet.keras")
    retinanet.save(path)
    model = _tiny([f"model.backbone_weights={path}"])
    for source, target in ((retinanet.backbone, model.backbone.resnet), (retinanet.feature_pyramid, model.backbone.fpn)):
        assert len(source.weights) == len(target.weights) > 0
        for a, b in zip(source.weights, target.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A random init differs: the copy really happened.
    assert not np.allclose(_tiny().backbone.fpn.weights[0].numpy(), retinanet.feature_pyramid.weights[0].numpy())


def test_resnet_weights_h5_loads_into_backbone(tmp_path):
    resnet = build_resnet(18, 0.25)
    path = str(tmp_path / "resnet.weights.h5")
    resnet.save_weights(path)
    model = _tiny([f"model.backbone_weights={path}"])
    for a, b in zip(resnet.weights, model.backbone.resnet.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_mismatched_depth_is_a_clear_error(tmp_path):
    retinanet = keras_cv.models.RetinaNet(backbone=build_resnet(34, 0.25), num_classes=3, bounding_box_format="xyxy")
    retinanet(tf.zeros((1, 64, 64, 3)))
    path = str(tmp_path / "r34.keras")
    retinanet.save(path)
    with pytest.raises(ValueError, match="does not match model.backbone_depth"):
        _tiny([f"model.backbone_weights={path}"])


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.keras"):
        _tiny([f"model.backbone_weights={tmp_path / 'nope.keras'}"])
