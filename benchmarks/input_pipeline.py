"""Input-pipeline throughput on a converted dataset: training input, evaluation input, decoding alone.

    python -m benchmarks.input_pipeline --data-dir DIR --config configs/hico_det.yaml --split train \\
        --batches 0 --output benchmarks/results/input_pipeline.json

Three modes read one split of the dataset, each after --warmup untimed batches:

- train: ``InputPipeline.train_dataset`` with data.train_split = --split (shuffle, decode,
  resize, flip, pad, target encoding, batch);
- eval: ``InputPipeline.eval_dataset`` (decode, resize, pad boxes and image, batch);
- decode_only: ``InputPipeline.image_dataset`` (decode, resize, pad the image, batch): what
  reading the images costs, the most the other two can deliver.

--batches 0 reads the whole split once per mode (train without repeat, so its last partial
batch is dropped). With --rounds R every round runs the three modes in a fresh random order and
the median images/s is kept. Writes the JSON to --output and prints a markdown table;
``train_over_decode_only`` is the fraction of the decoding speed the training input keeps.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import random
import statistics

import tensorflow as tf

from benchmarks.common import cpu_model, describe_device, draw_batches
from calipso_tf.config import load_config
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.fileio import write_json_atomic

MODES = ("train", "eval", "decode_only")


def datasets(pipeline: InputPipeline, split: str, batch_size: int, whole_split: bool) -> dict:
    """Mode -> a function building that mode's batched dataset over split."""
    return {"train": lambda: pipeline.train_dataset(batch_size, repeat=not whole_split),
            "eval": lambda: pipeline.eval_dataset(batch_size, split),
            "decode_only": lambda: pipeline.image_dataset(batch_size, split)}


def measure(pipeline: InputPipeline, split: str, batch_size: int, batches: int, warmup: int, rounds: int,
            seed: int = 0) -> dict:
    """Per mode: images drawn in the last round, images/s of each round (rounds in random mode order)."""
    build = datasets(pipeline, split, batch_size, whole_split=batches == 0)
    images, samples = {}, {mode: [] for mode in MODES}
    rng = random.Random(seed)
    for _ in range(rounds):
        for mode in rng.sample(MODES, len(MODES)):
            with pipeline.naming_damaged_shards(split):
                drawn, timed, seconds = draw_batches(build[mode](), warmup, batches)
            images[mode] = drawn
            samples[mode].append(timed / seconds)
    return {"images": images, "samples": samples}


def markdown(results: dict) -> str:
    """The results as a markdown table."""
    lines = [f"{results['machine']['device']}; TensorFlow {results['tensorflow']}; split {results['split']!r}, "
             f"batch {results['batch_size']}, image size {results['image_size']}, "
             f"{results['batches'] or 'all'} timed batches after {results['warmup']}, "
             f"median of {results['rounds']} round(s); {results['timestamp']}.", "",
             "| mode | images | images/s | / decode-only |", "|---|---|---|---|"]
    decode = results["decode_only_images_per_s"]
    for mode in MODES:
        speed = results[f"{mode}_images_per_s"]
        lines.append(f"| {mode} | {results['images'][mode]} | {speed:.1f} | {speed / decode:.2f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.input_pipeline", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="converted dataset (manifest.json + shards)")
    parser.add_argument("--config", required=True, help="config YAML (image size, padding, batch size, losses)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="config override, repeatable")
    parser.add_argument("--split", default="train", help="split read by every mode")
    parser.add_argument("--batches", type=int, default=0, help="timed batches per mode; 0: the whole split once")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first, per mode and round")
    parser.add_argument("--batch-size", type=int, default=0, help="0: the config's train.batch_size")
    parser.add_argument("--rounds", type=int, default=1, help="passes of the three modes; the median is kept")
    parser.add_argument("--output", required=True, help="results JSON")
    args = parser.parse_args(argv)
    if args.batches < 0 or args.warmup < 0 or args.batch_size < 0 or args.rounds < 1:
        parser.error("--batches, --warmup and --batch-size must be >= 0 and --rounds >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = load_config(args.config, [*args.set, f"data.train_split={args.split}"])
    batch_size = args.batch_size or config.train.batch_size
    pipeline = InputPipeline(config, args.data_dir)
    available = pipeline.manifest.splits[args.split].num_examples if args.split in pipeline.manifest.splits else 0
    if args.batches == 0 and available < (args.warmup + 1) * batch_size:
        raise SystemExit(f"{args.data_dir}: split {args.split!r} holds {available} images, fewer than the "
                         f"{args.warmup} warm-up + 1 timed batches of {batch_size} a whole-split pass needs")
    measured = measure(pipeline, args.split, batch_size, args.batches, args.warmup, args.rounds)
    speeds = {mode: statistics.median(values) for mode, values in measured["samples"].items()}
    results = {
        "data_dir": os.path.abspath(args.data_dir), "config": args.config, "overrides": args.set, "split": args.split,
        "batch_size": batch_size, "image_size": list(config.model.image_size), "batches": args.batches,
        "warmup": args.warmup, "rounds": args.rounds, "images": measured["images"],
        **{f"{mode}_images_per_s": round(speeds[mode], 2) for mode in MODES},
        "train_over_decode_only": round(speeds["train"] / speeds["decode_only"], 3),
        "samples_images_per_s": {mode: [round(v, 2) for v in values] for mode, values in measured["samples"].items()},
        "pad_sizes": dataclasses.asdict(pipeline.pad_sizes(args.split)),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "device": describe_device()},
        "tensorflow": tf.__version__,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_json_atomic(args.output, results)
    print(markdown(results), end="")
    return results


if __name__ == "__main__":
    main()
