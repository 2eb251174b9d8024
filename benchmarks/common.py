"""Helpers shared by the benchmarks: machine description, interleaved timing, tf.data timing, atomic files."""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
import platform
import random
import statistics
import time
from typing import Any, Callable, Hashable

import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.fileio import atomic_write

# The benchmarks time the deployed shape, one fixed D for every image, at this value when the
# config sizes D from the data (inference.max_detections 0).
BENCHMARK_DETECTIONS = 64


def load_benchmark_config(path: str | None, overrides: list[str] | tuple[str, ...] = ()) -> config_lib.Config:
    """A config to time: random weights (the speed does not depend on them, and nothing is
    downloaded), D = inference.max_detections or BENCHMARK_DETECTIONS; ``overrides`` apply last."""
    config = config_lib.load_config(path, ["model.backbone_weights=", *overrides])
    if not config.inference.max_detections:
        config.inference.max_detections = BENCHMARK_DETECTIONS
    return config


def cpu_model() -> str:
    """The "model name" line of /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on a CPU-only machine)."""
    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]


def describe_device() -> str:
    """E.g. "AMD EPYC, 2 cores; no GPU" or "... 16 cores; GPU: NVIDIA H100 80GB HBM3"."""
    gpus = gpu_names()
    return f"{cpu_model()}, {os.cpu_count()} cores; " + (f"GPU: {', '.join(gpus)}" if gpus else "no GPU")


def fetch(outputs: Any) -> Any:
    """Copies every output tensor to host, so a timing includes the device work."""
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, outputs)


def median_times_ms(cases: dict[Hashable, Callable[[], Any]], warmup: int, rounds: int,
                    per_round: dict[Hashable, int] | None = None, seed: int = 0) -> dict[Hashable, float]:
    """Median wall time (ms, time.perf_counter) of each zero-argument callable.

    Each case first runs ``warmup`` untimed calls (tracing, allocation). The timed calls
    then go in ``rounds`` rounds holding each case ``per_round[case]`` times (default 1:
    cheap cases can afford more samples), in a fresh random order per round, so neither a
    drift of the machine's load nor the case that ran just before favours one case.
    """
    for run in cases.values():
        for _ in range(warmup):
            fetch(run())
    schedule = [name for name in cases for _ in range((per_round or {}).get(name, 1))]
    samples: dict[Hashable, list[float]] = {name: [] for name in cases}
    rng = random.Random(seed)
    for _ in range(rounds):
        for name in rng.sample(schedule, len(schedule)):
            start = time.perf_counter()
            fetch(cases[name]())
            samples[name].append(1000.0 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}


def draw_batches(dataset: tf.data.Dataset, warmup: int, batches: int) -> tuple[int, int, float]:
    """Draws ``warmup`` untimed batches (fill buffers, trace, autotune), then ``batches`` timed ones, or
    every remaining one when batches is 0. Returns (images drawn in all, images timed, seconds timed);
    a batch's size is the leading dimension of its first tensor."""
    iterator = iter(dataset)
    drawn = timed = 0
    for _ in range(warmup):
        drawn += int(tf.nest.flatten(next(iterator))[0].shape[0])
    start = time.perf_counter()
    for count, batch in enumerate(iterator, 1):
        timed += int(tf.nest.flatten(batch)[0].shape[0])
        if count == batches:
            break
    return drawn + timed, timed, time.perf_counter() - start


def save_figure(figure, path: str) -> None:
    """Renders a matplotlib figure to PNG and writes it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()), "wb")


def run_isolated(fn: Callable, *args) -> Any:
    """``fn(*args)`` in a spawned process: a clean memory peak and global Keras policy per run."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()
