"""RetinaNet anchors: count, flattening order, sizes, aspect ratios and centres."""

import math

import numpy as np
import pytest

from calipso_tf.ops.anchors import anchor_shapes, generate_anchors, level_shape, num_anchors
from calipso_tf.config import AnchorConfig


@pytest.mark.parametrize("size, expected", [
    ((64, 64), 9 * (64 + 16 + 4 + 1 + 1)),
    ((128, 128), 9 * (256 + 64 + 16 + 4 + 1)),
    ((96, 160), 9 * (12 * 20 + 6 * 10 + 3 * 5 + 2 * 3 + 1 * 2)),  # ceil at every level
    ((100, 100), 9 * (13 * 13 + 7 * 7 + 4 * 4 + 2 * 2 + 1)),
])
def test_count(size, expected):
    assert num_anchors(size) == expected
    assert generate_anchors(size).shape == (expected, 4)
    assert generate_anchors(size).dtype == np.float32


def test_count_with_other_anchor_config():
    config = AnchorConfig(num_scales=2, aspect_ratios=(1.0,))
    assert config.anchors_per_location == 2
    assert num_anchors((64, 64), config) == generate_anchors((64, 64), config).shape[0] == 2 * 86


def test_level_shape():
    assert level_shape((96, 160), 3) == (12, 20)
    assert level_shape((96, 160), 7) == (1, 2)
    assert level_shape((100, 100), 5) == (4, 4)


def test_order_level_row_col_anchor():
    """Index (level, row, col, ratio, scale) -> level-major, then row, col, ratio-major anchor."""
    size = (96, 160)
    anchors = generate_anchors(size).astype(np.float64)
    index = 0
    for level in range(3, 8):
        stride = 2 ** level
        rows, cols = math.ceil(size[0] / stride), math.ceil(size[1] / stride)
        for row in range(rows):
            for col in range(cols):
                for ratio in (0.5, 1.0, 2.0):
                    for k in range(3):
                        side = 4 * stride * 2 ** (k / 3)  # sqrt(area)
                        w, h = side / math.sqrt(ratio), side * math.sqrt(ratio)
                        cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
                        want = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                        np.testing.assert_allclose(anchors[index], want, atol=1e-3,
                                                   err_msg=f"level {level} row {row} col {col} ratio {ratio} k {k}")
                        index += 1
    assert index == len(anchors)


def test_sizes_and_ratios():
    for level in range(3, 8):
        wh = anchor_shapes(AnchorConfig(), level)
        assert wh.shape == (9, 2)
        base = 4 * 2 ** level
        areas = wh[:, 0] * wh[:, 1]
        np.testing.assert_allclose(areas.reshape(3, 3), [[(base * 2 ** (k / 3)) ** 2 for k in range(3)]] * 3, rtol=1e-9)
        np.testing.assert_allclose((wh[:, 1] / wh[:, 0]).reshape(3, 3), [[0.5] * 3, [1.0] * 3, [2.0] * 3], rtol=1e-9)
    # P3, ratio 1, scale 0 is the 32 x 32 square; P7, ratio 2, scale 2 is tall.
    np.testing.assert_allclose(anchor_shapes(AnchorConfig(), 3)[3], [32, 32])
    w, h = anchor_shapes(AnchorConfig(), 7)[8]
    assert h > w and h / w == pytest.approx(2.0) and w * h == pytest.approx((512 * 2 ** (2 / 3)) ** 2)


def test_centres_on_the_stride_grid():
    size = (128, 128)
    anchors = generate_anchors(size)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    offset = 0
    for level in range(3, 8):
        stride = 2 ** level
        rows, cols = level_shape(size, level)
        block = centres[offset: offset + rows * cols * 9].reshape(rows, cols, 9, 2)
        np.testing.assert_allclose(block[..., 0], ((np.arange(cols) + 0.5) * stride)[None, :, None] + 0 * block[..., 0],
                                   atol=1e-4)
        np.testing.assert_allclose(block[..., 1], ((np.arange(rows) + 0.5) * stride)[:, None, None] + 0 * block[..., 1],
                                   atol=1e-4)
        offset += rows * cols * 9
    # The first anchor: P3 cell (0, 0), ratio 0.5, scale 0: 45.25 wide, 22.63 high around (4, 4).
    np.testing.assert_allclose(anchors[0], [4 - 16 * math.sqrt(2), 4 - 8 * math.sqrt(2), 4 + 16 * math.sqrt(2),
                                            4 + 8 * math.sqrt(2)], atol=1e-4)
