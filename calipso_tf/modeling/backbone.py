"""ResNet + RetinaNet FPN feature extractor (KerasCV), levels P3..P7 with 256 channels."""

from __future__ import annotations

import keras
import keras_cv

# depth -> (blocks per stack, block type), as in the ResNet paper.
RESNET_ARCHS = {
    18: ((2, 2, 2, 2), "basic_block"),
    34: ((3, 4, 6, 3), "basic_block"),
    50: ((3, 4, 6, 3), "block"),
    101: ((3, 4, 23, 3), "block"),
}
BASE_FILTERS = (64, 128, 256, 512)


def build_resnet(depth: int, width: float = 1.0) -> keras.Model:
    """A randomly initialised KerasCV ResNet (built directly: presets download weights).

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
    return keras_cv.models.ResNetBackbone(
        stackwise_filters=filters,
        stackwise_blocks=list(blocks),
        stackwise_strides=[1, 2, 2, 2],
        block_type=block_type,
        include_rescaling=True,
        input_shape=(None, None, 3),
        name=f"resnet{depth}",
    )


class ResNetFPN(keras.layers.Layer):
    """Image (B, H, W, 3) in [0, 255] -> [P3, P4, P5, P6, P7], each (B, H/2^l, W/2^l, 256)."""

    def __init__(self, depth: int = 50, width: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth
        self.width = width
        self.resnet = build_resnet(depth, width)
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
        return {**super().get_config(), "depth": self.depth, "width": self.width}
