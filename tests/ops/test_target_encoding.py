"""encode_targets / assign_anchors / verb_components on hand-built anchors and boxes."""

import numpy as np
import tensorflow as tf

from calipso_tf.ops.target_encoding import assign_anchors, encode_targets, verb_components, verb_target_lookup

PERSON, BALL, CUP, CHAIR, BOOK = 1, 37, 47, 62, 84


def assign(anchors, boxes, valid=None, **kwargs):
    boxes = np.asarray(boxes, np.float32)
    valid = np.ones(len(boxes), bool) if valid is None else np.asarray(valid)
    return assign_anchors(tf.constant(np.asarray(anchors, np.float32)), tf.constant(boxes), tf.constant(valid),
                          **kwargs).numpy().tolist()


def components(triplets, num_boxes, num_verbs):
    comp, inter = verb_components(tf.constant(np.asarray(triplets, np.int32).reshape(-1, 3)), num_boxes, num_verbs)
    return comp.numpy(), inter.numpy()


def test_iou_threshold_is_strict():
    anchors = [[0, 0, 10, 10]]
    assert assign(anchors, [[0, 0, 10, 20]]) == [-1]  # IoU exactly 100 / 200 = 0.5: not assigned
    assert assign(anchors, [[0, 0, 10, 19]]) == [0]  # IoU 100 / 190 = 0.526
    assert assign(anchors, [[0, 0, 10, 19]], match_iou=0.6) == [-1]
    assert assign(anchors, [[20, 20, 30, 30]]) == [-1]  # disjoint


def test_each_anchor_takes_its_best_box():
    anchors = [[0, 0, 10, 10], [100, 100, 110, 110], [50, 50, 60, 60]]
    boxes = [[0, 0, 10, 12],  # IoU 0.833 with anchor 0
             [0, 0, 10, 11],  # IoU 0.909 with anchor 0: wins
             [100, 100, 110, 112],  # anchor 1
             [50, 50, 60, 60.5]]  # IoU 0.952 with anchor 2, but padded
    assert assign(anchors, boxes) == [1, 2, 3]
    assert assign(anchors, boxes, valid=[True, True, True, False]) == [1, 2, -1]
    assert assign(anchors, boxes, valid=[True, False, True, False]) == [0, 2, -1]


def test_force_match_best_anchor():
    anchors = [[0, 0, 10, 10], [0, 0, 20, 20], [200, 200, 210, 210]]
    boxes = [[0, 0, 30, 30],  # best anchor 1 (IoU 400 / 900 = 0.44): below threshold
             [100, 100, 110, 110],  # overlaps nothing: stays without anchors
             [200, 200, 210, 219],  # IoU 100 / 190 with anchor 2: assigned anyway
             [0, 0, 12, 12]]  # padded: never forced
    valid = [True, True, True, False]
    assert assign(anchors, boxes, valid) == [-1, -1, 2]
    assert assign(anchors, boxes, valid, force_match_best_anchor=True) == [-1, 0, 2]


def test_no_valid_box_and_ties():
    anchors = [[0, 0, 10, 10], [50, 50, 60, 60]]
    boxes = [[0, 0, 10, 11], [0, 0, 10, 11], [50, 50, 60, 61]]
    assert assign(anchors, boxes, valid=[False, False, False]) == [-1, -1]
    assert assign(anchors, boxes, valid=[False, False, False], force_match_best_anchor=True) == [-1, -1]
    assert assign(anchors, boxes) == [0, 2]  # equal IoU: the lower box index
    assert assign(anchors, boxes, valid=[False, True, True]) == [1, 2]


def test_assignment_matches_a_dense_numpy_reference_with_padding():
    """IoU with every box, padding zeroed, argmax: the formula the valid-box-only computation must equal."""
    rng = np.random.default_rng(0)
    anchors = np.concatenate([c := rng.uniform(0, 200, (400, 2)), c + rng.uniform(8, 60, (400, 2))], 1)
    boxes = np.concatenate([c := rng.uniform(0, 200, (30, 2)), c + rng.uniform(8, 60, (30, 2))], 1)
    boxes[5] = boxes[3]  # a tie
    valid = np.arange(30) < 12  # padded rows hold real-looking boxes: they must not count
    lo, hi = np.maximum(anchors[:, None, :2], boxes[None, :, :2]), np.minimum(anchors[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    iou = inter / (area(anchors)[:, None] + area(boxes)[None, :] - inter) * valid[None, :]
    expected = np.where(iou.max(1) > 0.3, iou.argmax(1), -1)
    assert (expected >= 0).sum() > 20
    assert assign(anchors, boxes, valid, match_iou=0.3) == expected.tolist()


def test_components_chain_is_one_class():
    # A=0 -v-> B=1, C=2 -v-> B=1: one class {0, 1, 2} for v = 0. Verb 1 links 2 and 3 only.
    triplets = [[0, 1, 0], [2, 1, 0], [2, 3, 1], [-1, -1, -1]]
    comp, inter = components(triplets, 5, 3)
    np.testing.assert_array_equal(comp, [[0, 0, 0, 3, 4], [0, 1, 2, 2, 4], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(inter, [[1, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]])


def test_components_long_chain_needs_full_closure():
    """A path through all 11 boxes in scrambled order: only the full transitive closure joins them."""
    order = [7, 2, 10, 0, 5, 9, 1, 4, 8, 3, 6]
    triplets = [[order[i], order[i + 1], 0] for i in range(len(order) - 1)]
    triplets += [[order[i + 1], -1, 1] for i in range(3)]  # targetless triplets link nothing
    comp, inter = components(triplets, 11, 2)
    np.testing.assert_array_equal(comp[0], np.zeros(11))
    np.testing.assert_array_equal(inter[0], np.ones(11))
    np.testing.assert_array_equal(comp[1], np.arange(11))
    np.testing.assert_array_equal(inter[1], np.zeros(11))


def test_self_triplet_links_nothing():
    comp, inter = components([[1, 1, 0]], 3, 1)
    np.testing.assert_array_equal(comp, [[0, 1, 2]])
    np.testing.assert_array_equal(inter, [[0, 0, 0]])


def encode_scene(triplets, categories, boxes=None, valid=None, anchors=None, table=None, num_verbs=3):
    g = len(categories)
    boxes = np.asarray(boxes if boxes is not None else [[20 * i, 0, 20 * i + 10, 10] for i in range(g)], np.float32)
    anchors = np.asarray(anchors if anchors is not None else boxes, np.float32)
    valid = np.asarray(valid if valid is not None else [c >= 0 for c in categories])
    table = table if table is not None else verb_target_lookup([[BALL, CUP], [BALL, CUP, CHAIR], []])
    out = encode_targets(tf.constant(anchors), tf.constant(boxes), tf.constant(valid),
                         tf.constant(np.asarray(categories, np.int32)), tf.constant(np.asarray(triplets, np.int32)),
                         num_verbs, table)
    return {k: v.numpy() for k, v in out.items()}


HOLD, LOOK, RUN = 0, 1, 2
SCENE_TRIPLETS = [[0, 2, HOLD], [1, 2, HOLD], [0, -1, RUN], [1, 3, LOOK], [1, -1, LOOK],
                  [-1, -1, -1], [-1, -1, -1]]
SCENE_CATS = [PERSON, PERSON, CUP, BALL, BOOK, -1]


def test_labels_active_passive_target():
    out = encode_scene(SCENE_TRIPLETS, SCENE_CATS)
    #                                              hold look run
    np.testing.assert_array_equal(out["box_active"], [[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(out["box_passive"], [[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    # Person 1 looks at the ball and also has a targetless look row: some row has a target -> 1.
    # Person 0 runs without target -> 0.
    np.testing.assert_array_equal(out["box_target"], [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(out["component"], [[0, 0, 0, 3, 4, 5], [0, 1, 2, 1, 4, 5], [0, 1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(out["component_interacting"],
                                  [[1, 1, 1, 0, 0, 0], [0, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    # Anchors equal to the boxes: each box owns its own anchor; the padded box none.
    np.testing.assert_array_equal(out["anchor_box"], [0, 1, 2, 3, 4, -1])


def test_target_sets():
    out = encode_scene(SCENE_TRIPLETS, SCENE_CATS)
    # L_hold = {ball, cup}, L_look = {ball, cup, chair}, L_run = {}. The book's id (84) lies
    # past the table's last column (chair, 62) and must not inherit the chair's membership.
    np.testing.assert_array_equal(out["box_in_target_set"],
                                  [[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    chair = encode_scene([[0, 1, LOOK]], [PERSON, CHAIR])
    np.testing.assert_array_equal(chair["box_in_target_set"], [[0, 0], [0, 1], [0, 0]])


def test_verb_target_lookup():
    table = verb_target_lookup([[2, 5], [], [1]], num_categories=8).numpy()
    assert table.shape == (3, 8)
    np.testing.assert_array_equal(np.argwhere(table), [[0, 2], [0, 5], [2, 1]])
    assert verb_target_lookup([[2, 5]]).shape == (1, 6)


def test_padding_rows_are_ignored():
    """Padding triplets (-1 rows) and padded boxes change nothing, whatever their content."""
    base = encode_scene([[0, 1, HOLD], [0, -1, RUN]], [PERSON, CUP])
    # Same scene padded to 5 boxes (padded boxes sit on real anchors, with real categories) and 6 triplets.
    boxes = [[0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10], [40, 0, 50, 10], [60, 0, 70, 10]]
    padded = encode_scene([[0, 1, HOLD], [0, -1, RUN], [-1, -1, -1], [-1, 2, HOLD], [-1, -1, 0], [-1, 3, 1]],
                          [PERSON, CUP, CUP, BALL, PERSON], boxes=boxes, valid=[True, True, False, False, False])
    assert padded["anchor_box"].tolist() == [0, 1, 0, -1, -1]
    for key in ("box_active", "box_passive", "box_target"):
        np.testing.assert_array_equal(padded[key][:2], base[key], err_msg=key)
        assert not padded[key][2:].any(), key
    np.testing.assert_array_equal(padded["component"], [[0, 0, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(padded["component_interacting"][:, 2:], 0)
    np.testing.assert_array_equal(padded["box_in_target_set"][:, 2:], 0)


def test_graph_mode_matches_eager():
    """encode_targets runs inside tf.data (graph mode) with the same result."""
    triplets = np.asarray(SCENE_TRIPLETS, np.int32)
    cats = np.asarray(SCENE_CATS, np.int32)
    boxes = np.asarray([[20 * i, 0, 20 * i + 10, 10] for i in range(6)], np.float32)
    table = verb_target_lookup([[BALL, CUP], [BALL, CUP, CHAIR], []])
    eager = encode_scene(SCENE_TRIPLETS, SCENE_CATS)
    ds = tf.data.Dataset.from_tensors((boxes, cats, triplets)).map(
        lambda b, c, t: encode_targets(tf.constant(boxes), b, c >= 0, c, t, 3, table))
    graph = next(iter(ds))
    for key, value in eager.items():
        np.testing.assert_array_equal(graph[key].numpy(), value, err_msg=key)
