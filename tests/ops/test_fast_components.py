"""verb_components against an independent numpy union-find and the former (V, G, G) squaring version."""

import math

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.ops.target_encoding import verb_components

V, G, K = 117, 160, 170  # HICO-DET: verbs, most padded boxes, most padded triplets


def squaring_components(triplets, num_boxes_padded, num_verbs):
    """The replaced implementation (reference only): closure of the (V, G, G) reachability matrix."""
    g = num_boxes_padded
    subj, obj, verb = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    linked = (subj >= 0) & (obj >= 0) & (subj != obj)
    idx = tf.boolean_mask(tf.stack([verb, subj, obj], axis=1), linked)
    adjacency = tf.minimum(tf.scatter_nd(idx, tf.ones(tf.shape(idx)[:1]), [num_verbs, g, g]), 1.0)
    reach = tf.minimum(adjacency + tf.transpose(adjacency, [0, 2, 1]) + tf.eye(g)[None], 1.0)
    for _ in range(max(1, math.ceil(math.log2(max(g, 2))))):
        reach = tf.minimum(tf.matmul(reach, reach), 1.0)
    return (tf.argmax(reach > 0.5, axis=2, output_type=tf.int32),
            tf.cast(tf.reduce_sum(reach, axis=2) > 1.5, tf.float32))


def union_find_components(triplets, g, v):
    parent = np.tile(np.arange(g), (v, 1))

    def root(verb, x):
        while parent[verb, x] != x:
            x = parent[verb, x]
        return x

    for s, o, verb in triplets:
        if s >= 0 and o >= 0 and s != o:
            a, b = root(verb, s), root(verb, o)
            parent[verb, max(a, b)] = min(a, b)  # the root stays the smallest index
    component = np.array([[root(verb, x) for x in range(g)] for verb in range(v)], np.int32)
    sizes = np.array([np.bincount(row, minlength=g) for row in component])
    return component, (np.take_along_axis(sizes, component, 1) >= 2).astype(np.float32)


def random_case(rng, case):
    """(K, 3) triplets over <= 7 verbs: random edges, a scrambled chain of 100 boxes, self-loops,
    targetless rows and padding rows (subject -1), in random order."""
    verbs = rng.choice(V, size=rng.integers(1, 8), replace=False)
    g = int(rng.integers(2, G + 1)) if case % 4 else G
    rows = []
    if case % 3 == 0 and g >= 100:
        chain = rng.permutation(g)[:100]
        rows += [[chain[i], chain[i + 1], verbs[0]] for i in range(99)]
    n = int(rng.integers(0, K - len(rows) + 1))
    subj = rng.integers(0, g, n)
    obj = np.where(rng.random(n) < 0.2, -1, rng.integers(0, g, n))  # some targetless
    obj = np.where(rng.random(n) < 0.1, subj, obj)  # some self-loops
    rows += np.stack([subj, obj, rng.choice(verbs, n)], 1).tolist()
    rows = np.asarray(rows, np.int32).reshape(-1, 3)[rng.permutation(len(rows))]
    padding = np.full((K - len(rows), 3), -1, np.int32)
    padding[:, 1:] = rng.integers(-1, g, (len(padding), 2))  # padding rows link nothing whatever they hold
    return np.concatenate([rows, padding]), g


@pytest.mark.parametrize("block", range(4))
def test_matches_union_find_and_squaring_on_random_cases(block):
    fast = tf.function(verb_components, reduce_retracing=True)
    rng = np.random.default_rng(block)
    for case in range(50):
        triplets, g = random_case(rng, case)
        component, interacting = fast(tf.constant(triplets), g, V)
        assert component.shape == (V, g) and interacting.shape == (V, g)
        want_component, want_interacting = union_find_components(triplets, g, V)
        np.testing.assert_array_equal(component.numpy(), want_component, err_msg=f"case {block}/{case}")
        np.testing.assert_array_equal(interacting.numpy(), want_interacting, err_msg=f"case {block}/{case}")
        if case % 10 == 0:  # the squaring reference is slow at G = 160: every tenth case
            old_component, old_interacting = squaring_components(tf.constant(triplets), g, V)
            np.testing.assert_array_equal(component.numpy(), old_component.numpy())
            np.testing.assert_array_equal(interacting.numpy(), old_interacting.numpy())


def test_chain_of_100_in_scrambled_order_is_one_class():
    order = np.random.default_rng(7).permutation(G)[:100]
    triplets = np.array([[order[i], order[i + 1], 5] for i in range(99)] + [[-1, -1, -1]] * 3, np.int32)
    component, interacting = verb_components(tf.constant(triplets), G, V)
    want = np.tile(np.arange(G), (V, 1))
    want[5, order] = order.min()
    np.testing.assert_array_equal(component.numpy(), want)
    assert interacting.numpy().sum() == 100 and interacting.numpy()[5, order].all()


def test_runs_in_tf_data_with_static_shapes():
    triplets = np.array([[0, 3, 2], [3, 1, 2], [4, 4, 0], [-1, -1, -1]], np.int32)
    dataset = tf.data.Dataset.from_tensors(tf.constant(triplets)).map(lambda t: verb_components(t, 6, 4))
    assert dataset.element_spec[0].shape == (4, 6) and dataset.element_spec[1].shape == (4, 6)
    component, interacting = next(iter(dataset))
    np.testing.assert_array_equal(component.numpy(), [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5],
                                                      [0, 0, 2, 0, 4, 5], [0, 1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(interacting.numpy(), [[0] * 6, [0] * 6, [1, 1, 0, 1, 0, 0], [0] * 6])


def test_no_linked_triplet_gives_identity():
    triplets = np.array([[2, -1, 1], [1, 1, 0], [-1, 3, 2]], np.int32)
    component, interacting = verb_components(tf.constant(triplets), 4, 3)
    np.testing.assert_array_equal(component.numpy(), np.tile(np.arange(4), (3, 1)))
    assert interacting.numpy().sum() == 0
