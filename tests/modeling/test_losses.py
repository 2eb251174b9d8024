"""calipso_losses against a hand-written, loop-based numpy reference of docs/method.md eq. 1-9.

The reference below reads raw annotations (boxes, categories, triplets, L_v lists) and
does everything itself: IoU assignment, labels, equivalence classes (union-find),
class means, pull and push. It shares no code with calipso_tf.losses/targets.

Conventions the implementation documents and the reference follows:
- L_verb is the mean BCE over the |A_G| x 2V (or x V) entries of the assigned anchors.
- L_target is the mean BCE over the (anchor, verb) pairs whose box performs the verb.
- E_v counts the classes that own at least one assigned anchor.
- lambda_C applies when the class links >= 2 boxes; gamma_{C,C'} when both classes own
  anchors of a box whose category is in L_v.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.ops.anchors import generate_anchors
from calipso_tf.config import AnchorConfig, LossConfig
from calipso_tf.modeling.losses import calipso_losses
from calipso_tf.ops.target_encoding import encode_targets, verb_target_lookup

from harness import tiny_config

IMAGE = (128, 128)
V, T = 3, 4
HOLD, LOOK, RUN = 0, 1, 2
PERSON, BALL, CUP, CHAIR, BOOK = 1, 37, 47, 62, 84
# L_v: the object categories that are targets of each verb somewhere in "the training set".
L_V = [[BALL, CUP], [BALL, CUP, CHAIR], []]
G_PAD, K_PAD = 8, 8
ANCHORS = generate_anchors(IMAGE)


def anchor_index(level, row, col, a, image=IMAGE, per_location=9):
    """Flat index of anchor ``a`` at (row, col) of ``level``: level-major, row, col, anchor."""
    offset = 0
    for l in range(3, level):
        offset += math.ceil(image[0] / 2 ** l) * math.ceil(image[1] / 2 ** l) * per_location
    cols = math.ceil(image[1] / 2 ** level)
    return offset + (row * cols + col) * per_location + a


def on_anchor(level, row, col, a):
    return ANCHORS[anchor_index(level, row, col, a)].astype(np.float64)


# Image 1: persons P1 (0), P2 (1); cup (2) held by both; ball (3) looked at by P2;
# chair (4) in no triplet; P1 also runs (no target). Boxes coincide with anchors:
# persons with tall P4 anchors (ratio 2, scale 0 -> a = 6), the rest with P3 anchors.
SCENE_1 = dict(
    boxes=[on_anchor(4, 3, 1, 6), on_anchor(4, 3, 6, 6), on_anchor(3, 13, 8, 3), on_anchor(3, 2, 8, 3),
           on_anchor(3, 8, 8, 0)],
    categories=[PERSON, PERSON, CUP, BALL, CHAIR],
    triplets=[(0, 2, HOLD), (1, 2, HOLD), (0, -1, RUN), (1, 3, LOOK)],
)
# Image 2: a person who looks at a book (book not in L_hold), runs, and holds a ball;
# a second, idle person.
SCENE_2 = dict(
    boxes=[on_anchor(4, 4, 4, 6), on_anchor(3, 3, 2, 3), on_anchor(3, 12, 12, 4), on_anchor(4, 1, 6, 3)],
    categories=[PERSON, BOOK, BALL, PERSON],
    triplets=[(0, 1, LOOK), (0, -1, RUN), (0, 2, HOLD)],
)
# Image 3: a valid box far too small for any anchor: no assigned anchors at all.
SCENE_EMPTY = dict(boxes=[np.array([10.0, 10.0, 13.0, 13.0])], categories=[PERSON], triplets=[(0, -1, RUN)])


# ----------------------------------------------------------------------------------------
# Independent numpy reference.
# ----------------------------------------------------------------------------------------

def ref_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_bce(label, logit):
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def ref_assign(anchors, boxes, match_iou):
    """anchor -> box with the highest IoU, if that IoU > match_iou."""
    out = {}
    for n, anchor in enumerate(np.asarray(anchors, np.float64)):
        best, best_iou = -1, 0.0
        for g, box in enumerate(boxes):
            iou = ref_iou(anchor, box)
            if iou > best_iou:
                best, best_iou = g, iou
        if best_iou > match_iou:
            out[n] = best
    return out


def ref_classes(num_boxes, triplets, verb):
    """Union-find over boxes with the edges of the triplets of ``verb`` that have a target."""
    parent = list(range(num_boxes))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for s, o, v in triplets:
        if v == verb and o >= 0 and o != s:
            parent[find(s)] = find(o)
    classes = {}
    for g in range(num_boxes):
        classes.setdefault(find(g), []).append(g)
    return list(classes.values())


def reference_losses(scene, preds, cfg, passive=True, target=True):
    """Per-image loss terms of one image; preds hold numpy maps without batch axis.

    Returns dict verb, target, pull (per verb list), push (per verb list), embedding, total.
    """
    boxes = [np.asarray(b, np.float64) for b in scene["boxes"]]
    cats, triplets = scene["categories"], scene["triplets"]
    nb = len(boxes)
    owner = ref_assign(ANCHORS, boxes, cfg.match_iou)  # anchor -> box

    active = np.zeros((nb, V))
    passive_lab = np.zeros((nb, V))
    has_target = np.zeros((nb, V))
    for s, o, v in triplets:
        active[s, v] = 1
        if o >= 0:
            passive_lab[o, v] = 1
            has_target[s, v] = 1

    # L_verb: BCE over assigned anchors x outputs, averaged.
    verb_terms = []
    for n, g in owner.items():
        labels = list(active[g]) + (list(passive_lab[g]) if passive else [])
        for k, z in enumerate(labels):
            verb_terms.append(ref_bce(z, preds["verb_logits"][n, k]))
    verb = float(np.mean(verb_terms)) if verb_terms else 0.0

    # L_target: BCE where the anchor's box performs v.
    target_terms = []
    if target:
        for n, g in owner.items():
            for v in range(V):
                if active[g, v]:
                    target_terms.append(ref_bce(has_target[g, v], preds["target_logits"][n, v]))
    target_loss = float(np.mean(target_terms)) if target_terms else 0.0

    # L_emb_v.
    pulls, pushes = [], []
    for v in range(V):
        classes = []  # (anchor list, lambda, holds an L_v box)
        for members in ref_classes(nb, triplets, v):
            anchors_c = [n for n, g in owner.items() if g in members]
            if not anchors_c:
                continue
            lam = cfg.lambda_pull if len(members) >= 2 else 1.0
            in_lv = any(cats[g] in L_V[v] and any(owner[n] == g for n in anchors_c) for g in members)
            classes.append((anchors_c, lam, in_lv))
        e_count = len(classes)
        centres = []
        pull = 0.0
        for anchors_c, lam, _ in classes:
            e = np.array([preds["embeddings"][n, v] for n in anchors_c], np.float64)
            centre = e.mean(axis=0)
            centres.append(centre)
            pull += lam / len(anchors_c) * sum(float(np.sum((row - centre) ** 2)) for row in e)
        push = 0.0
        for i in range(e_count):
            for j in range(e_count):
                if i == j:
                    continue
                gamma = cfg.gamma_push if (classes[i][2] and classes[j][2]) else 1.0
                d2 = float(np.sum((centres[i] - centres[j]) ** 2))
                push += gamma * math.exp(-d2 / (2 * cfg.sigma ** 2))
        pulls.append(pull / e_count if e_count else 0.0)
        pushes.append(push / e_count ** 2 if e_count else 0.0)
    embedding = sum(p + q for p, q in zip(pulls, pushes)) / V
    return dict(verb=verb, target=target_loss, pull=pulls, push=pushes, embedding=embedding,
                total=verb + target_loss + embedding, num_assigned=len(owner))


# ----------------------------------------------------------------------------------------
# Helpers that drive the implementation.
# ----------------------------------------------------------------------------------------

def encode(scene, cfg):
    boxes = np.zeros((G_PAD, 4), np.float32)
    nb = len(scene["boxes"])
    boxes[:nb] = np.asarray(scene["boxes"], np.float32)
    cats = np.full((G_PAD,), -1, np.int32)
    cats[:nb] = scene["categories"]
    trip = np.full((K_PAD, 3), -1, np.int32)
    trip[:len(scene["triplets"])] = scene["triplets"]
    return encode_targets(tf.constant(ANCHORS), tf.constant(boxes), tf.range(G_PAD) < nb, tf.constant(cats),
                          tf.constant(trip), V, verb_target_lookup(L_V), cfg.match_iou, cfg.force_match_best_anchor)


def batch_targets(scenes, cfg):
    encoded = [encode(s, cfg) for s in scenes]
    return {k: tf.stack([e[k] for e in encoded]) for k in encoded[0]}


def random_predictions(batch, seed, embedding_scale=1.0):
    rng = np.random.default_rng(seed)
    n = len(ANCHORS)
    return {
        "verb_logits": rng.normal(0, 2, (batch, n, 2 * V)).astype(np.float32),
        "target_logits": rng.normal(0, 2, (batch, n, V)).astype(np.float32),
        "embeddings": (embedding_scale * rng.normal(0, 1, (batch, n, V, T))).astype(np.float32),
    }


def run_losses(preds, targets, cfg, passive=True, target=True):
    maps = dict(preds)
    if not passive:
        maps["verb_logits"] = maps["verb_logits"][..., :V]
    if not target:
        del maps["target_logits"]
    out = calipso_losses({k: tf.constant(v) for k, v in maps.items()}, targets, cfg)
    return {k: v.numpy() for k, v in out.items()}


def slice_preds(preds, b):
    return {k: v[b] for k, v in preds.items()}


def assert_terms(got, b, want, rtol=1e-5, atol=1e-5):
    for name in ("verb", "target", "embedding", "total"):
        np.testing.assert_allclose(got[name][b], want[name], rtol=rtol, atol=atol, err_msg=name)


# ----------------------------------------------------------------------------------------
# Tests.
# ----------------------------------------------------------------------------------------

def test_scene_exercises_every_case():
    """Guards the scenario itself: shared cup class of 3 boxes, gamma 100 and 1, lambda 10 and 1."""
    cfg = LossConfig()
    owner = ref_assign(ANCHORS, [np.asarray(b) for b in SCENE_1["boxes"]], 0.5)
    assert sorted(set(owner.values())) == [0, 1, 2, 3, 4]  # every box has anchors
    assert len(owner) > 5  # some boxes own several anchors, so the pull term is not trivially 0
    hold = sorted(map(sorted, ref_classes(5, SCENE_1["triplets"], HOLD)))
    assert hold == [[0, 1, 2], [3], [4]]
    assert sorted(map(sorted, ref_classes(5, SCENE_1["triplets"], LOOK))) == [[0], [1, 3], [2], [4]]
    assert len(ref_classes(5, SCENE_1["triplets"], RUN)) == 5
    assert ref_assign(ANCHORS, SCENE_EMPTY["boxes"], 0.5) == {}
    ref = reference_losses(SCENE_1, slice_preds(random_predictions(1, 0), 0), cfg)
    assert all(p > 0 for p in ref["pull"]) and all(q > 0 for q in ref["push"])


@pytest.mark.parametrize("seed", [0, 1])
def test_each_term_matches_reference_single_image(seed):
    cfg = LossConfig()
    preds = random_predictions(1, seed)
    got = run_losses(preds, batch_targets([SCENE_1], cfg), cfg)
    want = reference_losses(SCENE_1, slice_preds(preds, 0), cfg)
    assert_terms(got, 0, want)
    assert got["dropped_anchors"][0] == 0
    # The embedding term is not dominated by one part: both pull and push matter.
    assert want["embedding"] > 1.0 and want["verb"] > 0.1 and want["target"] > 0.1


def test_pull_term_alone():
    """A tiny sigma makes every push kernel exp(-d^2 / 2 sigma^2) vanish: L_emb = mean_v pull_v."""
    cfg = LossConfig(sigma=1e-3)
    preds = random_predictions(1, 3)
    got = run_losses(preds, batch_targets([SCENE_1], cfg), cfg)
    want = reference_losses(SCENE_1, slice_preds(preds, 0), cfg)
    assert max(want["push"]) < 1e-12
    np.testing.assert_allclose(got["embedding"][0], sum(want["pull"]) / V, rtol=1e-5)
    # lambda_pull = 10 applies only to interacting classes: scaling it changes the loss
    # by exactly the interacting classes' share.
    cfg1 = LossConfig(sigma=1e-3, lambda_pull=1.0)
    got1 = run_losses(preds, batch_targets([SCENE_1], cfg1), cfg1)
    want1 = reference_losses(SCENE_1, slice_preds(preds, 0), cfg1)
    np.testing.assert_allclose(got1["embedding"][0], sum(want1["pull"]) / V, rtol=1e-5)
    assert got["embedding"][0] > 2.0 * got1["embedding"][0]


def test_push_term_alone():
    """Anchors of one box share one embedding, so every class is tight: pull = 0, L_emb = mean_v push_v."""
    cfg = LossConfig()
    targets = batch_targets([SCENE_1], cfg)
    preds = random_predictions(1, 4)
    owner = ref_assign(ANCHORS, [np.asarray(b) for b in SCENE_1["boxes"]], 0.5)
    # Hold class {P1, P2, cup}: give all three boxes the same vector for verb HOLD too.
    rng = np.random.default_rng(7)
    per_box = rng.normal(0, 1.5, (5, V, T)).astype(np.float32)
    per_box[:3, HOLD] = per_box[0, HOLD]
    per_box[[1, 3], LOOK] = per_box[1, LOOK]
    for n, g in owner.items():
        preds["embeddings"][0, n] = per_box[g]
    want = reference_losses(SCENE_1, slice_preds(preds, 0), cfg)
    assert max(want["pull"]) < 1e-10
    got = run_losses(preds, targets, cfg)
    np.testing.assert_allclose(got["embedding"][0], sum(want["push"]) / V, rtol=1e-5)
    # Hand check of verb RUN (all 5 boxes singletons, L_run empty so every gamma is 1).
    e = per_box[:, RUN].astype(np.float64)
    by_hand = sum(math.exp(-np.sum((e[i] - e[j]) ** 2) / 8.0) for i in range(5) for j in range(5) if i != j) / 25
    np.testing.assert_allclose(want["push"][RUN], by_hand, rtol=1e-9)
    # Hand check of verb HOLD: classes {0,1,2} (holds the cup, in L_hold), {3} (ball, in L_hold),
    # {4} (chair, not in L_hold): gamma 100 for the first pair only.
    c = per_box[[0, 3, 4], HOLD].astype(np.float64)
    k = lambda i, j: math.exp(-np.sum((c[i] - c[j]) ** 2) / 8.0)
    by_hand = 2 * (100 * k(0, 1) + k(0, 2) + k(1, 2)) / 9
    np.testing.assert_allclose(want["push"][HOLD], by_hand, rtol=1e-9)


def test_custom_weights_are_used():
    cfg = LossConfig(lambda_pull=3.0, gamma_push=7.0, sigma=1.5)
    preds = random_predictions(1, 5)
    got = run_losses(preds, batch_targets([SCENE_1], cfg), cfg)
    assert_terms(got, 0, reference_losses(SCENE_1, slice_preds(preds, 0), cfg))
    default = run_losses(preds, batch_targets([SCENE_1], LossConfig()), LossConfig())
    assert abs(default["embedding"][0] - got["embedding"][0]) > 1e-2


def test_batch_of_different_images():
    cfg = LossConfig()
    scenes = [SCENE_1, SCENE_2, SCENE_EMPTY]
    preds = random_predictions(3, 11)
    got = run_losses(preds, batch_targets(scenes, cfg), cfg)
    for b, scene in enumerate(scenes):
        assert_terms(got, b, reference_losses(scene, slice_preds(preds, b), cfg))
    assert abs(got["total"][0] - got["total"][1]) > 1e-3
    # Per-image results do not depend on the other images of the batch.
    alone = run_losses({k: v[1:2] for k, v in preds.items()}, batch_targets([SCENE_2], cfg), cfg)
    np.testing.assert_allclose(alone["total"][0], got["total"][1], rtol=1e-6)


def test_image_without_assigned_anchors_is_zero():
    cfg = LossConfig()
    preds = random_predictions(1, 2)
    preds["verb_logits"][:] = 50.0  # would give a huge loss on any assigned anchor
    got = run_losses(preds, batch_targets([SCENE_EMPTY], cfg), cfg)
    for name in ("verb", "target", "embedding", "total"):
        assert np.isfinite(got[name][0]) and got[name][0] == 0.0, name


def test_gradient_of_empty_image_is_finite_zero():
    cfg = LossConfig()
    maps = {k: tf.Variable(v) for k, v in random_predictions(1, 2).items()}
    targets = batch_targets([SCENE_EMPTY], cfg)
    with tf.GradientTape() as tape:
        total = calipso_losses(maps, targets, cfg)["total"][0]
    for name, g in zip(maps, tape.gradient(total, list(maps.values()))):
        values = tf.convert_to_tensor(g).numpy()
        assert np.all(np.isfinite(values)) and np.all(values == 0), name


def test_passive_branch_disabled():
    cfg = LossConfig()
    preds = random_predictions(2, 12)
    targets = batch_targets([SCENE_1, SCENE_2], cfg)
    got = run_losses(preds, targets, cfg, passive=False)
    full = run_losses(preds, targets, cfg)
    for b, scene in enumerate([SCENE_1, SCENE_2]):
        assert_terms(got, b, reference_losses(scene, slice_preds(preds, b), cfg, passive=False))
    assert np.all(np.abs(got["verb"] - full["verb"]) > 1e-3)
    np.testing.assert_allclose(got["embedding"], full["embedding"], rtol=1e-6)


def test_target_branch_disabled():
    cfg = LossConfig()
    preds = random_predictions(2, 13)
    targets = batch_targets([SCENE_1, SCENE_2], cfg)
    got = run_losses(preds, targets, cfg, target=False)
    for b, scene in enumerate([SCENE_1, SCENE_2]):
        want = reference_losses(scene, slice_preds(preds, b), cfg, target=False)
        assert want["target"] == 0.0
        assert_terms(got, b, want)


def test_overflowing_slots_are_reported():
    cfg = LossConfig(max_assigned_anchors=4)
    got = run_losses(random_predictions(1, 0), batch_targets([SCENE_1], cfg), cfg)
    num_assigned = len(ref_assign(ANCHORS, [np.asarray(b) for b in SCENE_1["boxes"]], 0.5))
    assert got["dropped_anchors"][0] == num_assigned - 4
    assert np.isfinite(got["total"][0])


def test_gradients_reach_every_branch():
    """One loss evaluation on a tiny model: the verb, target and embedding convs, the tower
    and the backbone (ResNet and FPN) all receive non-zero gradients."""
    from calipso_tf.modeling.calipso_model import build_model

    config = tiny_config()
    model = build_model(config)
    size = config.model.image_size
    anchors = generate_anchors(size, AnchorConfig())
    # Boxes on P3/P4 anchors of the 64x64 grid: person holds cup, person looks at ball.
    def at(level, row, col, a):
        return anchors[anchor_index(level, row, col, a, image=size)]
    boxes = np.zeros((4, 4), np.float32)
    boxes[:3] = [at(4, 1, 0, 6), at(3, 2, 5, 3), at(3, 6, 6, 3)]
    trip = np.array([[0, 1, HOLD], [0, 2, LOOK], [0, -1, RUN], [-1, -1, -1]], np.int32)
    cats = np.array([PERSON, CUP, BALL, -1], np.int32)
    targets = encode_targets(tf.constant(anchors), tf.constant(boxes), tf.constant([True, True, True, False]),
                             tf.constant(cats), tf.constant(trip), config.model.num_verbs, verb_target_lookup(L_V))
    assert int(tf.reduce_sum(tf.cast(targets["anchor_box"] >= 0, tf.int32))) >= 3
    targets = {k: tf.stack([v, v]) for k, v in targets.items()}
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)), tf.float32)
    head = model.heads[0]
    groups = {
        "verb_conv": head.verb_conv.trainable_variables,
        "target_conv": head.target_conv.trainable_variables,
        "embedding_conv": head.embedding_conv.trainable_variables,
        "tower": [w for conv, bn in head.tower() for w in conv.trainable_variables + bn.trainable_variables],
        "resnet": model.backbone.resnet.trainable_variables,
        "fpn": model.backbone.fpn.trainable_variables,
    }
    with tf.GradientTape() as tape:
        terms = model.compute_losses(images, targets, training=True)
        loss = model.replica_loss(terms["total"])
    assert float(loss) > 0
    flat = [(name, w) for name, ws in groups.items() for w in ws]
    grads = tape.gradient(loss, [w for _, w in flat])
    norms = {}
    for (name, _), g in zip(flat, grads):
        assert g is not None, name
        norms[name] = norms.get(name, 0.0) + float(tf.reduce_sum(tf.square(g)))
    for name in groups:
        assert len(groups[name]) > 0 and norms[name] > 0 and np.isfinite(norms[name]), (name, norms[name])
