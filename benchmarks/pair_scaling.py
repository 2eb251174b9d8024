"""Inference time against the number of candidate (person, object) pairs: CALIPSO vs a
pairwise baseline on the same backbone (the paper's Figure 4, on this machine).

    python -m benchmarks.pair_scaling --output benchmarks/results/pair_scaling_quick.json --quick
    python -m benchmarks.pair_scaling --output benchmarks/results/pair_scaling_gpu.json   # paper network

For each layout (persons x objects) it times, as the median over ``--repeats`` rounds
after warm-up (each round runs every case in a random order, the cheap CALIPSO cases
``CALIPSO_SAMPLES_PER_ROUND`` times):

- ``calipso_ms``: one tf.function, forward pass + ``TripletDecoder``, detections padded
  to the decoder's fixed D = ``inference.max_detections`` (the deployed setting: one
  trace serves every image);
- ``calipso_exact_d_ms``: the same with D = persons + objects (a trace per D), to show
  what the decoder's D x D x V scoring costs when D varies;
- ``pairwise_ms``: ``PairwiseBaseline`` (its pair enumeration included) in one tf.function.

Writes the JSON to --output and a PNG plot next to it (same stem), both atomically.
"""

from __future__ import annotations

import argparse
import datetime
import os

import numpy as np
import tensorflow as tf

from benchmarks.common import describe_device, load_benchmark_config, median_times_ms, save_figure
from benchmarks.pairwise_baseline import PairwiseBaseline, human_object_pairs
from calipso_tf.ops.anchors import generate_anchors
from calipso_tf.config import Config
from calipso_tf.fileio import write_json_atomic
from calipso_tf.inference.triplet_decoder import TripletDecoder
from calipso_tf.modeling.calipso_model import build_model

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "configs")
QUICK_CONFIG = os.path.join(CONFIG_DIR, "synthetic.yaml")  # ResNet-18 x0.5, 4-block head, 128 px
FULL_CONFIG = os.path.join(CONFIG_DIR, "hico_det.yaml")  # the paper's network, 117 verbs, 640 px
LAYOUTS = ((1, 1), (2, 5), (5, 10), (10, 20), (20, 20))  # 1 .. 400 pairs
PERSON, OBJECT = 1, 37  # COCO person, sports ball
CALIPSO_SAMPLES_PER_ROUND = 3  # its cases are cheap: more samples steady their medians on a busy machine


def parse_layouts(text: str) -> list[tuple[int, int]]:
    """"1x1,2x5" -> [(1, 1), (2, 5)] (persons x objects)."""
    layouts = [tuple(int(v) for v in item.split("x")) for item in text.split(",")]
    if any(len(l) != 2 or min(l) < 1 for l in layouts):
        raise argparse.ArgumentTypeError(f"--layouts {text!r}: expected PERSONSxOBJECTS,... with counts >= 1")
    return layouts


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pair_scaling", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", required=True, help="results JSON; the PNG plot goes next to it")
    parser.add_argument("--quick", action="store_true",
                        help="small network and input (configs/synthetic.yaml: ResNet-18 x0.5, 128 px), 9 repeats")
    parser.add_argument("--config", help="model config YAML (default: synthetic.yaml with --quick, else hico_det.yaml)")
    parser.add_argument("--backbone-depth", type=int, help="override model.backbone_depth")
    parser.add_argument("--image-size", type=int, help="override model.image_size with a square input (px)")
    parser.add_argument("--layouts", type=parse_layouts, default=list(LAYOUTS),
                        help="comma-separated PERSONSxOBJECTS, e.g. 1x1,20x20")
    parser.add_argument("--repeats", type=int, help="timing rounds (default 9 with --quick, else 10)")
    parser.add_argument("--warmup", type=int, help="untimed runs per case first (default 1 with --quick, else 3)")
    parser.add_argument("--chunk", type=int, default=32, help="pairs per forward of the pairwise baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.config = args.config or (QUICK_CONFIG if args.quick else FULL_CONFIG)
    args.repeats = args.repeats or (9 if args.quick else 10)
    args.warmup = (1 if args.quick else 3) if args.warmup is None else args.warmup
    return args


def random_detections(persons: int, objects: int, image_size: tuple[int, int],
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Detections of one image, persons first: "boxes" (1, D, 4) float32 input pixels,
    "category_ids" (1, D) int32, "scores" (1, D) float32, "num_detections" (1,) int32,
    D = persons + objects."""
    count = persons + objects
    extent = np.array(image_size[::-1] * 2, np.float32)  # (W, H, W, H)
    corner = rng.uniform(0.0, 0.7, (count, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.1, 0.3, (count, 2))], axis=-1) * extent
    return {"boxes": boxes[None].astype(np.float32),
            "category_ids": np.array([[PERSON] * persons + [OBJECT] * objects], np.int32),
            "scores": rng.uniform(0.5, 1.0, (1, count)).astype(np.float32),
            "num_detections": np.array([count], np.int32)}


def pad_detections(detections: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Pads the detection axis to ``size`` (boxes and scores 0, category -1)."""
    extra = size - detections["boxes"].shape[1]
    if extra < 0:
        raise ValueError(f"{detections['boxes'].shape[1]} detections exceed inference.max_detections={size}")
    return {"boxes": np.pad(detections["boxes"], [(0, 0), (0, extra), (0, 0)]),
            "category_ids": np.pad(detections["category_ids"], [(0, 0), (0, extra)], constant_values=-1),
            "scores": np.pad(detections["scores"], [(0, 0), (0, extra)]),
            "num_detections": detections["num_detections"]}


def backbone_name(config: Config) -> str:
    width = config.model.backbone_width
    return f"ResNet-{config.model.backbone_depth}{'' if width == 1 else f' x{width:g}'}-FPN"


def measure(config: Config, layouts: list[tuple[int, int]], repeats: int, warmup: int, chunk: int,
            seed: int) -> dict:
    """Times the three cases for every layout; returns the results dict (times in ms)."""
    image_size = tuple(config.model.image_size)
    model = build_model(config)
    inference = config.inference
    decoder = TripletDecoder(inference.score_threshold, inference.top_k, mapping_iou=inference.mapping_iou)
    anchors = tf.constant(generate_anchors(image_size, config.model.anchors))
    baseline = PairwiseBaseline(model.backbone, config.model.num_verbs, image_size, chunk)

    @tf.function
    def calipso(images, boxes, category_ids, scores, num_detections):
        return decoder(model(images, training=False), anchors, boxes, category_ids, scores, num_detections)

    @tf.function
    def pairwise(images, boxes, category_ids, scores, num_detections):
        del scores  # the pairwise head does not use the detector scores
        return baseline(images, *human_object_pairs(boxes[0], category_ids[0], num_detections[0]))

    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(0, 255, (1, *image_size, 3)).astype(np.float32))
    cases = {}
    for index, (persons, objects) in enumerate(layouts):
        exact = random_detections(persons, objects, image_size, rng)
        padded = pad_detections(exact, inference.max_detections)
        cases["calipso", index] = lambda d=padded: calipso(images, **d)
        cases["calipso_exact_d", index] = lambda d=exact: calipso(images, **d)
        cases["pairwise", index] = lambda d=padded: pairwise(images, **d)
    load_before = os.getloadavg()[0]
    per_round = {name: CALIPSO_SAMPLES_PER_ROUND for name in cases if name[0] != "pairwise"}
    times = median_times_ms(cases, warmup, repeats, per_round, seed)
    series = {f"{name}_ms": [round(times[name, i], 2) for i in range(len(layouts))]
              for name in ("calipso", "calipso_exact_d", "pairwise")}
    return {
        "pairs": [p * o for p, o in layouts],
        "persons": [p for p, _ in layouts],
        "objects": [o for _, o in layouts],
        **series,
        "max_detections": inference.max_detections,
        "pairwise_chunk": chunk,
        "device": describe_device(),
        "backbone": backbone_name(config),
        "image_size": list(image_size),
        "num_verbs": config.model.num_verbs,
        "head": f"{config.model.head_blocks} blocks x {config.model.head_channels} channels",
        "repeats": repeats,
        "calipso_samples": repeats * CALIPSO_SAMPLES_PER_ROUND,
        "warmup": warmup,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "tensorflow": tf.__version__,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def plot(results: dict, path: str) -> None:
    """Log-x plot of the three curves with the growth ratios annotated, written to path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs, calipso, pairwise = results["pairs"], results["calipso_ms"], results["pairwise_ms"]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(pairs, calipso, "o-", color="tab:blue", lw=2,
              label=f"CALIPSO, detections padded to D={results['max_detections']}")
    axis.plot(pairs, results["calipso_exact_d_ms"], "o--", color="tab:blue", alpha=0.5,
              label="CALIPSO, D = actual detections")
    axis.plot(pairs, pairwise, "s-", color="tab:red", lw=2,
              label=f"pairwise baseline (iCAN-style, {results['pairwise_chunk']} pairs per forward)")
    axis.set_xscale("log")
    axis.set_ylim(bottom=0)
    axis.set_xlabel("candidate (person, object) pairs per image")
    axis.set_ylabel("inference time per image (ms, median)")
    height, width = results["image_size"]
    axis.set_title(f"{results['backbone']}, {height}x{width} input\n{results['device']}", fontsize=10)
    axis.text(0.02, 0.97,
              f"at {pairs[-1]} pairs: pairwise / CALIPSO = {pairwise[-1] / calipso[-1]:.1f}x\n"
              f"from {pairs[0]} to {pairs[-1]} pairs: CALIPSO {calipso[-1] / calipso[0]:.2f}x, "
              f"pairwise {pairwise[-1] / pairwise[0]:.1f}x",
              transform=axis.transAxes, va="top", fontsize=9,
              bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    axis.legend(loc="center left", fontsize=8)
    axis.grid(True, which="both", alpha=0.3)
    save_figure(figure, path)
    plt.close(figure)


def main(argv=None) -> dict:
    args = parse_args(argv)
    overrides = []
    if args.backbone_depth:
        overrides.append(f"model.backbone_depth={args.backbone_depth}")
    if args.image_size:
        overrides.append(f"model.image_size=[{args.image_size}, {args.image_size}]")
    config = load_benchmark_config(args.config, overrides)
    results = measure(config, args.layouts, args.repeats, args.warmup, args.chunk, args.seed)
    results["config"] = os.path.relpath(args.config, os.path.join(CONFIG_DIR, os.pardir))
    write_json_atomic(args.output, results)
    plot(results, os.path.splitext(args.output)[0] + ".png")
    for n, c, e, p in zip(results["pairs"], results["calipso_ms"], results["calipso_exact_d_ms"],
                          results["pairwise_ms"]):
        print(f"{n:4d} pairs: CALIPSO {c:8.1f} ms (exact D {e:8.1f} ms)   pairwise {p:8.1f} ms")
    return results


if __name__ == "__main__":
    main()
