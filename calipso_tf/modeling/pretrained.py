"""Initialising the ResNet-FPN from pretrained weights (``model.backbone_weights``).

Accepted sources:
- a KerasCV preset name: ``resnet50_imagenet`` (an ImageNet ``ResNetBackbone``) or
  ``retinanet_resnet50_pascalvoc`` (a Pascal VOC ``RetinaNet``: ResNet-50 and FPN). KerasCV
  downloads it from Kaggle Models on first use (then cached under ~/.cache/kagglehub).
- a local preset folder (``config.json`` + ``model.weights.h5``, the layout of KerasCV's
  ``save_to_preset`` and of the downloaded presets): for machines without network.
- ``*.keras``: a saved Keras model holding a KerasCV ``ResNetBackbone`` (an ImageNet
  classifier or a ``keras_cv.models.RetinaNet``).
- ``*.weights.h5``: weights saved from a KerasCV ``ResNetBackbone`` of the same depth and
  width (``backbone.save_weights(...)``).
- any other ``*.h5``: a ``keras.applications`` ResNet-50/101 weights file (Keras 2
  ``save_weights`` layout: one group per layer name), with ``model.resnet_convention:
  keras_applications``. Its conv biases are folded into the following BatchNorm.

Every KerasCV source also fills the FPN when it holds a RetinaNet ``FeaturePyramid``, and needs
``model.resnet_convention: keras_cv``.
"""

from __future__ import annotations

import json
import logging
import os
import re

import h5py
import keras
import keras_cv
import numpy as np

log = logging.getLogger("calipso_tf")

# The KerasCV presets with weights that fit the ResNet-FPN: name -> the class that loads it.
PRESETS = {"resnet50_imagenet": keras_cv.models.ResNetBackbone,
           "retinanet_resnet50_pascalvoc": keras_cv.models.RetinaNet}
# keras.applications' classifier layer in files saved with include_top=True (its name varies with the
# Keras version that wrote the file): not part of the backbone, ignored.
KERAS_APPLICATIONS_TOP = ("predictions", "probs", "fc1000")


def _find(model: keras.Model, kind: type):
    """First sublayer of ``kind`` (depth-first, KerasCV task attributes included), or None."""
    if isinstance(model, kind):
        return model
    children = [getattr(model, name, None) for name in ("backbone", "feature_pyramid")]
    for layer in [c for c in children if c is not None] + list(getattr(model, "layers", [])):
        found = _find(layer, kind)
        if found is not None:
            return found
    return None


def _copy(source: keras.layers.Layer, target: keras.layers.Layer, what: str, path: str) -> int:
    src, dst = source.weights, target.weights
    if len(src) != len(dst) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(src, dst)):
        raise ValueError(f"{path}: the {what} there does not match model.backbone_depth/backbone_width "
                         f"({len(src)} vs {len(dst)} weights or different shapes)")
    for a, b in zip(src, dst):
        b.assign(a)
    return len(dst)


def _require_convention(model, convention: str, source: str, kind: str) -> None:
    actual = model.model_config.resnet_convention
    if actual != convention:
        raise ValueError(f"{source}: {kind} weights need model.resnet_convention={convention} "
                         f"(the stem and input preprocessing they were trained with), not {actual}")


def _load_preset(source: str) -> keras.Model:
    """The KerasCV model of a local preset folder, or of a preset name (downloaded)."""
    if os.path.isdir(source):
        config_path = os.path.join(source, "config.json")
        if not os.path.exists(config_path):
            raise FileNotFoundError(f"{config_path}: missing, {source} is not a KerasCV preset folder")
        with open(config_path) as file:
            registered = json.load(file).get("registered_name", "")
        cls = keras.saving.get_registered_object(registered)
        if cls is None or not hasattr(cls, "from_preset"):
            raise ValueError(f"{config_path}: registered_name={registered!r} is not a KerasCV model class")
        return cls.from_preset(source)
    cls = PRESETS[source]
    try:
        return cls.from_preset(source)
    except Exception as error:  # kagglehub / HTTP errors: which one depends on how the network fails
        handle = cls.presets[source]["kaggle_handle"].removeprefix("kaggle://")
        reason = (str(error).strip().splitlines() or [""])[0]
        raise RuntimeError(
            f"model.backbone_weights={source}: downloading the KerasCV preset failed ({type(error).__name__}: "
            f"{reason}); offline, run `python -c \"import kagglehub; print(kagglehub.model_download('{handle}'))\"` "
            "on a machine with network, copy the folder it prints here and set model.backbone_weights to it"
        ) from error


def _load_keras_cv(model, source: str) -> tuple[int, str]:
    """Copies the ResNet (and FPN) of a KerasCV preset / .keras model; -> (weights copied, what)."""
    loaded = _load_preset(source) if source in PRESETS or os.path.isdir(source) \
        else keras.saving.load_model(source, compile=False)
    resnet = _find(loaded, keras_cv.models.ResNetBackbone)
    if resnet is None:
        raise ValueError(f"{source}: holds no KerasCV ResNetBackbone")
    if not resnet.include_rescaling:
        raise ValueError(f"{source}: its ResNetBackbone has include_rescaling=False (inputs not divided by 255); "
                         "model.resnet_convention=keras_cv divides by 255")
    copied = _copy(resnet, model.backbone.resnet, "ResNet", source)
    fpn = _find(loaded, keras_cv.models.retinanet.FeaturePyramid)
    if fpn is None:
        return copied, "ResNet"
    return copied + _copy(fpn, model.backbone.fpn, "FeaturePyramid", source), "ResNet+FPN"


def keras_applications_name(layer_name: str) -> str:
    """Our ResNet layer name -> keras.applications' ("v2_stack_0_block1_1_conv" -> "conv2_block1_1_conv")."""
    return re.sub(r"^v2_stack_(\d+)_", lambda m: f"conv{int(m[1]) + 2}_", layer_name)


def _read_layer(group: h5py.Group) -> dict[str, np.ndarray]:
    """A Keras 2 layer group -> {"kernel": ..., "bias": ..., "gamma": ...} (names without scope and ":0")."""
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
    return {name.split("/")[-1].split(":")[0]: np.asarray(group[name]) for name in names}


def _assign(variable, value: np.ndarray, path: str, layer: str, field: str) -> None:
    if tuple(variable.shape) != value.shape:
        raise ValueError(f"{path}: layer {layer} {field} has shape {value.shape}, the model "
                         f"(model.backbone_depth/backbone_width) needs {tuple(variable.shape)}")
    variable.assign(value)


def load_keras_applications_h5(resnet: keras.Model, path: str) -> int:
    """Fills ``resnet`` (built with the keras_applications convention) from a keras.applications
    ResNet ``.h5`` file; -> variables assigned.

    The file's conv layers have biases, ours do not: a bias b followed by BatchNorm is the same
    network as no bias and the BatchNorm's moving mean lowered by b, in inference and in training
    (batch statistics subtract b out), so it is folded there.
    """
    layers = [layer for layer in resnet.layers if layer.weights]
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "model_weights" in file else file
        stored = {name: _read_layer(group) for name, group in root.items() if isinstance(group, h5py.Group)}
    stored = {name: values for name, values in stored.items() if values and name not in KERAS_APPLICATIONS_TOP}
    if "conv1_conv" not in stored:
        raise ValueError(f"{path}: not a keras.applications ResNet weights file (no conv1_conv layer)")
    wanted = {keras_applications_name(layer.name) for layer in layers}
    missing, unused = sorted(wanted - stored.keys()), sorted(stored.keys() - wanted)
    if missing or unused:
        raise ValueError(f"{path}: its ResNet does not match model.backbone_depth: {len(missing)} layers missing "
                         f"there {missing[:2]}, {len(unused)} there unused {unused[:2]}")
    assigned = 0
    for layer in layers:
        name = keras_applications_name(layer.name)
        values = stored[name]
        if isinstance(layer, keras.layers.BatchNormalization):
            bias = stored[name.removesuffix("_bn") + "_conv"].get("bias", 0.0)
            values = {**values, "moving_mean": values["moving_mean"] - bias}
            fields = ("gamma", "beta", "moving_mean", "moving_variance")
        else:
            fields = ("kernel",)
        for field in fields:
            if field not in values:
                raise ValueError(f"{path}: layer {name} has no {field} (has {sorted(values)})")
            _assign(getattr(layer, field), values[field], path, name, field)
        assigned += len(fields)
    return assigned


def load_backbone_weights(model, source: str) -> None:
    """Copies pretrained backbone (and FPN, when the source has one) weights from ``source``
    (see the module docstring) into ``model`` and logs what was initialised."""
    if source not in PRESETS and not os.path.exists(source):
        raise FileNotFoundError(f"{source}: no such weights file or preset folder, and not a KerasCV preset "
                                f"name ({', '.join(PRESETS)}) (model.backbone_weights)")
    if source.endswith(".h5") and not source.endswith(".weights.h5"):
        _require_convention(model, "keras_applications", source, "keras.applications")
        copied, what = load_keras_applications_h5(model.backbone.resnet, source), "ResNet"
    else:
        _require_convention(model, "keras_cv", source, "KerasCV")
        if source.endswith(".weights.h5"):
            model.backbone.resnet.load_weights(source)
            copied, what = len(model.backbone.resnet.weights), "ResNet"
        elif source in PRESETS or os.path.isdir(source) or source.endswith(".keras"):
            copied, what = _load_keras_cv(model, source)
        else:
            raise ValueError(f"{source}: expected a KerasCV preset name or folder, a .keras model, "
                             "a .weights.h5 ResNet weights file or a keras.applications .h5 file")
    log.info("initialised backbone from %s (%d %s weights)", source, copied, what)
