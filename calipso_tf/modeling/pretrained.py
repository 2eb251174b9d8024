"""Initialising the ResNet-FPN from a user's local weights file (no download).

Accepted files:
- ``*.keras``: a saved Keras model holding a KerasCV ``ResNetBackbone`` (an ImageNet
  classifier or a ``keras_cv.models.RetinaNet``); its backbone weights are copied,
  and when it also holds a RetinaNet ``FeaturePyramid`` those are copied too.
- ``*.weights.h5``: weights saved from a KerasCV ``ResNetBackbone`` of the same
  depth and width (``backbone.save_weights(...)``), loaded into the backbone only.
"""

from __future__ import annotations

import logging
import os

import keras
import keras_cv

log = logging.getLogger("calipso_tf")


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


def load_backbone_weights(model, path: str) -> None:
    """Copies backbone (and FPN, when present) weights from ``path`` into ``model``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such weights file (model.backbone_weights)")
    backbone = model.backbone
    if path.endswith(".weights.h5"):
        backbone.resnet.load_weights(path)
        log.info("loaded ResNet weights from %s", path)
        return
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: expected a .keras model or a .weights.h5 ResNet weights file")
    source = keras.saving.load_model(path, compile=False)
    resnet = _find(source, keras_cv.models.ResNetBackbone)
    if resnet is None:
        raise ValueError(f"{path}: holds no KerasCV ResNetBackbone")
    copied = _copy(resnet, backbone.resnet, "ResNet", path)
    fpn = _find(source, keras_cv.models.retinanet.FeaturePyramid)
    if fpn is not None:
        copied += _copy(fpn, backbone.fpn, "FeaturePyramid", path)
    log.info("initialised %d backbone%s weights from %s", copied, "+FPN" if fpn is not None else "", path)
