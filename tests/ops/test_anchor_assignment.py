"""AnchorGrid.assign (candidate windows) against assign_anchors (IoU with every anchor): identical results."""

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import AnchorConfig
from calipso_tf.ops.anchor_assignment import AnchorGrid, assign_anchors
from calipso_tf.ops.anchors import generate_anchors, num_anchors
from calipso_tf.ops.target_encoding import encode_targets

HICO_SIZE = (640, 640)
HICO_MAX_BOXES, HICO_MAX_TRIPLETS, HICO_VERBS = 118, 161, 117


@pytest.fixture(scope="module")
def hico_grid():
    return AnchorGrid(HICO_SIZE)


def random_boxes(rng, count, image_size, clip):
    """Log-uniform sides 2..1.1 x the image, centres up to 20 px outside it; clipped to the image when asked."""
    height, width = image_size
    side = np.exp(rng.uniform(np.log(2.0), np.log(1.1 * max(image_size)), (count, 2)))
    centre = rng.uniform(-20, 20, (count, 2)) + rng.uniform(0, 1, (count, 2)) * [width, height]
    boxes = np.concatenate([centre - side / 2, centre + side / 2], 1)
    if clip:
        boxes = np.clip(boxes, 0, [width, height, width, height])
    return boxes.astype(np.float32)


def both(grid, boxes, valid, **kwargs):
    """(dense definition, grid) assignments of the same case."""
    boxes, valid = tf.constant(boxes), tf.constant(valid)
    return (assign_anchors(grid.anchors, boxes, valid, **kwargs).numpy(),
            grid.assign(boxes, valid, **kwargs).numpy())


def test_grid_holds_the_generated_anchors():
    config = AnchorConfig(min_level=2, max_level=5, aspect_ratios=(1.0, 3.0), size_multiplier=6.0)
    grid = AnchorGrid((64, 96), config)
    np.testing.assert_array_equal(grid.anchors.numpy(), generate_anchors((64, 96), config))
    assert grid.num_anchors == num_anchors((64, 96), config)


@pytest.mark.parametrize("match_iou", [0.5, 0.3, 0.7])
def test_real_size_random_cases_match_the_definition(hico_grid, match_iou):
    """HICO-DET's maxima (118 boxes, 640x640: 76,725 anchors), 1 to 118 of them valid, clipped or not."""
    rng = np.random.default_rng(int(match_iou * 10))
    assigned = 0
    for case in range(8):
        boxes = random_boxes(rng, HICO_MAX_BOXES, HICO_SIZE, clip=case % 2 == 0)
        valid = np.arange(HICO_MAX_BOXES) < [1, 6, 30, 118][case % 4]
        dense, grid = both(hico_grid, boxes, valid, match_iou=match_iou)
        np.testing.assert_array_equal(grid, dense)
        assigned += (dense >= 0).sum()
    assert assigned > 50  # the cases do assign anchors (90 at IoU 0.7, thousands at 0.3)


def test_other_anchor_configs_and_image_shapes():
    rng = np.random.default_rng(3)
    for size, config in [((64, 96), AnchorConfig(min_level=2, max_level=5, aspect_ratios=(1.0, 3.0),
                                                 size_multiplier=6.0)),
                         ((96, 64), AnchorConfig(num_scales=1, aspect_ratios=(0.25, 1.0, 4.0))),
                         ((128, 128), AnchorConfig(min_level=3, max_level=3, num_scales=4, size_multiplier=2.0))]:
        grid = AnchorGrid(size, config)
        for match_iou in (0.2, 0.5):
            boxes = random_boxes(rng, 40, size, clip=False)
            dense, fast = both(grid, boxes, np.arange(40) < 25, match_iou=match_iou)
            np.testing.assert_array_equal(fast, dense)
            assert (dense >= 0).any()


def test_edge_cases(hico_grid):
    anchor = hico_grid.anchors.numpy()[1000]  # a P3 anchor
    boxes = np.array([
        anchor,  # the anchor itself: IoU 1
        anchor,  # its twin: ties go to box 0
        [0, 0, 40, 40],  # at the top-left border
        [600, 610, 640, 640],  # at the bottom-right border
        [-50, 300, 700, 340],  # wider than the image
        [100, 100, 100, 160],  # zero width: IoU 0 with everything
        [5000, 5000, 5100, 5100],  # far outside the image
        [0, 0, 640, 640],  # the whole image
    ], np.float32)
    valid = np.ones(len(boxes), bool)
    dense, grid = both(hico_grid, boxes, valid)
    np.testing.assert_array_equal(grid, dense)
    assert dense[1000] == 0 and 1 not in dense and 5 not in dense and 6 not in dense
    assert {2, 3, 7} <= set(dense.tolist())
    # match_iou 1: nothing passes (IoU > 1 never), not even the anchor itself.
    dense, grid = both(hico_grid, boxes, valid, match_iou=1.0)
    assert (dense == -1).all() and (grid == -1).all()
    # No valid box at all, and valid boxes after padding rows.
    for valid in (np.zeros(len(boxes), bool), np.arange(len(boxes)) % 2 == 1):
        dense, grid = both(hico_grid, boxes, valid)
        np.testing.assert_array_equal(grid, dense)
    assert (dense[1000] == 1) and (grid[1000] == 1)  # box 0 padded: its twin takes the anchor


def test_force_match_best_anchor_matches_the_definition(hico_grid):
    rng = np.random.default_rng(7)
    boxes = random_boxes(rng, 20, HICO_SIZE, clip=True)
    boxes[3] = [10, 10, 12, 30]  # too thin to pass 0.5 with any anchor: forced onto its best one
    dense, grid = both(hico_grid, boxes, np.arange(20) < 12, force_match_best_anchor=True)
    np.testing.assert_array_equal(grid, dense)
    assert 3 in dense


def test_encode_targets_identical_with_grid_at_real_maxima(hico_grid):
    """All targets, bit for bit, with 118 boxes (all valid) and 161 triplets."""
    rng = np.random.default_rng(11)
    boxes = random_boxes(rng, HICO_MAX_BOXES, HICO_SIZE, clip=True)
    categories = rng.integers(0, 80, HICO_MAX_BOXES).astype(np.int32)
    triplets = np.stack([rng.integers(0, 20, HICO_MAX_TRIPLETS), rng.integers(-1, HICO_MAX_BOXES, HICO_MAX_TRIPLETS),
                         rng.integers(0, HICO_VERBS, HICO_MAX_TRIPLETS)], 1).astype(np.int32)
    table = tf.constant((rng.uniform(size=(HICO_VERBS, 80)) < 0.1).astype(np.float32))
    args = (tf.constant(boxes), tf.ones([HICO_MAX_BOXES], tf.bool), tf.constant(categories), tf.constant(triplets),
            HICO_VERBS, table)
    dense = encode_targets(hico_grid.anchors, *args)
    grid = encode_targets(hico_grid, *args)
    assert dense.keys() == grid.keys()
    for key in dense:
        np.testing.assert_array_equal(grid[key].numpy(), dense[key].numpy(), err_msg=key)
    assert (dense["anchor_box"].numpy() >= 0).sum() > 100


def test_grid_assign_in_graph_mode(hico_grid):
    """Inside tf.data (graph mode, unknown number of valid boxes) the result is the same."""
    boxes = random_boxes(np.random.default_rng(5), 30, HICO_SIZE, clip=True)
    valid = np.arange(30) < 9
    dense = assign_anchors(hico_grid.anchors, tf.constant(boxes), tf.constant(valid)).numpy()
    ds = tf.data.Dataset.from_tensors((boxes, valid)).map(lambda b, v: hico_grid.assign(b, v))
    np.testing.assert_array_equal(next(iter(ds)).numpy(), dense)
