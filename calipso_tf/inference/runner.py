"""Running a trained model: images + a detector's boxes -> decoded triplets, per batch or over a split.

The data flows one way: padded examples -> model maps -> TripletDecoder (with the
detector's boxes) -> `DecodedImage`s -> per-image prediction dicts (HICO-DET: PPDM
layout, `predict_split`; V-COCO: calipso_tf.inference.vcoco_output) -> the numpy
evaluators in calipso_tf.evaluation (calipso_tf.inference.model_evaluation).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterator

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from calipso_tf.config import Config
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.inference.detectors import DetectionSource, Detections, pad_detections
from calipso_tf.inference.hico_output import to_hico_predictions
from calipso_tf.inference.triplet_decoder import TripletDecoder
from calipso_tf.ops import anchors as anchor_lib

log = logging.getLogger("calipso_tf")


def make_predict_fn(model, config: Config, top_k: int | None = None, valid_pairs: np.ndarray | None = None,
                    candidates: str = "best"):
    """A tf.function: (images, padded detections, scale) -> decoded triplets (original frame).

    top_k: the most triplets kept per image; default inference.top_k. valid_pairs: the
    decoder's (V, C) valid (verb, object) mask (`valid_pairs.valid_pair_mask`), None: no
    mask. candidates: "best" (one target per (person, verb), what pictures and V-COCO use)
    or "all"; HICO-DET evaluation passes inference.candidates.
    With ``model.read_only_head`` the branches are evaluated only at the anchors the
    detections read (the same triplets).
    """
    anchors = tf.constant(anchor_lib.generate_anchors(tuple(config.model.image_size), config.model.anchors))
    inf = config.inference
    decoder = TripletDecoder(threshold=inf.score_threshold, top_k=top_k or inf.top_k, mapping_iou=inf.mapping_iou,
                             candidates=candidates, valid_pairs=valid_pairs)

    @tf.function(reduce_retracing=True)
    def predict(images, boxes, category_ids, scores, num_detections, scale):
        return decoder.decode_model(model, images, anchors, boxes, category_ids, scores, num_detections, scale,
                                    read_only=config.model.read_only_head)

    return predict


def detection_slots(max_detections: int, source: DetectionSource) -> int:
    """D, the detections decoded per image: inference.max_detections when > 0, else the most
    ``source`` gives any image (at least 1), so that nothing is dropped."""
    return max_detections if max_detections > 0 else max(1, source.max_count())


@dataclasses.dataclass
class DroppedDetections:
    """What the fixed cap D = inference.max_detections left out: boxes and the images they came from."""

    cap: int
    boxes: int = 0
    images: int = 0

    def add(self, count: int) -> None:
        """Counts one image of ``count`` detections."""
        if count > self.cap:
            self.boxes += count - self.cap
            self.images += 1

    def report(self, what: str) -> dict:
        """Logs a WARNING when anything was dropped; returns the metrics.json entry."""
        if self.boxes:
            log.warning("%s: %d detections of %d images beyond inference.max_detections=%d were dropped "
                        "(lowest scores first)", what, self.boxes, self.images, self.cap)
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DecodedImage:
    """One image of `decode_split`: the decoder's triplets and the detections they index.

    detections: the boxes the maps were read at (original frame, the decoder's order:
    highest score first, at most D = `detection_slots`); triplets: that image's slice
    of the `TripletDecoder` output as numpy arrays (no batch axis).
    """

    file_name: str
    image_id: int
    detections: Detections
    triplets: dict[str, np.ndarray]


def decode_batch(predict, images, scales, detections: list[Detections],
                 max_detections: int) -> list[tuple[Detections, dict[str, np.ndarray]]]:
    """Decodes one batch: each image's detections (decoder order) and its triplets.

    Args:
      predict: a `make_predict_fn` function.
      images: (B, H, W, 3) float32 model inputs (`fit_to_input`), tensor or array.
      scales: (B,) original frame -> input frame factors.
      detections: each image's `Detections`, original frame.
      max_detections: D (`detection_slots`); an image keeps its highest-scoring ones.

    Returns:
      Per image: its detections as the triplets index them (highest score first, at
      most max_detections) and its slice of the `TripletDecoder` output as numpy arrays
      (no batch axis).
    """
    detections = [det.select(max_detections=max_detections) for det in detections]
    padded = pad_detections(detections, max_detections)
    out = predict(images, padded["boxes"], padded["category_ids"], padded["scores"], padded["num_detections"],
                  np.asarray(scales, np.float32))
    out = {k: v.numpy() for k, v in out.items()}
    return [(det, {k: v[i] for k, v in out.items()}) for i, det in enumerate(detections)]


def decode_split(model, config: Config, source: DetectionSource, split: str | None = None,
                 batch_size: int = 8, data_dir: str | None = None, progress: bool = True,
                 dropped: DroppedDetections | None = None, top_k: int | None = None,
                 valid_pairs: np.ndarray | None = None, candidates: str = "best") -> Iterator[DecodedImage]:
    """Runs the model + decoder over a split's shards, yielding one `DecodedImage` per image in shard order.

    dropped: counts the detections beyond its cap (`detection_slots`: D of every batch; default
    `detection_slots(inference.max_detections, source)`); top_k, valid_pairs, candidates:
    `make_predict_fn`'s.
    """
    slots = dropped.cap if dropped is not None else detection_slots(config.inference.max_detections, source)
    pipeline = InputPipeline(config, data_dir)
    split = split or config.data.eval_split
    predict = make_predict_fn(model, config, top_k, valid_pairs, candidates)
    total = pipeline.manifest.splits[split].num_examples
    with tqdm(total=total, desc=f"evaluate {split}", unit="img", disable=not progress) as bar:
        for batch in pipeline.eval_batches(batch_size, split):
            names = [n.decode() for n in batch["filename"].numpy()]
            scales = batch["scale"].numpy()
            images = batch["image"].numpy()
            detections = [source(name, image, float(s)) for name, image, s in zip(names, images, scales)]
            if dropped is not None:
                for det in detections:
                    dropped.add(len(det))
            decoded = decode_batch(predict, batch["image"], scales, detections, slots)
            for name, image_id, (det, triplets) in zip(names, batch["image_id"].numpy(), decoded):
                yield DecodedImage(name, int(image_id), det, triplets)
            bar.update(len(names))


def predict_split(model, config: Config, source: DetectionSource, split: str | None = None,
                  batch_size: int = 8, data_dir: str | None = None, progress: bool = True,
                  dropped: DroppedDetections | None = None, valid_pairs: np.ndarray | None = None,
                  candidates: str = "best") -> list[dict]:
    """Runs the model over a split's shards; returns one PPDM prediction dict per image.

    dropped, valid_pairs, candidates: as in `decode_split`.
    """
    verb_ids = [v.id for v in manifest_lib.load(data_dir or config.data.data_dir).verbs]
    images = decode_split(model, config, source, split, batch_size, data_dir, progress, dropped,
                          valid_pairs=valid_pairs, candidates=candidates)
    return [to_hico_predictions(image.triplets, image.detections.boxes, image.detections.category_ids,
                                image.file_name, verb_ids, image.detections.scores) for image in images]
