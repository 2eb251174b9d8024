"""Training speed and input-pipeline throughput for a few backbone / input-size choices.

    python -m benchmarks.train_speed --output benchmarks/results/train_speed.json

For each setting x {float32, mixed_float16} x {XLA off, on} (mixed precision and
ResNet-50 @512 only where a GPU is present), in a fresh process:

- tf.data alone: images/s of ``InputPipeline.train_dataset`` (decode, resize, flip,
  pad, target encoding, batching) over synthetic TFRecord shards;
- training: ``model.fit`` steps/s and images/s on one in-memory batch (so the input
  pipeline is out of the loop), after warm-up steps that include tracing / compilation;
- peak memory: the GPU allocator's peak, or the process's max RSS on CPU.

The pipeline is the bottleneck of a setting when it delivers fewer images/s than
training consumes. Writes the JSON to --output and a markdown table next to it (.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import os
import resource
import tempfile
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from benchmarks.common import describe_device, draw_batches, gpu_names, load_benchmark_config, run_isolated
from calipso_tf.fileio import atomic_write, write_json_atomic
from data_prep.synthetic import generator
from calipso_tf.config import Config
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data import records

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "configs")


@dataclasses.dataclass(frozen=True)
class Setting:
    """A named model configuration: a YAML in configs/ plus dotted overrides."""

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    gpu_only: bool = False

    def load(self) -> Config:
        return load_benchmark_config(os.path.join(CONFIG_DIR, self.config), self.overrides)


SETTINGS = (
    Setting("ResNet-18 x0.5 @128", "synthetic.yaml"),
    Setting("ResNet-18 @256", "synthetic.yaml", ("model.backbone_width=1.0", "model.image_size=[256, 256]")),
    # The paper's network (8-block 256-channel head) with the synthetic data's 4 verbs.
    Setting("ResNet-50 @512", "hico_det.yaml", ("model.num_verbs=4", "model.image_size=[512, 512]",
                                                "data.max_boxes=16", "data.max_triplets=32"), gpu_only=True),
)


def write_synthetic_shards(root: str, num_images: int, image_size: tuple[int, int], num_shards: int = 2) -> str:
    """Renders ``num_images`` synthetic training images at image_size (data_prep.synthetic)
    and writes them as TFRecord shards (records schema) + manifest.json under root."""
    os.makedirs(root, exist_ok=True)
    examples = []
    for index in range(num_images):
        entry, image = generator.make_example(0, "train", index, image_size)
        encoded = io.BytesIO()
        Image.fromarray(image).save(encoded, "JPEG", quality=95)
        triplets = [(h["subject_id"], h["object_id"], h["category_id"] - 1) for h in entry["hoi_annotation"]]
        examples.append(records.HoiRecord(
            entry["file_name"], index, entry["height"], entry["width"],
            np.array([a["bbox"] for a in entry["annotations"]], np.float32),
            np.array([a["category_id"] for a in entry["annotations"]], np.int64),
            np.array(triplets, np.int64).reshape(-1, 3), encoded.getvalue()))
    shards = [f"train-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    for i, name in enumerate(shards):
        with tf.io.TFRecordWriter(os.path.join(root, name)) as writer:
            for example in examples[i::num_shards]:
                writer.write(records.serialize(example))
    targets = [set() for _ in generator.VERBS]  # L_v: object categories targeted by verb v
    for example in examples:
        for _, target, verb in example.triplets:
            if target >= 0:
                targets[verb].add(int(example.category_ids[target]))
    manifest_lib.save(manifest_lib.Manifest(
        dataset="synthetic",
        verbs=[manifest_lib.Category(**v) for v in generator.VERBS],
        objects=[manifest_lib.Category(**o) for o in generator.OBJECTS],
        splits={"train": manifest_lib.Split(shards, num_images)},
        verb_target_categories=[sorted(t) for t in targets]), root)
    return root


def peak_memory_mb() -> tuple[float, str]:
    """(MiB, what was measured): the GPU allocator's peak, else this process's max RSS."""
    if gpu_names():
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "GPU peak"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS"


def measure(setting: Setting, mixed_precision: bool, jit_compile: bool, data_dir: str, steps: int,
            warmup: int) -> dict:
    """One setting in this (fresh) process: tf.data images/s, then training steps/s."""
    import keras

    from calipso_tf.training import optimization
    from calipso_tf.data.pipeline import InputPipeline
    from calipso_tf.modeling.calipso_model import build_model

    config = setting.load()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    batch_size = config.train.batch_size
    dataset = InputPipeline(config, data_dir).train_dataset(batch_size)
    _, timed_images, seconds = draw_batches(dataset, warmup, 2 * steps)
    pipeline_ips = timed_images / seconds
    batch = next(iter(dataset))

    model = build_model(config)
    model.compile(optimizer=optimization.build_optimizer(config.train, batch_size, mixed_precision),
                  jit_compile=jit_compile)
    in_memory = tf.data.Dataset.from_tensors(batch).repeat()
    start = time.perf_counter()
    model.fit(in_memory, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(in_memory, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    steps_per_s = steps / (time.perf_counter() - start)
    memory, memory_kind = peak_memory_mb()
    return {"steps_per_s": round(steps_per_s, 3), "images_per_s": round(steps_per_s * batch_size, 2),
            "warmup_s": round(warmup_s, 1), "peak_memory_mb": round(memory), "memory_kind": memory_kind,
            "pipeline_images_per_s": round(pipeline_ips, 1),
            "input_bound": bool(pipeline_ips < steps_per_s * batch_size)}


def markdown(results: dict) -> str:
    """The results as a markdown table and a verdict on the input pipeline."""
    lines = [f"Device: {results['device']}; TensorFlow {results['tensorflow']}; {results['steps']} timed steps "
             f"after {results['warmup']} warm-up steps; {results['timestamp']}.", "",
             "| setting | batch | mixed precision | XLA | steps/s | images/s | warm-up (s) | peak memory (MiB) "
             "| tf.data images/s | input-bound |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        flags = f"| {row['setting']} | {row['batch_size']} | {'yes' if row['mixed_precision'] else 'no'} " \
                f"| {'on' if row['xla'] else 'off'} "
        if row["status"] != "ok":
            lines.append(flags + f"| {row['status']} " + "| " * 5 + "|")
            continue
        lines.append(flags + f"| {row['steps_per_s']:.2f} | {row['images_per_s']:.1f} | {row['warmup_s']:.0f} "
                     f"| {row['peak_memory_mb']} ({row['memory_kind']}) | {row['pipeline_images_per_s']:.0f} "
                     f"| {'yes' if row['input_bound'] else 'no'} |")
    measured = [r for r in results["rows"] if r["status"] == "ok"]
    bound = [r["setting"] for r in measured if r["input_bound"]]
    headroom = min(r["pipeline_images_per_s"] / r["images_per_s"] for r in measured)
    lines += ["", "Input pipeline: " + (f"the bottleneck for {', '.join(sorted(set(bound)))}." if bound else
              f"not the bottleneck; tf.data alone delivers at least {headroom:.1f}x the images/s training "
              "consumes in every measured setting.")]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_speed", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", required=True, help="results JSON; the markdown table goes next to it")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (and tf.data batches) first")
    parser.add_argument("--data-dir", help="an existing converted synthetic dataset (python -m data_prep "
                                           "--dataset synthetic ...); default: generate one in a temp dir")
    parser.add_argument("--num-images", type=int, default=64, help="images generated per input size")
    return parser.parse_args(argv)


def skip_reason(setting: Setting, mixed_precision: bool, on_gpu: bool) -> str:
    """Why a combination is not run on this machine ("" when it is)."""
    if setting.gpu_only and not on_gpu:
        return "GPU only"
    if mixed_precision and not on_gpu:
        return "n/a on CPU"
    return ""


def main(argv=None) -> dict:
    args = parse_args(argv)
    on_gpu = bool(gpu_names())
    rows = []
    with tempfile.TemporaryDirectory(prefix="calipso-train-speed-") as scratch:
        data_dirs = {}

        def data_dir(size: tuple[int, int]) -> str:
            if args.data_dir:
                return args.data_dir
            if size not in data_dirs:
                root = os.path.join(scratch, f"{size[0]}x{size[1]}")
                data_dirs[size] = write_synthetic_shards(root, args.num_images, size)
            return data_dirs[size]

        for setting in SETTINGS:
            config = setting.load()
            size = tuple(config.model.image_size)
            for mixed in (False, True):
                for xla in (False, True):
                    reason = skip_reason(setting, mixed, on_gpu)
                    row = {"setting": setting.name, "image_size": list(size), "batch_size": config.train.batch_size,
                           "mixed_precision": mixed, "xla": xla, "status": reason or "ok"}
                    if not reason:
                        row.update(run_isolated(measure, setting, mixed, xla, data_dir(size), args.steps, args.warmup))
                    print(row, flush=True)
                    rows.append(row)
    results = {"device": describe_device(), "tensorflow": tf.__version__, "steps": args.steps, "warmup": args.warmup,
               "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "rows": rows}
    write_json_atomic(args.output, results)
    atomic_write(os.path.splitext(args.output)[0] + ".md", lambda f: f.write(markdown(results)))
    return results


if __name__ == "__main__":
    main()
