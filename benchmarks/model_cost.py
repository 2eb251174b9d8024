"""Parameters, multiply-adds and times of the network by part: dense head against read-only head.

    python -m benchmarks.model_cost --config configs/hico_det.yaml --output r.json

Parts: backbone (ResNet), FPN, the head's trunk (the conv tower) and each branch (verbs,
target, embedding). GMAC per image at the config's input size, batch 1:

- backbone, FPN, trunk: every Conv2D / MatMul of the traced graph (multiply-adds of the
  op's static shapes); BatchNorm, ReLU and additions are not counted;
- dense branches: one 3x3 conv over every position of every level, A anchors each;
- read-only branches at inference: the D x k anchors the decoder reads (D =
  inference.max_detections, k = min(64, N) per box), as rows of the grouped matmul
  including its tile padding (`anchor_reads.tile_layout`, an upper bound); in training the
  loss.max_assigned_anchors slots.

Times (median of --iterations after --warmup, one tf.function each, batch 1, random
image and D random boxes): "forward" is the whole inference, network + `TripletDecoder`;
"train step" is the loss (compute_losses) and its gradients on random boxes and triplets,
for a dense-head model and a read-only-head model holding the same weights.
``max_abs_diff``: read-only against dense outputs at the anchors the decoder reads;
``score_max_abs_diff``: between the two decoded triplet scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os

import numpy as np
import tensorflow as tf

from benchmarks.common import describe_device, load_benchmark_config, median_times_ms
from benchmarks.pair_scaling import backbone_name, pad_detections, random_detections
from calipso_tf.config import Config
from calipso_tf.fileio import write_json_atomic
from calipso_tf.inference.triplet_decoder import MAX_ANCHORS_PER_BOX, TripletDecoder, box_anchors, map_boxes_to_anchors
from calipso_tf.modeling.anchor_reads import tile_layout
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.ops.anchors import generate_anchors
from calipso_tf.ops.target_encoding import encode_targets, verb_target_lookup

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "configs")
PERSONS, OBJECTS = 4, 12  # the random detections (and ground truth of the train step)


def graph_macs(fn, *specs) -> int:
    """Multiply-adds of the Conv2D, MatMul and BatchMatMul ops of ``fn`` traced at ``specs``."""
    graph = tf.function(fn).get_concrete_function(*specs).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            kernel = op.inputs[1].shape
            total += int(np.prod(op.outputs[0].shape)) * kernel[0] * kernel[1] * kernel[2]
        elif op.type in ("MatMul", "BatchMatMulV2"):
            inner = op.inputs[0].shape[-1] if not op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") \
                else op.inputs[0].shape[-2]
            total += int(np.prod(op.outputs[0].shape)) * inner
    return total


def parameter_counts(model) -> dict[str, int]:
    """Parameters by part (the heads counted once when shared)."""
    heads = list({id(h): h for h in model.heads}.values())
    branches = {key: sum(h.branch_convs[key].count_params() for h in heads) for key in heads[0].branch_convs}
    counts = {"backbone": model.backbone.resnet.count_params(), "fpn": model.backbone.fpn.count_params(),
              "trunk": sum(h.count_params() for h in heads) - sum(branches.values()), **branches}
    counts["total"] = model.count_params()
    return counts


def gmac_by_part(model, config: Config, read_slots: int, train_slots: int) -> dict:
    """GMAC per image by part, dense and read-only (module docstring)."""
    size = tuple(config.model.image_size)
    image = tf.TensorSpec((1, *size, 3), tf.float32)
    resnet = graph_macs(lambda x: model.backbone.resnet(x), image)
    backbone_fpn = graph_macs(lambda x: model.backbone(x), image)
    trunk_all = graph_macs(lambda x: model.trunk_features(x), image)
    trunk = model.trunk_features(tf.zeros((1, *size, 3)))
    positions = sum(int(t.shape[1] * t.shape[2]) for t in trunk)
    head = model.heads[0]
    patch = 9 * head.channels
    per_location = head.anchors_per_location
    groups = per_location * len({id(h) for h in model.heads})

    def padded_rows(slots):
        tile, tiles = tile_layout(slots, groups)
        return tile * tiles

    dense, read, train = {}, {}, {}
    for key, conv in head.branch_convs.items():
        dense[key] = positions * patch * conv.filters
        read[key] = padded_rows(read_slots) * patch * conv.filters // per_location
        train[key] = padded_rows(train_slots) * patch * conv.filters // per_location
    g = 1e-9
    common = {"backbone": resnet * g, "fpn": (backbone_fpn - resnet) * g, "trunk": (trunk_all - backbone_fpn) * g}
    return {
        **{k: round(v, 3) for k, v in common.items()},
        "branches_dense": {k: round(v * g, 3) for k, v in dense.items()},
        "branches_read_only_inference": {k: round(v * g, 3) for k, v in read.items()},
        "branches_read_only_training": {k: round(v * g, 3) for k, v in train.items()},
        "dense_gmac": round(trunk_all * g + sum(dense.values()) * g, 2),
        "read_only_gmac": round(trunk_all * g + sum(read.values()) * g, 2),
        "read_only_training_gmac": round(trunk_all * g + sum(train.values()) * g, 2),
    }


def training_targets(config: Config, detections: dict, anchors: np.ndarray) -> dict:
    """Ground truth for the train step: the random detections as boxes, every person doing
    verb (p mod V) to object p and verb (p + 1 mod V) with no target."""
    num_verbs = config.model.num_verbs
    triplets = [(p, PERSONS + p, p % num_verbs) for p in range(PERSONS)]
    triplets += [(p, -1, (p + 1) % num_verbs) for p in range(PERSONS)]
    categories = detections["category_ids"][0]
    lookup = verb_target_lookup([sorted({int(c) for c in categories[PERSONS:]})] * num_verbs)
    targets = encode_targets(tf.constant(anchors), tf.constant(detections["boxes"][0]),
                             tf.ones([len(categories)], tf.bool), tf.constant(categories),
                             tf.constant(triplets, tf.int32), num_verbs, lookup,
                             match_iou=config.loss.match_iou, force_match_best_anchor=True)
    return {k: v[None] for k, v in targets.items()}


def sample_detections(config: Config, rng: np.random.Generator) -> tuple[dict, dict]:
    """PERSONS + OBJECTS random detections of one image (`pair_scaling.random_detections`),
    as they are and as tensors padded to inference.max_detections."""
    exact = random_detections(PERSONS, OBJECTS, tuple(config.model.image_size), rng)
    padded = pad_detections(exact, config.inference.max_detections)
    return exact, {k: tf.constant(v) for k, v in padded.items()}


def inference_fn(model, decoder: TripletDecoder, anchors: tf.Tensor, read_only: bool, jit_compile: bool):
    """tf.function (images, padded detections dict) -> triplets: network + decoder."""
    return tf.function(lambda x, d: decoder.decode_model(
        model, x, anchors, d["boxes"], d["category_ids"], d["scores"], d["num_detections"], read_only=read_only),
        jit_compile=jit_compile)


def measure(config: Config, iterations: int, warmup: int, jit_compile: bool, seed: int) -> dict:
    """Everything in the module docstring for one config."""
    size = tuple(config.model.image_size)
    dense_config = dataclasses.replace(config, model=dataclasses.replace(config.model, read_only_head=False))
    read_config = dataclasses.replace(config, model=dataclasses.replace(config.model, read_only_head=True))
    dense_model, read_model = build_model(dense_config), build_model(read_config)
    read_model.set_weights(dense_model.get_weights())
    inference = config.inference
    decoder = TripletDecoder(inference.score_threshold, inference.top_k, mapping_iou=inference.mapping_iou)
    anchors = generate_anchors(size, config.model.anchors)
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(0, 255, (1, *size, 3)).astype(np.float32))
    exact, padded = sample_detections(config, rng)
    anchor_tensor = tf.constant(anchors)

    def forward_fn(model, read_only):
        return inference_fn(model, decoder, anchor_tensor, read_only, jit_compile)

    targets = training_targets(config, exact, anchors)

    def train_fn(model):
        def step(x, t):
            with tf.GradientTape() as tape:
                loss = model.replica_loss(model.compute_losses(x, t, training=True)["total"])
            return loss, tf.linalg.global_norm(tape.gradient(loss, model.trainable_variables))
        return tf.function(step, jit_compile=jit_compile)

    forward = {"dense": forward_fn(dense_model, False), "read_only": forward_fn(read_model, True)}
    train = {"dense": train_fn(dense_model), "read_only": train_fn(read_model)}
    decoded = {name: fn(images, padded) for name, fn in forward.items()}
    index, _ = box_anchors(map_boxes_to_anchors(padded["boxes"], anchor_tensor, inference.mapping_iou))
    index = tf.reshape(index, [1, -1])
    dense_maps = dense_model(images, training=False)
    reads = read_model.read_anchors(read_model.trunk_features(images), index)
    max_abs_diff = max(float(tf.reduce_max(tf.abs(tf.gather(dense_maps[k], index, batch_dims=1) - reads[k])))
                       for k in reads)
    score_diff = float(tf.reduce_max(tf.abs(decoded["dense"]["score"] - decoded["read_only"]["score"])))
    losses = {name: [float(v) for v in fn(images, targets)] for name, fn in train.items()}

    load_before = os.getloadavg()[0]
    cases = {("forward", n): (lambda f=f: f(images, padded)) for n, f in forward.items()}
    cases.update({("train", n): (lambda f=f: f(images, targets)) for n, f in train.items()})
    times = median_times_ms(cases, warmup, iterations, seed=seed)
    model_cost = gmac_by_part(dense_model, config, int(index.shape[1]), config.loss.max_assigned_anchors)
    return {
        "parameters": parameter_counts(dense_model),
        "gmac_per_image": model_cost,
        "dense_gmac": model_cost["dense_gmac"],
        "read_only_gmac": model_cost["read_only_gmac"],
        "gmac_ratio": round(model_cost["read_only_gmac"] / model_cost["dense_gmac"], 3),
        "dense_forward_ms": round(times["forward", "dense"], 1),
        "read_only_forward_ms": round(times["forward", "read_only"], 1),
        "forward_time_ratio": round(times["forward", "read_only"] / times["forward", "dense"], 3),
        "dense_train_step_ms": round(times["train", "dense"], 1),
        "read_only_train_step_ms": round(times["train", "read_only"], 1),
        "train_step_time_ratio": round(times["train", "read_only"] / times["train", "dense"], 3),
        "max_abs_diff": max_abs_diff,
        "score_max_abs_diff": score_diff,
        "train_loss_and_gradient_norm": losses,
        "read_only_used": {"inference": read_model.read_only_pays(int(index.shape[1])),
                           "training": read_model.read_only_pays(config.loss.max_assigned_anchors)},
        "read_anchors": int(index.shape[1]),
        "max_detections": inference.max_detections,
        "anchors_per_box": min(MAX_ANCHORS_PER_BOX, len(anchors)),
        "train_slots": config.loss.max_assigned_anchors,
        "num_anchors": len(anchors),
        "batch": 1,
        "iterations": iterations,
        "warmup": warmup,
        "jit_compile": jit_compile,
        "device": describe_device(),
        "backbone": backbone_name(config),
        "image_size": list(size),
        "num_verbs": config.model.num_verbs,
        "head": f"{config.model.head_blocks} blocks x {config.model.head_channels} channels, "
                f"BatchNorm {config.model.head_batch_norm}",
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "tensorflow": tf.__version__,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_cost", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", default=os.path.join(CONFIG_DIR, "hico_det.yaml"), help="model config YAML")
    parser.add_argument("--output", required=True, help="results JSON")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="config override (repeatable)")
    parser.add_argument("--iterations", type=int, default=3, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per case first (tracing)")
    parser.add_argument("--jit", action="store_true", help="compile the timed functions with XLA")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = load_benchmark_config(args.config, args.set)
    results = measure(config, args.iterations, args.warmup, args.jit, args.seed)
    results["config"] = os.path.relpath(args.config, os.path.join(CONFIG_DIR, os.pardir))
    results["overrides"] = args.set
    write_json_atomic(args.output, results)
    print(f"{'':10s} {'GMAC':>8s} {'forward ms':>11s} {'train step ms':>14s}")
    for name in ("dense", "read_only"):
        print(f"{name:10s} {results[f'{name}_gmac']:8.1f} {results[f'{name}_forward_ms']:11.1f} "
              f"{results[f'{name}_train_step_ms']:14.1f}")
    print(f"ratios: GMAC {results['gmac_ratio']}, forward {results['forward_time_ratio']}, "
          f"train step {results['train_step_time_ratio']}; max |read-only - dense| {results['max_abs_diff']:.2e}, "
          f"scores {results['score_max_abs_diff']:.2e}")
    return results


if __name__ == "__main__":
    main()
