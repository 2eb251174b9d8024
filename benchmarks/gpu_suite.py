"""Every GPU number BENCHMARKS.md marks pending, in one run that fits a short GPU window.

    python -m benchmarks.gpu_suite --output benchmarks/results/gpu_suite.json
    python -m benchmarks.gpu_suite --output /tmp/gpu_suite_quick.json --quick   # CPU smoke test

Measures, each precision in a fresh process (the Keras mixed-precision policy is global):

- inference ms/image at configs/hico_det.yaml (ResNet-50-FPN, 640x640, 117 verbs), batch 1:
  network + `TripletDecoder` at inference.max_detections padded detections, dense head
  and read-only head, XLA off and on, float32 and mixed_float16 (`model_cost.inference_fn`;
  median of --iterations after --warmup, the four cases of a precision interleaved);
- training images/s and the input pipeline's images/s (`train_speed.measure`: `model.fit`
  on one in-memory batch; tf.data alone over synthetic shards with every core of the
  machine), ResNet-50 @512 batch 10: float32, mixed_float16, mixed_float16 with XLA.

--quick swaps in the small synthetic network (128 px) and fewer iterations, so the script
can be checked on a CPU in a few minutes; mixed precision is then skipped. Writes the JSON
to --output and a markdown table next to it (.md), both atomically.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from benchmarks.common import describe_device, gpu_names, load_benchmark_config, median_times_ms, run_isolated
from benchmarks.train_speed import SETTINGS, Setting, measure as train_measure, write_synthetic_shards
from calipso_tf.fileio import atomic_write, write_json_atomic

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "configs")
FULL = {"inference": "hico_det.yaml", "training": next(s for s in SETTINGS if s.name == "ResNet-50 @512"),
        "iterations": 20, "warmup": 2, "train_steps": 10}
QUICK = {"inference": "synthetic.yaml", "training": SETTINGS[0], "iterations": 3, "warmup": 1, "train_steps": 3}
TRAIN_RUNS = ((False, False), (True, False), (True, True))  # (mixed precision, XLA)


def inference_times(config_name: str, mixed_precision: bool, iterations: int, warmup: int) -> dict:
    """In this (fresh) process: ms/image of dense and read-only inference, XLA off and on."""
    import keras

    from benchmarks.model_cost import inference_fn, sample_detections
    from calipso_tf.inference.triplet_decoder import TripletDecoder, anchor_reads
    from calipso_tf.modeling.calipso_model import build_model
    from calipso_tf.ops.anchors import generate_anchors

    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    config = load_benchmark_config(os.path.join(CONFIG_DIR, config_name))
    model = build_model(config)
    inference = config.inference
    decoder = TripletDecoder(inference.score_threshold, inference.top_k, mapping_iou=inference.mapping_iou)
    anchors = tf.constant(generate_anchors(tuple(config.model.image_size), config.model.anchors))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (1, *config.model.image_size, 3)).astype(np.float32))
    _, detections = sample_detections(config, rng)
    cases, compile_s = {}, {}
    for read_only in (False, True):
        for jit in (False, True):
            fn = inference_fn(model, decoder, anchors, read_only, jit)
            start = time.perf_counter()
            fn(images, detections)["score"].numpy()
            compile_s[read_only, jit] = time.perf_counter() - start
            cases[read_only, jit] = lambda fn=fn: fn(images, detections)
    times = median_times_ms(cases, warmup, iterations)
    return {f"{'read_only' if r else 'dense'}_{'xla' if j else 'no_xla'}": {
        "ms_per_image": round(times[r, j], 2), "first_call_s": round(compile_s[r, j], 1),
        "read_only_used": bool(r and model.read_only_pays(anchor_reads(inference.max_detections, len(anchors))))}
        for r, j in cases}


def markdown(results: dict) -> str:
    """The results as markdown tables."""
    lines = [f"Device: {results['device']}", "", f"Inference, `{results['inference_config']}`, batch 1 "
             f"(ms/image, median of {results['iterations']}):", "",
             "| precision | dense | dense + XLA | read-only | read-only + XLA |", "|---|---|---|---|---|"]
    for precision, cases in results["inference"].items():
        cells = [str(cases[k]["ms_per_image"]) if k in cases else "" for k in
                 ("dense_no_xla", "dense_xla", "read_only_no_xla", "read_only_xla")]
        lines.append(f"| {precision} | " + " | ".join(cells) + " |")
    lines += ["", f"Training, {results['training_setting']}:", "",
              "| mixed precision | XLA | images/s | warm-up (s) | peak memory (MiB) | tf.data images/s |",
              "|---|---|---|---|---|---|"]
    for run in results["training"]:
        lines.append(f"| {'yes' if run['mixed_precision'] else 'no'} | {'on' if run['jit_compile'] else 'off'} | "
                     f"{run['images_per_s']} | {run['warmup_s']} | {run['peak_memory_mb']} | "
                     f"{run['pipeline_images_per_s']} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_suite", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", required=True, help="results JSON; the markdown table goes next to it")
    parser.add_argument("--quick", action="store_true", help="small network and few iterations (CPU smoke test)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    on_gpu = bool(gpu_names())
    precisions = (False, True) if on_gpu else (False,)
    start = time.perf_counter()
    inference = {("mixed_float16" if mixed else "float32"): run_isolated(
        inference_times, plan["inference"], mixed, plan["iterations"], plan["warmup"]) for mixed in precisions}
    setting: Setting = plan["training"]
    config = setting.load()
    training = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_synthetic_shards(os.path.join(tmp, "shards"), 4 * config.train.batch_size,
                                          tuple(config.model.image_size))
        for mixed, jit in TRAIN_RUNS:
            if mixed and not on_gpu:
                continue
            run = run_isolated(train_measure, setting, mixed, jit, data_dir, plan["train_steps"], plan["warmup"])
            training.append({"mixed_precision": mixed, "jit_compile": jit, **run})
    results = {
        "inference": inference, "inference_config": f"configs/{plan['inference']}",
        "iterations": plan["iterations"], "warmup": plan["warmup"],
        "training": training, "training_setting": f"{setting.name}, batch {config.train.batch_size}",
        "train_steps": plan["train_steps"], "quick": args.quick, "wall_s": round(time.perf_counter() - start, 1),
        "device": describe_device(), "tensorflow": tf.__version__,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(args.output, results)
    table = markdown(results)
    atomic_write(os.path.splitext(args.output)[0] + ".md", lambda f: f.write(table))
    print(table)
    return results


if __name__ == "__main__":
    main()
