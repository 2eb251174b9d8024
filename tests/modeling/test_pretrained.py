"""Backbone/FPN initialisation from pretrained weights: KerasCV presets (local folders, and the
download failure without network), .keras / .weights.h5 files, keras.applications .h5 files."""

import h5py
import kagglehub
import keras
import keras_cv
import numpy as np
import pytest
import tensorflow as tf
from keras_cv.src.utils.preset_utils import save_to_preset

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
    with pytest.raises(FileNotFoundError, match="nope.keras: no such weights file or preset folder"):
        _tiny([f"model.backbone_weights={tmp_path / 'nope.keras'}"])


IMAGES = tf.random.stateless_uniform((2, 64, 64, 3), seed=(1, 2), maxval=255.0)


def _randomise_batch_norm(model: keras.Model, seed: int) -> None:
    """Non-trivial BatchNorm statistics and affine parameters (a fresh model has mean 0, var 1,
    gamma 1, beta 0, which would hide a mix-up of them)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape))
            layer.beta.assign(rng.normal(0.0, 0.1, shape))
            layer.moving_mean.assign(rng.normal(0.0, 0.1, shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape))


def _levels(resnet: keras.Model) -> keras.Model:
    """A KerasCV ResNetBackbone's C3, C4, C5 outputs as a model."""
    return keras.Model(resnet.inputs, [resnet.get_layer(resnet.pyramid_level_inputs[f"P{l}"]).output
                                       for l in (3, 4, 5)])


def _ours(model) -> list[np.ndarray]:
    outputs = model.backbone.feature_extractor(IMAGES)
    return [outputs[f"P{l}"].numpy() for l in (3, 4, 5)]


def test_local_resnet_preset_folder_gives_the_sources_c3_to_c5(tmp_path):
    source = build_resnet(18, 0.25)
    _randomise_batch_norm(source, seed=0)
    save_to_preset(source, str(tmp_path / "preset"))
    model = _tiny([f"model.backbone_weights={tmp_path / 'preset'}"])
    for ours, theirs in zip(_ours(model), _levels(source)(IMAGES)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6)


def test_local_retinanet_preset_folder_gives_the_sources_c3_to_p7(tmp_path):
    retinanet = keras_cv.models.RetinaNet(backbone=build_resnet(18, 0.25), num_classes=3, bounding_box_format="xyxy")
    _randomise_batch_norm(retinanet.backbone, seed=1)
    save_to_preset(retinanet, str(tmp_path / "preset"))
    model = _tiny([f"model.backbone_weights={tmp_path / 'preset'}"])
    c3_c5 = retinanet.feature_extractor(IMAGES)
    for ours, theirs in zip(_ours(model), [c3_c5[f"P{l}"] for l in (3, 4, 5)]):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6)
    for ours, theirs in zip(model.backbone(IMAGES), retinanet.feature_pyramid(c3_c5)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)


def test_preset_download_failure_says_how_to_pass_a_local_folder(monkeypatch):
    def offline(handle, path=None):
        raise ConnectionError("Failed to resolve 'www.kaggle.com'")

    monkeypatch.setattr(kagglehub, "model_download", offline)
    with pytest.raises(RuntimeError) as failure:
        _tiny(["model.backbone_weights=retinanet_resnet50_pascalvoc", "model.backbone_depth=50"])
    message = str(failure.value)
    assert "\n" not in message
    assert "downloading the KerasCV preset failed (ConnectionError: Failed to resolve 'www.kaggle.com')" in message
    assert "kagglehub.model_download('keras/retinanet/keras/retinanet_resnet50_pascalvoc/2')" in message
    assert "set model.backbone_weights to it" in message


def _write_keras2_weights(model: keras.Model, path: str) -> None:
    """``model``'s weights in the layout of Keras 2 ``save_weights(\"x.h5\")`` (the keras.applications
    downloads): a group per layer, its ``weight_names`` attribute listing "<layer>/<weight>:0" datasets."""
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        file.attrs["backend"], file.attrs["keras_version"] = b"tensorflow", b"2.2.4"
        for layer in model.layers:
            group = file.create_group(layer.name)
            names = [f"{layer.name}/{weight.name}:0" for weight in layer.weights]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name, data=weight.numpy())


def test_keras_applications_h5_gives_keras_applications_c3_to_c5(tmp_path):
    source = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    _randomise_batch_norm(source, seed=2)
    rng = np.random.default_rng(3)
    for layer in source.layers:
        if isinstance(layer, keras.layers.Conv2D):  # biases to fold, small enough to keep activations finite
            layer.bias.assign(rng.normal(0.0, 0.1, layer.bias.shape))
    path = str(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    _write_keras2_weights(source, path)
    model = _tiny([f"model.backbone_weights={path}", "model.backbone_depth=50", "model.backbone_width=1.0",
                   "model.resnet_convention=keras_applications"])
    reference = keras.Model(source.inputs, [source.get_layer(name).output for name in
                                            ("conv3_block4_out", "conv4_block6_out", "conv5_block3_out")])
    expected = reference(keras.applications.resnet.preprocess_input(IMAGES.numpy()))
    for ours, theirs in zip(_ours(model), expected):
        theirs = theirs.numpy()
        assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()


@pytest.mark.parametrize("name,convention,needed", [("r50.h5", "keras_cv", "keras_applications"),
                                                    ("r50.keras", "keras_applications", "keras_cv")])
def test_weights_of_the_other_convention_are_refused(tmp_path, name, convention, needed):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{name}: .* weights need model.resnet_convention={needed}"):
        _tiny([f"model.backbone_weights={path}", f"model.resnet_convention={convention}"])
