"""model.backbone=keras_hub_retinanet: KerasHub's RetinaNet backbone loaded from a local preset folder.

The presets here are randomly initialised KerasHub RetinaNets saved with save_to_preset (no
download): a tiny one for speed and one with the COCO preset's ResNet-50 v1.5 layout.
"""

import dataclasses
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.serving import export
from calipso_tf.training import checkpoints, engine

from harness import tiny_config, tiny_training_config
from train_util import make_dataset

keras_hub = pytest.importorskip("keras_hub")

# torchvision's detection transform (the COCO preset's image converter): ImageNet statistics on [0, 1] pixels.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# The layout of KerasHub's resnet_50_imagenet, the image encoder of retinanet_resnet50_fpn_coco.
RESNET50 = dict(stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3])
TINY_RESNET = dict(stackwise_num_filters=[64, 16, 16, 16], stackwise_num_blocks=[1, 1, 1, 1])


def save_retinanet_preset(folder, resnet: dict, seed: int = 0):
    """A random KerasHub RetinaNetBackbone (bottleneck ResNet, FPN P3..P7 from the FPN's P5, as the
    COCO preset) and the COCO preset's image converter, saved to ``folder``; returns the backbone.
    The BatchNorm statistics are randomised too, so that they count in the comparisons."""
    keras.utils.set_random_seed(seed)
    encoder = keras_hub.models.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[7],
                                              stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
                                              **resnet)
    retinanet = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=7, use_p5=False)
    rng = np.random.default_rng(seed)
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    retinanet.save_to_preset(str(folder))
    keras_hub.layers.RetinaNetImageConverter(
        image_size=(800, 800), crop_to_aspect_ratio=False, pad_to_aspect_ratio=True, scale=list(1 / 255 / IMAGENET_STD),
        offset=list(-IMAGENET_MEAN / IMAGENET_STD)).save_to_preset(str(folder))
    return retinanet


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_retinanet_preset")
    return str(folder), save_retinanet_preset(folder, TINY_RESNET)


def hub_config(preset: str, **overrides):
    return tiny_config(backbone="keras_hub_retinanet", backbone_preset=preset, **overrides)


def images_0_255(size=(64, 64), batch=2, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)), tf.float32)


def assert_same_pyramid(model, retinanet, images):
    """The model's P3..P7 equal KerasHub's own outputs on the same images normalised independently."""
    ours = model.backbone(images, training=False)
    theirs = retinanet((images.numpy() / 255 - IMAGENET_MEAN) / IMAGENET_STD, training=False)
    height, width = images.shape[1:3]
    assert len(ours) == 5
    for level, feature in zip(range(3, 8), ours):
        assert tuple(feature.shape) == (images.shape[0], -(-height // 2 ** level), -(-width // 2 ** level), 256)
        np.testing.assert_allclose(feature.numpy(), theirs[f"P{level}"].numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=f"P{level}")


def test_local_preset_gives_keras_hub_pyramid(tiny_preset):
    folder, retinanet = tiny_preset
    model = build_model(hub_config(folder))
    hub_weights = model.backbone.retinanet.weights
    assert len(hub_weights) == len(retinanet.weights)
    for a, b in zip(retinanet.weights, hub_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert_same_pyramid(model, retinanet, images_0_255())
    out = model(images_0_255(batch=1), training=False)
    assert out["verb_logits"].shape == (1, 9 * (64 + 16 + 4 + 1 + 1), 6)


def test_resnet50_v1_5_layout_of_the_coco_preset(tmp_path):
    retinanet = save_retinanet_preset(tmp_path, RESNET50, seed=1)
    model = build_model(hub_config(str(tmp_path)))
    # torchvision's ResNet-50 without fc: 23,508,032 weights + 53,120 BatchNorm moving statistics; the FPN:
    # 1x1 laterals from 512/1024/2048 channels, three 3x3 outputs and the 3x3 stride-2 P6, P7, all 256-wide + bias.
    fpn = 256 * (512 + 1024 + 2048) + 3 * 256 + 5 * (9 * 256 * 256 + 256)
    assert model.backbone.retinanet.count_params() == 23_508_032 + 53_120 + fpn
    # v1.5: the downsampling stride sits on the 3x3 convolution, not on the first 1x1.
    encoder = model.backbone.retinanet.image_encoder
    assert encoder.get_layer("stack1_block0_1_conv").strides == (1, 1)
    assert encoder.get_layer("stack1_block0_2_conv").strides == (2, 2)
    assert_same_pyramid(model, retinanet, images_0_255(batch=1))


def test_frozen_batch_norm_reaches_the_keras_hub_resnet(tiny_preset):
    model = build_model(hub_config(tiny_preset[0], freeze_batch_norm=True))
    hub_norms = [l for l in model.backbone.retinanet._flatten_layers()
                 if isinstance(l, keras.layers.BatchNormalization)]
    assert len(hub_norms) == 1 + 4 * 4  # stem + (shortcut + three convs) per bottleneck block
    assert not any(l.trainable for l in hub_norms)
    assert not any("gamma" in v.path or "beta" in v.path for v in model.trainable_variables)


def test_one_training_step_then_checkpoint_restores_it(tiny_preset, tmp_path):
    config = tiny_training_config(make_dataset(tmp_path), total_steps=1)
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, backbone="keras_hub_retinanet", backbone_preset=tiny_preset[0]))
    summary = engine.train(config, str(tmp_path / "model"), verbose=0)
    assert summary["trained_steps"] == 1
    assert np.isfinite(summary["final"]["total"])
    restored, restored_config = checkpoints.load_model(str(tmp_path / "model"))
    assert restored_config.model.backbone_preset == tiny_preset[0]
    assert checkpoints.weights_checksum(restored.weights) == summary["weights_sha256"]
    # The step moved the backbone away from the preset's weights.
    assert not all(np.array_equal(a.numpy(), b.numpy())
                   for a, b in zip(tiny_preset[1].weights, restored.backbone.retinanet.weights))


@pytest.mark.slow
def test_savedmodel_export_serves_the_same_maps(tiny_preset, tmp_path):
    config = hub_config(tiny_preset[0])
    model = build_model(config)
    path = export.export_savedmodel(model, config, str(tmp_path / "calipso" / "1"), ["ride", "hold", "look"],
                                    [(1, "person"), (2, "bicycle")])
    images = images_0_255(batch=1).numpy().round().astype(np.uint8)
    served = tf.saved_model.load(path).signatures[export.DENSE_MAPS](
        images=tf.constant(images), image_sizes=tf.constant([[64, 64]], tf.int32))
    expected = model(tf.constant(images, tf.float32), training=False)
    for key in ("verb_logits", "target_logits", "embeddings"):
        np.testing.assert_allclose(served[key].numpy(), expected[key].numpy(), rtol=1e-4, atol=1e-4, err_msg=key)


def test_missing_preset_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"model.backbone_preset={tmp_path / 'nope'}: no such preset folder"):
        build_model(hub_config(str(tmp_path / "nope")))


def test_preset_folder_without_image_converter(tiny_preset, tmp_path):
    keras_hub.models.Backbone.from_preset(tiny_preset[0]).save_to_preset(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks image_converter.json"):
        build_model(hub_config(str(tmp_path)))


@pytest.mark.parametrize("overrides, message", [
    (dict(backbone="keras_hub_retinanet"), "needs model.backbone_preset"),
    (dict(backbone="keras_hub_retinanet", backbone_preset="p", backbone_weights="w.keras"), "is for model.backbone=keras_cv"),
    (dict(backbone_preset="retinanet_resnet50_fpn_coco"), "is for model.backbone=keras_hub_retinanet"),
])
def test_weight_fields_of_the_other_backbone_are_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_model(tiny_config(**overrides))


def test_missing_keras_hub_says_how_to_install(tiny_preset, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # import keras_hub then raises ImportError
    with pytest.raises(ImportError, match=r"pip install calipso_tf\[keras_hub\]"):
        build_model(hub_config(tiny_preset[0]))
