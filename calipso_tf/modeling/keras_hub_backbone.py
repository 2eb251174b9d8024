"""KerasHub's RetinaNet backbone (ResNet + its own FPN, levels P3..P7) as the feature extractor.

``model.backbone: keras_hub_retinanet`` builds it from ``model.backbone_preset``: a KerasHub
preset name (``retinanet_resnet50_fpn_coco``: torchvision's COCO RetinaNet, a ResNet-50 v1.5
with the stride on the 3x3 convolution; downloaded and cached by KerasHub) or a local preset
folder (``config.json``, ``model.weights.h5`` and ``image_converter.json``, as written by
``save_to_preset``). The architecture, the weights and the input normalisation all come from
the preset, so a model config naming the same preset rebuilds the same network.

KerasHub is an optional extra (``pip install calipso_tf[keras_hub]``), imported only here and
only when this backbone is built.
"""

from __future__ import annotations

import os

import keras
from keras import ops

KERAS_HUB_EXTRA = "pip install calipso_tf[keras_hub]"
# The files a local preset folder must hold (KerasHub's preset_utils names).
PRESET_FILES = ("config.json", "model.weights.h5", "image_converter.json")


def import_keras_hub():
    """The keras_hub module, or ImportError with the install line when the extra is missing."""
    try:
        import keras_hub
    except ImportError as e:
        raise ImportError(f"model.backbone=keras_hub_retinanet needs KerasHub ({e}): {KERAS_HUB_EXTRA}") from None
    return keras_hub


def check_preset(preset: str, keras_hub) -> None:
    """Accepts a local folder holding PRESET_FILES, a built-in RetinaNet preset name or a
    ``scheme://`` handle (kaggle://, hf://); anything else is a one-line error naming it."""
    if os.path.isdir(preset):
        missing = [name for name in PRESET_FILES if not os.path.isfile(os.path.join(preset, name))]
        if missing:
            raise FileNotFoundError(f"model.backbone_preset={preset}: the preset folder lacks {', '.join(missing)} "
                                    "(save the RetinaNetBackbone and its image converter with save_to_preset)")
        return
    names = sorted(keras_hub.models.RetinaNetBackbone.presets)
    if preset not in names and "://" not in preset:
        raise FileNotFoundError(f"model.backbone_preset={preset}: no such preset folder, and not a KerasHub "
                                f"RetinaNet preset name ({', '.join(names)}) or a kaggle:// / hf:// handle")


def _per_channel(value, default: float) -> list[float]:
    """An ImageConverter scale/offset (None, a number or one per channel) as 3 floats."""
    if value is None:
        return [default] * 3
    values = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)] * 3
    if len(values) != 3:
        raise ValueError(f"image converter scale/offset {value!r}: expected one number or one per RGB channel")
    return values


class KerasHubRetinaNetFPN(keras.layers.Layer):
    """Image (B, H, W, 3), RGB pixels in [0, 255] -> [P3, P4, P5, P6, P7], each (B, H/2^l, W/2^l, 256).

    The preset's image converter normalisation (``x * scale + offset`` per channel; for the
    COCO preset the ImageNet mean/std on [0, 1] pixels) is applied here, inside the model;
    its resizing is not (the input pipeline resizes).
    """

    def __init__(self, preset: str, **kwargs):
        super().__init__(**kwargs)
        keras_hub = import_keras_hub()
        check_preset(preset, keras_hub)
        self.preset = preset
        self.retinanet = keras_hub.models.Backbone.from_preset(preset)
        if not isinstance(self.retinanet, keras_hub.models.RetinaNetBackbone):
            raise ValueError(f"model.backbone_preset={preset}: holds a {type(self.retinanet).__name__}, "
                             "not a KerasHub RetinaNetBackbone")
        if (self.retinanet.min_level, self.retinanet.max_level) != (3, 7):
            raise ValueError(f"model.backbone_preset={preset}: its FPN gives P{self.retinanet.min_level}.."
                             f"P{self.retinanet.max_level}; the model needs P3..P7")
        # KerasHub's FeaturePyramid keeps its layers in dicts, which tf.train.Checkpoint and SavedModel
        # do not follow: without these named attributes the checkpoints would miss every FPN weight.
        fpn = self.retinanet.feature_pyramid
        for group in ("lateral_conv_layers", "lateral_batch_norm_layers", "output_conv_layers", "output_batch_norms"):
            for layer in getattr(fpn, group).values():
                setattr(self, f"fpn_{layer.name}", layer)
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
        self.scale = _per_channel(converter.scale, 1.0)
        self.offset = _per_channel(converter.offset, 0.0)

    def call(self, images, training=False):
        scale = ops.convert_to_tensor(self.scale, dtype=images.dtype)
        offset = ops.convert_to_tensor(self.offset, dtype=images.dtype)
        levels = self.retinanet(images * scale + offset, training=training)
        return [levels[f"P{level}"] for level in range(3, 8)]

    def get_config(self):
        return {**super().get_config(), "preset": self.preset}
