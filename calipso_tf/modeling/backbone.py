"""ResNet + RetinaNet FPN feature extractor (KerasCV), levels P3..P7 with 256 channels.

The ResNet follows one of two conventions (``model.resnet_convention``), chosen to match the
pretrained weights it starts from; both have the same layers and variables past the stem:

- ``keras_cv``: KerasCV's ``ResNetBackbone``: inputs x / 255, 'same'-padded 7x7 stem conv and
  3x3 max-pool.
- ``keras_applications``: the ResNet of ``keras.applications`` (ImageNet ResNet-50/101 ``.h5``
  files): caffe inputs (RGB -> BGR, minus the ImageNet channel means, no scaling), the stem conv
  and max-pool on symmetric zero padding (3 and 1 pixels) with 'valid' windows.
"""

from __future__ import annotations

import keras
import keras_cv
import tensorflow as tf
# The KerasCV ResNet stack (blocks named v2_stack_<i>_block<j>_*): the keras_applications
# convention reuses it behind its own stem, so both conventions share every layer name past the stem.
from keras_cv.src.models.backbones.resnet_v1.resnet_v1_backbone import BN_EPSILON, apply_stack

# depth -> (blocks per stack, block type), as in the ResNet paper.
RESNET_ARCHS = {
    18: ((2, 2, 2, 2), "basic_block"),
    34: ((3, 4, 6, 3), "basic_block"),
    50: ((3, 4, 6, 3), "block"),
    101: ((3, 4, 23, 3), "block"),
}
BASE_FILTERS = (64, 128, 256, 512)
STACK_STRIDES = (1, 2, 2, 2)
# keras.applications' caffe preprocessing: per-channel means of the ImageNet training images, BGR order, 0..255.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class CaffePreprocessing(keras.layers.Layer):
    """RGB (..., 3) in [0, 255] -> BGR minus CAFFE_BGR_MEAN (``keras.applications.resnet.preprocess_input``)."""

    def call(self, images):
        return images[..., ::-1] - tf.constant(CAFFE_BGR_MEAN, images.dtype)


def build_resnet(depth: int, width: float = 1.0, convention: str = "keras_cv") -> keras.Model:
    """A randomly initialised ResNet (built directly: KerasCV presets download weights) of the
    given ``convention`` (see the module docstring).

    ``width`` scales the filters of stacks 2-4 (1.0 = the standard network); tests and
    the CPU synthetic config use narrow networks. Basic-block ResNets keep 64 filters in
    stack 1 because KerasCV gives that stack no projection shortcut after the 64-channel stem.
    """
    if depth not in RESNET_ARCHS:
        raise ValueError(f"model.backbone_depth={depth}: supported depths are {sorted(RESNET_ARCHS)}")
    blocks, block_type = RESNET_ARCHS[depth]
    filters = [max(8, int(round(f * width))) for f in BASE_FILTERS]
    if block_type == "basic_block":
        filters[0] = BASE_FILTERS[0]
    if convention == "keras_applications":
        return _keras_applications_resnet(depth, filters, list(blocks), block_type)
    if convention != "keras_cv":
        raise ValueError(f"model.resnet_convention={convention!r}: expected keras_cv or keras_applications")
    return keras_cv.models.ResNetBackbone(
        stackwise_filters=filters,
        stackwise_blocks=list(blocks),
        stackwise_strides=list(STACK_STRIDES),
        block_type=block_type,
        include_rescaling=True,
        input_shape=(None, None, 3),
        name=f"resnet{depth}",
    )


def _keras_applications_resnet(depth: int, filters: list[int], blocks: list[int], block_type: str) -> keras.Model:
    """The KerasCV ResNet stacks behind keras.applications' caffe preprocessing and padded stem.

    Same attribute ``pyramid_level_inputs`` as a ``ResNetBackbone``: {"P2".."P5": stack output layer name}.
    """
    images = keras.Input((None, None, 3))
    x = CaffePreprocessing(name="caffe_preprocessing")(images)
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    levels = {}
    for index, (stack_filters, stack_blocks, stride) in enumerate(zip(filters, blocks, STACK_STRIDES)):
        name = f"v2_stack_{index}"
        x = apply_stack(x, filters=stack_filters, blocks=stack_blocks, stride=stride,
                        block_type=block_type, first_shortcut=block_type == "block" or index > 0, name=name)
        levels[f"P{index + 2}"] = f"{name}_block{stack_blocks}_out"
    model = keras.Model(images, x, name=f"resnet{depth}")
    model.pyramid_level_inputs = levels
    return model


class ResNetFPN(keras.layers.Layer):
    """Image (B, H, W, 3) in [0, 255] -> [P3, P4, P5, P6, P7], each (B, H/2^l, W/2^l, 256)."""

    def __init__(self, depth: int = 50, width: float = 1.0, convention: str = "keras_cv", **kwargs):
        super().__init__(**kwargs)
        self.depth = depth
        self.width = width
        self.convention = convention
        self.resnet = build_resnet(depth, width, convention)
        levels = self.resnet.pyramid_level_inputs
        self.feature_extractor = keras.Model(
            self.resnet.inputs,
            {f"P{l}": self.resnet.get_layer(levels[f"P{l}"]).output for l in (3, 4, 5)},
            name=f"resnet{depth}_c3_c5",
        )
        self.fpn = keras_cv.models.retinanet.FeaturePyramid(name="fpn")

    def call(self, images, training=False):
        return list(self.fpn(self.feature_extractor(images, training=training), training=training))

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "width": self.width,
                "convention": self.convention}
